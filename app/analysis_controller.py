"""Schedules the engine's analysis jobs for the window: the current image first, a prefetch of the
next one, and "Analyse all" (chunks + dataset clustering). It computes nothing itself: the jobs are
``engine.curation`` functions, the same ones ``main.py batch`` runs.

What it keeps is what the canvas draws: the compact :class:`~engine.curation.AnalysisOverlays` of the
last visited images (an LRU), never full-resolution analyses.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from engine import curation
from engine.pipeline import AnalysisStore
from engine.project import ProjectPaths

from .bridge import EngineBridge, JobHandle
from .jobs_indicator import JobsIndicator

OVERLAY_LRU = 32
BATCH_CHUNK = 4


def describe_job_error(message: str) -> tuple[str, str]:
    """(title, text) for a failed engine job; out-of-memory gets its own title and what to do."""
    if "out of memory" in message.lower():
        return ("Out of memory", f"{message}\nTry a smaller analysis size (Preferences → max side), a smaller "
                                 "backbone, or the CPU device (MASKCURATOR_DEVICE=cpu).")
    return "Job failed", message


@dataclass
class _Batch:
    total: int
    handles: list[JobHandle] = field(default_factory=list)
    done: int = 0
    analysed: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)


class AnalysisController(QObject):
    analysed = Signal(object)  # AnalysisDone
    imageFailed = Signal(int, str)  # image id, reason (unreadable)
    proposalsChanged = Signal()  # a batch chunk / the clustering wrote proposals
    batchFinished = Signal(object)  # BatchDone summary of "Analyse all"
    status = Signal(str)
    error = Signal(str, str)  # title, text

    def __init__(self, bridge: EngineBridge, indicator: JobsIndicator, parent: QObject | None = None):
        super().__init__(parent)
        self.bridge, self.indicator = bridge, indicator
        self.store = None
        self.cache: AnalysisStore | None = None
        self.holder: curation.AnalyzerHolder | None = None
        self.settings = curation.CurationSettings()
        self.overlays: OrderedDict[int, curation.AnalysisOverlays] = OrderedDict()
        self.current: JobHandle | None = None
        self.batch: _Batch | None = None
        self._backbone_failed: str | None = None
        indicator.cancelRequested.connect(self.cancel_batch)

    # -- project -------------------------------------------------------------------------------

    def open(self, store, paths: ProjectPaths, settings: curation.CurationSettings) -> None:
        self.store = store
        self.cache = AnalysisStore(paths.analysis_cache)
        self.holder = curation.AnalyzerHolder(paths.feature_cache)
        self.settings = settings
        self.overlays.clear()

    def close(self) -> None:
        self.batch = None
        self.store = None
        self.overlays.clear()

    def set_settings(self, settings: curation.CurationSettings) -> bool:
        """New settings: in-memory overlays are dropped (they belong to the old ones); True if changed."""
        changed = settings != self.settings
        self.settings = settings
        if changed:
            self._backbone_failed = None
            self.overlays.clear()
        return changed

    # -- one image -----------------------------------------------------------------------------

    def request(self, image_id: int, path: Path, replace: bool = False, prefetch: bool = False) -> JobHandle | None:
        """Analyse one image (latest request wins per channel); prefetches run at low priority."""
        if self.store is None:
            return None
        if self._backbone_failed == self.settings.backbone:
            if not prefetch:
                self.status.emit(f"Backbone {self.settings.backbone} is not available; change it in Preferences.")
            return None
        fn = partial(curation.analyze_image, holder=self.holder, cache=self.cache, store=self.store,
                     image_id=image_id, path=path, settings=self.settings, replace=replace)
        if prefetch:
            handle = self.bridge.submit(fn, name=f"prefetch {path.name}", channel="prefetch", priority=10)
        else:
            handle = self.bridge.submit(fn, name=f"analyse {path.name}", channel="analyse-current", priority=0)
            self.current = handle
            self.indicator.track(handle)
        handle.result.connect(self._on_result)
        handle.error.connect(self._on_error)
        return handle

    def _on_result(self, res) -> None:
        if isinstance(res, curation.AnalysisFailed):
            self._on_failed(res)
            return
        self.overlays[res.image_id] = res.overlays
        self.overlays.move_to_end(res.image_id)
        while len(self.overlays) > OVERLAY_LRU:
            self.overlays.popitem(last=False)
        self.analysed.emit(res)

    def _on_failed(self, res: curation.AnalysisFailed) -> None:
        if res.kind == "backbone":
            if self._backbone_failed != self.settings.backbone:
                self._backbone_failed = self.settings.backbone
                self.error.emit("Backbone could not be loaded", res.message)
        else:
            self.imageFailed.emit(res.image_id, res.message)

    def _on_error(self, message: str, _tb: str) -> None:
        """An analysis job raised (GPU out of memory on a CPU-only retry, a solver failure, …). The job
        writes proposals only after the analysis succeeded, so the store is untouched; say so."""
        title, text = describe_job_error(message)
        self.error.emit(title, text + "\nNothing was written to the project; the image can still be "
                                      "curated by hand or re-analysed (Ctrl+Shift+R).")

    # -- the whole dataset ---------------------------------------------------------------------

    def analyse_all(self, items: list[tuple[int, Path]]) -> list[JobHandle]:
        """Analyse every readable image in chunks (one engine job each, so a click on another image
        gets in between), then cluster the dataset."""
        if self.store is None:
            return []
        if self.batch is not None:
            self.status.emit("Analyse all is already running.")
            return []
        if not items:
            self.status.emit("No readable images to analyse.")
            return []
        batch = self.batch = _Batch(total=len(items))
        for start in range(0, len(items), BATCH_CHUNK):
            part = items[start:start + BATCH_CHUNK]
            fn = partial(curation.analyze_batch, holder=self.holder, cache=self.cache, store=self.store,
                         items=part, settings=self.settings, batch_size=BATCH_CHUNK)
            handle = self.bridge.submit(fn, name="analyse all", priority=5)
            handle.result.connect(self._on_chunk)
            self._track_batch(handle, lambda f, n=len(part): (batch.done + f * n) / batch.total)
        if self.settings.n_clusters > 0:
            fn = partial(curation.cluster_all, cache=self.cache, store=self.store, items=items,
                         settings=self.settings, n_clusters=self.settings.n_clusters)
            handle = self.bridge.submit(fn, name="cluster dataset", priority=6)
            handle.result.connect(self._finish_batch)
            self._track_batch(handle, lambda f: 1.0)
        return list(batch.handles)

    def _track_batch(self, handle: JobHandle, to_overall) -> None:
        handle.error.connect(self._on_batch_error)
        handle.cancelled.connect(self._on_batch_cancelled)
        self.batch.handles.append(handle)
        self.indicator.track(handle, to_overall)

    def _on_chunk(self, res) -> None:
        b = self.batch
        if b is None:
            return
        if isinstance(res, curation.AnalysisFailed):
            self._on_failed(res)
            self.cancel_batch()
            return
        b.done += res.n_images
        b.analysed += res.n_analysed
        for image_id, reason in res.failures:
            self.imageFailed.emit(image_id, reason)
            b.failures.append((image_id, reason))
        self.status.emit(f"Analyse all: {b.done}/{b.total} images")
        self.proposalsChanged.emit()
        if self.settings.n_clusters <= 0 and b.done >= b.total:
            self._finish_batch(0)

    def _finish_batch(self, k: int) -> None:
        b, self.batch = self.batch, None
        if b is None:
            return
        summary = curation.BatchDone(b.total, b.analysed, tuple(b.failures), k, 0.0)
        text = f"Analysed {b.analysed}/{b.total} images"
        if k:
            text += f", clustered into {k} classes (source dsm.semantic)"
        if b.failures:
            text += f"; {len(b.failures)} unreadable"
        self.status.emit(text)
        self.proposalsChanged.emit()
        self.batchFinished.emit(summary)

    def _on_batch_error(self, message: str, tb: str) -> None:
        self.cancel_batch()
        self.error.emit(*describe_job_error(message))

    def _on_batch_cancelled(self) -> None:
        if self.batch is not None:
            self.cancel_batch()

    def cancel_batch(self) -> None:
        b, self.batch = self.batch, None
        if b is None:
            return
        for handle in b.handles:
            handle.cancel()
        self.status.emit("Analyse all cancelled.")
