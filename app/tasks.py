"""The app's engine jobs: plain functions of ``ctx: JobContext`` (no Qt), run on the engine thread.

Why separate from the widgets: these are the only places that touch models, solvers and exporters,
so keeping them Qt-free makes the "GUI thread never computes" rule visible and lets them be tested
without a display. Results are frozen dataclasses handed back through the bridge.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from engine.backbone import BackboneLoadError
from engine.curation import PredictDone, PredictionItem, predict_into_store
from engine.imageio import ImageLoadError
from engine.jobs import JobContext


# -- results -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnalysisDone:
    image_id: int
    analysis: Any  # engine.pipeline.ImageAnalysis
    wrote_proposals: bool
    seconds: float
    cached: bool = False  # came from the on-disk analysis cache


@dataclass(frozen=True)
class AnalysisFailed:
    """``kind`` is "backbone" (settings problem: tell the user once) or "image" (mark it in the filmstrip)."""

    image_id: int
    kind: str
    message: str


@dataclass(frozen=True)
class BatchDone:
    n_images: int
    n_analysed: int
    failures: tuple[tuple[int, str], ...]  # (image id, reason)
    n_clusters: int
    seconds: float


# -- analysis ------------------------------------------------------------------------------------------

class AnalyzerHolder:
    """Keeps one :class:`engine.pipeline.Analyzer` alive between jobs (backbone load is the slow part).

    Only ever touched on the engine thread; rebuilt when the settings or the device change.
    """

    def __init__(self, feature_cache: Path | None):
        self.feature_cache = feature_cache
        self._key: tuple | None = None
        self._analyzer = None

    def get(self, settings, device):
        from engine.pipeline import Analyzer

        key = (settings, str(device))
        if self._analyzer is None or key != self._key:
            self._analyzer = None  # free the old backbone before loading a new one
            self._analyzer = Analyzer(settings, device, cache_dir=self.feature_cache)
            self._key = key
        return self._analyzer


def store_proposals(store, image_id: int, proposals: Sequence, only_missing: bool) -> bool:
    """Write proposals grouped by source; with ``only_missing`` a source the image already has is kept
    (re-opening an image must not renumber segments the user is looking at)."""
    by_source: dict[str, list] = defaultdict(list)
    for p in proposals:
        by_source[p.source].append(p)
    wrote = False
    for source, props in by_source.items():
        if only_missing and store.segments(image_id, source=source):
            continue
        store.replace_proposals(image_id, source, props)
        wrote = True
    return wrote


def analyze_image(ctx: JobContext, *, holder: AnalyzerHolder, cache, store, image_id: int, path: Path,
                  settings, replace: bool = False) -> AnalysisDone | AnalysisFailed:
    """Analyse one image (or take it from the on-disk analysis cache) and store its proposals."""
    t0 = time.perf_counter()
    ctx.progress(0.0, f"Analysing {path.name}")
    analysis = None if replace else cache.get(path, settings)
    cached = analysis is not None
    if analysis is None:
        try:
            ctx.progress(0.05, f"Loading backbone {settings.backbone}")
            analyzer = holder.get(settings, ctx.device)
            ctx.progress(0.2, f"Analysing {path.name}")
            analysis = analyzer.analyze(path, ctx)
        except BackboneLoadError as exc:
            return AnalysisFailed(image_id, "backbone", str(exc))
        except ImageLoadError as exc:
            return AnalysisFailed(image_id, "image", exc.reason)
        cache.put(analysis, settings)
    ctx.progress(0.95, "Storing proposals")
    wrote = store_proposals(store, image_id, analysis.proposals, only_missing=not replace)
    ctx.progress(1.0, f"{path.name} analysed")
    return AnalysisDone(image_id, analysis, wrote, time.perf_counter() - t0, cached)


def analyze_batch(ctx: JobContext, *, holder: AnalyzerHolder, cache, store, items: list[tuple[int, Path]],
                  settings, batch_size: int = 4) -> BatchDone | AnalysisFailed:
    """Analyse a chunk of images (batched feature extraction) and store their proposals.

    "Analyse all" submits one such job per chunk, so a click on another image (priority 0) gets in
    between chunks instead of waiting for the whole dataset.
    """
    t0 = time.perf_counter()
    n = len(items)
    done: list[int] = []
    failures: list[tuple[int, str]] = []
    todo = []
    for image_id, path in items:
        hit = cache.get(path, settings)
        if hit is not None:
            store_proposals(store, image_id, hit.proposals, only_missing=True)
            done.append(image_id)
        else:
            todo.append((image_id, path))
    if todo:
        try:
            analyzer = holder.get(settings, ctx.device)
        except BackboneLoadError as exc:
            return AnalysisFailed(-1, "backbone", str(exc))
        ctx.progress(len(done) / max(n, 1), f"Analysing {len(todo)} images")
        outs = analyzer.analyze_many([p for _, p in todo], ctx, batch_size=batch_size)
        for (image_id, _path), out in zip(todo, outs):
            if isinstance(out, Exception):
                failures.append((image_id, getattr(out, "reason", str(out))))
                continue
            cache.put(out, settings)
            store_proposals(store, image_id, out.proposals, only_missing=True)
            done.append(image_id)
    ctx.progress(1.0, f"{len(done)}/{n} images analysed")
    return BatchDone(n, len(done), tuple(failures), 0, time.perf_counter() - t0)


def cluster_all(ctx: JobContext, *, cache, store, items: list[tuple[int, Path]], settings,
                n_clusters: int) -> int:
    """Dataset-wide clustering of the cached analyses (DSM semantic step) → "dsm.semantic" proposals.

    Returns the number of clusters used (0 when fewer than two analysed images/segments exist).
    """
    from engine.pipeline import cluster_dataset

    analyses = []
    for i, (image_id, path) in enumerate(items):
        a = cache.get(path, settings)
        if a is not None:
            analyses.append((image_id, a))
        ctx.progress(0.5 * (i + 1) / max(len(items), 1), "Loading analyses")
    n_feats = sum(len(a.segment_features) for _, a in analyses)
    k = min(n_clusters, n_feats)
    if k < 2:
        return 0
    ctx.progress(0.6, f"Clustering {n_feats} segments into {k} classes")
    clustered = cluster_dataset([a for _, a in analyses], k, seed=settings.seed)
    for image_id, a in analyses:
        store.replace_proposals(image_id, "dsm.semantic", clustered.get(a.path, []))
    ctx.progress(1.0, "Dataset clustered")
    return k


# -- export --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportRequest:
    fmt: str  # "coco" | "semantic"
    out: Path
    states: tuple[str, ...] = ("accepted",)
    image_status: tuple[str, ...] | None = None
    polygons: bool = False
    include_unlabelled: bool = False


def run_export(ctx: JobContext, *, store, request: ExportRequest):
    """Returns the exporter's ExportReport; ExportError propagates (the dialog shows its message)."""
    from engine.export import export_coco, export_semantic_pngs

    ctx.progress(0.0, f"Exporting {request.fmt}")
    if request.fmt == "coco":
        report = export_coco(store, request.out, states=request.states, image_status=request.image_status,
                             polygons=request.polygons, include_unlabelled=request.include_unlabelled, ctx=ctx)
    elif request.fmt == "semantic":
        report = export_semantic_pngs(store, request.out, states=request.states,
                                      image_status=request.image_status, ctx=ctx)
    else:
        raise ValueError(f"unknown export format {request.fmt!r}")
    ctx.progress(1.0, "Export written")
    return report


# -- training / prediction -------------------------------------------------------------------------------

def run_training(ctx: JobContext, *, info, training_set, config, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    ctx.progress(0.0, f"Training {info.title}")
    return Path(info.train(training_set, config, ctx, workdir))


def run_prediction(ctx: JobContext, *, info, checkpoint: Path, store, items: list[PredictionItem]) -> PredictDone:
    """Apply a trained predictor to images and store its proposals (source = method name)."""
    return predict_into_store(ctx, info, checkpoint, store, items)


@dataclass(frozen=True)
class Settings:
    """App-level analysis settings persisted in the project store (``store.set_setting``)."""

    backbone: str = "dino_vits16"
    max_side: int = 640
    n_segments: int = 4
    n_clusters: int = 6
    crf: bool = True
    matting: bool = True

    def spectral(self):
        from engine.pipeline import SpectralSettings

        return SpectralSettings(backbone=self.backbone, max_side=self.max_side, n_segments=self.n_segments,
                                crf=self.crf, matting=self.matting)
