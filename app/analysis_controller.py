"""Schedules the engine's analysis jobs for the window: the current image first, the next few to-do
images ahead of the cursor (prefetch), and "Analyse all" (chunks + dataset clustering). It computes nothing itself: the jobs are
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

from . import user_settings
from .bridge import EngineBridge, JobHandle
from .jobs_indicator import JobsIndicator

OVERLAY_LRU = 32
BATCH_CHUNK = 4


def _streaming(fn):
    """``fn`` (an analyze_image partial) with its first result streamed to the job's ``partial`` signal."""
    return lambda ctx: fn(ctx, on_partial=ctx.partial)


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
    seen: float = 0.0  # images done, counting the running chunk's progress
    clustering: bool = False
    share: float = 1.0  # of the bar for the images (the rest: clustering)

    def chunk_progress(self, f: float, n: int) -> float:
        self.seen = min(self.total, max(self.seen, self.done + f * n))
        return self.share * self.seen / self.total

    def cluster_progress(self, f: float) -> float:
        self.clustering = True
        return self.share + (1.0 - self.share) * f

    def text(self, task) -> str:
        text = f"Analyse all: {int(self.seen + 1e-6)}/{self.total} images"
        if self.clustering:
            text += ", clustering"
        eta = task.eta()
        return f"{text} · {eta}" if eta else text


class AnalysisController(QObject):
    analysed = Signal(object)  # AnalysisDone
    firstLook = Signal(int, object)  # image id, partial AnalysisOverlays (before CRF / matting)
    imageFailed = Signal(int, str)  # image id, reason (unreadable)
    proposalsChanged = Signal()  # a batch chunk / the clustering wrote proposals
    batchFinished = Signal(object)  # BatchDone summary of "Analyse all"
    backboneFailed = Signal(str, str)  # backbone name, why (said once per backbone)
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
        self.partials: dict[int, curation.AnalysisOverlays] = {}  # first looks still being completed
        self.current: JobHandle | None = None
        self.current_name = ""
        self.prefetching: dict[int, JobHandle] = {}
        self.prefetch_n = user_settings.prefetch_count()  # to-do images kept analysed ahead
        self.batch: _Batch | None = None
        self._backbone_failed: str | None = None
        indicator.cancelRequested.connect(self._on_cancel_requested)

    # -- project -------------------------------------------------------------------------------

    def open(self, store, paths: ProjectPaths, settings: curation.CurationSettings) -> None:
        self.store = store
        self.cache = AnalysisStore(paths.analysis_cache)
        self.holder = curation.AnalyzerHolder(paths.feature_cache)
        self.settings = settings
        self.overlays.clear()
        self.partials.clear()
        self.prefetch_n = user_settings.prefetch_count()

    def close(self) -> None:
        self.batch = None
        self.store = None
        self.overlays.clear()
        self.partials.clear()
        self.prefetching.clear()

    def set_settings(self, settings: curation.CurationSettings) -> bool:
        """New settings: in-memory overlays are dropped (they belong to the old ones); True if changed."""
        changed = settings != self.settings
        self.settings = settings
        if changed:
            self._backbone_failed = None
            self.overlays.clear()
            self.partials.clear()
            for handle in self.prefetching.values():  # they analyse with the old settings
                handle.cancel()
            self.prefetching.clear()
        return changed

    @property
    def backbone_failed(self) -> bool:
        return self._backbone_failed is not None and self._backbone_failed == self.settings.backbone

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
        if prefetch:  # several ahead at once: no channel (a channel keeps only the latest)
            if image_id in self.prefetching:
                return self.prefetching[image_id]
            handle = self.bridge.submit(fn, name=f"prefetch {path.name}", priority=10)
            self.prefetching[image_id] = handle
            handle.finished.connect(lambda i=image_id, h=handle: self._prefetch_done(i, h))
        else:  # the image on screen: stream its first result (eigenvectors, box, object) as it exists
            handle = self.bridge.submit(_streaming(fn), name=f"analyse {path.name}", channel="analyse-current",
                                        priority=0)
            handle.partial.connect(lambda overlays, i=image_id: self._on_partial(i, overlays))
            self.current, self.current_name = handle, path.name
            waiting = [t.title for t in self.indicator.tasks.values() if t.key not in ("analyse-current",)]
            self.indicator.track(handle, task="analyse-current", title=f"analysis of {path.name}", busy=True,
                                 text=lambda t, name=path.name: f"Analysing {name}…" + (
                                     " (loading the backbone)" if "backbone" in t.message.lower() else ""))
            if waiting:
                self.status.emit(f"Analysis of {path.name} queued: the engine runs one job at a time "
                                 f"({', '.join(waiting)} first). Curating by hand works meanwhile.")
        handle.result.connect(self._on_result)
        handle.error.connect(self._on_error)
        return handle

    def prefetch(self, items: list[tuple[int, Path]]) -> None:
        """Keep exactly ``items`` (the next to-do images) analysed or on their way; prefetches of images
        that fell out of that window are dropped."""
        wanted = {image_id for image_id, _ in items}
        for image_id in [i for i in self.prefetching if i not in wanted]:
            self.prefetching.pop(image_id).cancel()
        if self.backbone_failed:
            return
        for image_id, path in items:
            if image_id not in self.overlays and image_id not in self.prefetching:
                self.request(image_id, path, prefetch=True)

    def _prefetch_done(self, image_id: int, handle: JobHandle) -> None:
        if self.prefetching.get(image_id) is handle:
            del self.prefetching[image_id]

    def _on_cancel_requested(self, task: str) -> None:
        if task == "analyse-current" and self.current is not None:
            self.current = None
            self.status.emit(f"Analysis of {self.current_name} cancelled; the photo stays for curating by "
                             "hand (Ctrl+Shift+R analyses it again).")
        elif task == "analyse-all":
            self.cancel_batch()

    def _on_partial(self, image_id: int, overlays) -> None:
        if image_id not in self.overlays:  # a final result never gives way to a partial one
            self.partials[image_id] = overlays
            self.firstLook.emit(image_id, overlays)

    def shown_overlays(self, image_id: int):
        """What to draw for ``image_id``: its final overlays, else its first look, else None."""
        return self.overlays.get(image_id) or self.partials.get(image_id)

    def _on_result(self, res) -> None:
        if res is None:  # a stand-in job (tests) that returned nothing
            return
        if isinstance(res, curation.AnalysisFailed):
            self._on_failed(res)
            return
        self.partials.pop(res.image_id, None)
        self.overlays[res.image_id] = res.overlays
        self.overlays.move_to_end(res.image_id)
        while len(self.overlays) > OVERLAY_LRU:
            self.overlays.popitem(last=False)
        self.analysed.emit(res)

    def _on_failed(self, res: curation.AnalysisFailed) -> None:
        if res.kind == "backbone":
            if self._backbone_failed != self.settings.backbone:
                self._backbone_failed = self.settings.backbone
                self.backboneFailed.emit(self.settings.backbone, res.message)
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
        clusters = self.settings.n_clusters > 0
        batch = self.batch = _Batch(total=len(items), share=0.9 if clusters else 1.0)
        chunk = BATCH_CHUNK
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            fn = partial(curation.analyze_batch, holder=self.holder, cache=self.cache, store=self.store,
                         items=part, settings=self.settings, batch_size=chunk)
            handle = self.bridge.submit(fn, name="analyse all", priority=5)
            handle.result.connect(self._on_chunk)
            self._track_batch(handle, lambda f, n=len(part): batch.chunk_progress(f, n))
        if clusters:
            fn = partial(curation.cluster_all, cache=self.cache, store=self.store, items=items,
                         settings=self.settings, n_clusters=self.settings.n_clusters)
            handle = self.bridge.submit(fn, name="cluster dataset", priority=6)
            handle.result.connect(self._finish_batch)
            self._track_batch(handle, batch.cluster_progress)
        return list(batch.handles)

    def _track_batch(self, handle: JobHandle, to_overall) -> None:
        handle.error.connect(self._on_batch_error)
        handle.cancelled.connect(self._on_batch_cancelled)
        self.batch.handles.append(handle)
        self.indicator.track(handle, to_overall, task="analyse-all", title="Analyse all", text=self.batch.text)

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
