"""Per-image and batch analysis jobs over the project store, run by the app and ``main.py batch``.

Why: analysing an image, writing its proposals, and clustering the dataset used to be written twice
(app and CLI) with different rules (the app clamped the cluster count, the CLI did not). These
functions are plain ``fn(ctx, ...)`` jobs with no Qt: the app schedules them on its engine thread and
the CLI runs them inline, so both store exactly the same proposals. The full-resolution
:class:`~engine.pipeline.ImageAnalysis` stays in the on-disk analysis cache; results carry only the
compact :class:`AnalysisOverlays` a viewer draws.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..backbone import BackboneLoadError
from ..imageio import ImageFile, ImageLoadError, resize_max_side
from ..jobs import JobContext
from ..methods.spectral.geometry import GridGeometry
from ..pipeline import SOURCE_SEMANTIC, Analyzer, ImageAnalysis, cluster_dataset  # noqa: F401 (re-export)
from .settings import as_spectral

log = logging.getLogger(__name__)

#: Longest side of the alpha overlay handed to a viewer (the full-res alpha stays in the cache).
OVERLAY_MAX_SIDE = 1024


# -- results -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AnalysisOverlays:
    """What a viewer draws of an analysis, small enough to keep for every visited image.

    ``eigenvectors`` (K, h, w) float32 on the patch grid, placed with ``cell_hw`` full-res pixels per
    cell (y, x) or stretched over ``image_hw`` when None; ``box`` x0, y0, x1, y1 in full-res pixels;
    ``alpha`` uint8 (0-255 = alpha 0-1), longest side at most :data:`OVERLAY_MAX_SIDE`, covering the
    whole image (scale it to ``image_hw``), or None without matting.
    """

    path: Path
    image_hw: tuple[int, int]
    grid_hw: tuple[int, int]
    cell_hw: tuple[float, float] | None
    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    box: tuple[int, int, int, int]
    alpha: np.ndarray | None = None
    #: bool (h, w) object mask on the patch grid (before the CRF); set on partial results
    object_patch_mask: np.ndarray | None = None
    #: True for the first result of ``analyze_image(on_partial=...)``: no alpha, no proposals stored yet
    partial: bool = False

    @classmethod
    def from_first_result(cls, r) -> "AnalysisOverlays":
        """The overlays of an :class:`engine.pipeline.FirstResult` (eigenvectors, box, patch mask)."""
        return cls(Path(r.path), tuple(r.image_hw), tuple(r.grid_hw), tuple(r.cell_hw),
                   np.asarray(r.eigenvalues, np.float32), np.asarray(r.eigenvectors, np.float32),
                   tuple(int(v) for v in r.box), None, np.asarray(r.object_patch_mask, bool), True)

    @classmethod
    def from_analysis(cls, a: ImageAnalysis, max_side: int = OVERLAY_MAX_SIDE) -> "AnalysisOverlays":
        alpha = None
        if a.alpha is not None:
            small = resize_max_side(np.asarray(a.alpha, np.float32), max_side)
            alpha = np.round(np.clip(small, 0.0, 1.0) * 255).astype(np.uint8)
        return cls(Path(a.path), tuple(a.image_hw), tuple(a.grid_hw),
                   None if a.cell_hw is None else tuple(a.cell_hw),
                   np.asarray(a.eigenvalues, np.float32), np.asarray(a.eigenvectors, np.float32),
                   tuple(int(v) for v in a.box), alpha)

    def alpha_float(self) -> np.ndarray | None:
        """The (downscaled) alpha as float32 in [0, 1]."""
        return None if self.alpha is None else self.alpha.astype(np.float32) / 255.0

    @property
    def geometry(self) -> GridGeometry:
        if self.cell_hw is None:
            return GridGeometry.stretched(self.image_hw, self.grid_hw)
        return GridGeometry(self.image_hw, self.grid_hw, self.cell_hw)


@dataclass(frozen=True)
class AnalysisDone:
    image_id: int
    overlays: AnalysisOverlays
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
    analysed_ids: tuple[int, ...] = ()


# -- analysis ------------------------------------------------------------------------------------------

class AnalyzerHolder:
    """Keeps one :class:`engine.pipeline.Analyzer` alive between jobs (backbone load is the slow part).

    Only ever touched on the engine thread; rebuilt when the settings or the device change.
    """

    def __init__(self, feature_cache: Path | None):
        self.feature_cache = feature_cache
        self._key: tuple | None = None
        self._analyzer: Analyzer | None = None

    def get(self, settings, device) -> Analyzer:
        spectral = as_spectral(settings)
        key = (spectral, str(device))
        if self._analyzer is None or key != self._key:
            self._analyzer = None  # free the old backbone before loading a new one
            self._analyzer = Analyzer(spectral, device, cache_dir=self.feature_cache)
            self._key = key
        return self._analyzer


def store_proposals(store, image_id: int, proposals: Sequence, only_missing: bool) -> bool:
    """Write proposals grouped by source; with ``only_missing`` a source the image already has is kept
    (re-opening an image must not renumber segments the user is looking at). True if anything was written."""
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


def _record_failure(store, image_id: int, reason: str) -> None:
    """An image that cannot be decoded (truncated, corrupt) is marked unreadable in the store, so
    exports and training leave it out instead of writing it as a valid image."""
    try:
        store.set_image_error(image_id, reason)
    except Exception:  # noqa: BLE001 - the failure is still reported to the caller
        pass


def _clear_failure(store, image_id: int) -> None:
    """An image that failed before and decodes now (the file was replaced) is usable again."""
    try:
        if store.image(image_id).error is not None:
            store.set_image_error(image_id, None)
    except Exception:  # noqa: BLE001
        pass


def analyze_image(ctx: JobContext, *, holder: AnalyzerHolder, cache, store, image_id: int, path: Path,
                  settings, replace: bool = False,
                  on_partial: Callable[[AnalysisOverlays], None] | None = None) -> AnalysisDone | AnalysisFailed:
    """Analyse one image (or take it from the on-disk analysis cache ``cache``, an
    :class:`~engine.pipeline.AnalysisStore`) and store its proposals; ``replace`` recomputes and
    overwrites the image's uncurated proposals. ``settings``: CurationSettings (or SpectralSettings).

    ``on_partial(overlays)``: called once, on the engine thread, as soon as the eigenvectors, the box
    and the patch-level object mask exist (``overlays.partial`` is True, ``alpha`` None,
    ``object_patch_mask`` set), i.e. before the CRF and matting, which take about as long again. Not
    called for a cache hit (the final result is immediate). Nothing is stored at that point; the
    returned :class:`AnalysisDone` carries the final overlays. An exception raised by the callback is
    logged and ignored (a viewer must not break the analysis)."""
    t0 = time.perf_counter()
    path = Path(path)
    spectral = as_spectral(settings)
    ctx.progress(0.0, f"Analysing {path.name}")
    try:
        file = ImageFile.read(path)  # one read: hash for the caches and bytes to decode
    except ImageLoadError as exc:
        _record_failure(store, image_id, exc.reason)
        return AnalysisFailed(image_id, "image", exc.reason)
    analysis = None if (replace or cache is None) else cache.get(path, spectral, file.sha1)
    cached = analysis is not None
    if analysis is None:
        try:
            ctx.progress(0.05, f"Loading backbone {spectral.backbone}")
            analyzer = holder.get(spectral, ctx.device)
            ctx.progress(0.2, f"Analysing {path.name}")
            analysis = analyzer.analyze(path, ctx, file=file,
                                        on_partial=None if on_partial is None else _partial_hook(on_partial))
        except BackboneLoadError as exc:
            return AnalysisFailed(image_id, "backbone", str(exc))
        except ImageLoadError as exc:
            _record_failure(store, image_id, exc.reason)
            return AnalysisFailed(image_id, "image", exc.reason)
        if cache is not None:
            cache.put(analysis, spectral)
    ctx.progress(0.95, "Storing proposals")
    # "analysed" means "proposals committed": a cached analysis whose proposals never reached the store
    # (killed between the cache write and this one) gets them now (only_missing writes absent sources)
    wrote = store_proposals(store, image_id, analysis.proposals, only_missing=not replace)
    _clear_failure(store, image_id)
    ctx.progress(1.0, f"{path.name} analysed")
    return AnalysisDone(image_id, AnalysisOverlays.from_analysis(analysis), wrote, time.perf_counter() - t0, cached)


def _partial_hook(on_partial: Callable[[AnalysisOverlays], None]):
    def hook(first) -> None:
        try:
            on_partial(AnalysisOverlays.from_first_result(first))
        except Exception:  # noqa: BLE001 - a failing viewer callback must not cost the analysis
            log.exception("on_partial callback failed")
    return hook


def analyze_batch(ctx: JobContext, *, holder: AnalyzerHolder, cache, store, items: Sequence[tuple[int, Path]],
                  settings, batch_size: int = 4, recompute: bool = False) -> BatchDone | AnalysisFailed:
    """Analyse a chunk of ``(image id, path)`` items (batched feature extraction), store their proposals.

    Cached analyses are reused unless ``recompute``; proposals of a source an image already has are
    kept, except with ``recompute`` (fresh analyses replace uncurated proposals). Unreadable images are
    listed in ``failures``; a backbone that cannot load is one ``AnalysisFailed(-1, "backbone", ...)``.
    "Analyse all" submits one such job per chunk, so a click on another image (priority 0) gets in
    between chunks instead of waiting for the whole dataset.
    """
    t0 = time.perf_counter()
    spectral = as_spectral(settings)
    n = len(items)
    done: list[int] = []
    failures: list[tuple[int, str]] = []
    todo: list[tuple[int, Path, ImageFile]] = []
    for image_id, path in items:
        path = Path(path)
        try:
            file = ImageFile.read(path)
        except ImageLoadError as exc:
            failures.append((image_id, exc.reason))
            _record_failure(store, image_id, exc.reason)
            continue
        hit = None if (recompute or cache is None) else cache.get(path, spectral, file.sha1)
        if hit is not None:
            # a hit whose proposals were never stored (a kill between cache.put and the store write)
            # stores them now: only_missing writes every source the image does not have yet
            store_proposals(store, image_id, hit.proposals, only_missing=True)
            _clear_failure(store, image_id)
            done.append(image_id)
        else:
            todo.append((image_id, path, file))
    if todo:
        try:
            analyzer = holder.get(spectral, ctx.device)
        except BackboneLoadError as exc:
            return AnalysisFailed(-1, "backbone", str(exc))
        ctx.progress(len(done) / max(n, 1), f"Analysing {len(todo)} images")
        outs = _analyze_isolating_failures(analyzer, todo, ctx, batch_size)
        ids = [image_id for image_id, _, _ in todo]
        del todo[:]  # let the file bytes go before storing
        for image_id, out in zip(ids, outs):
            if isinstance(out, Exception):
                reason = getattr(out, "reason", str(out))
                failures.append((image_id, reason))
                if isinstance(out, ImageLoadError):
                    _record_failure(store, image_id, reason)
                continue
            if cache is not None:
                cache.put(out, spectral)
            store_proposals(store, image_id, out.proposals, only_missing=not recompute)
            _clear_failure(store, image_id)
            done.append(image_id)
    ctx.progress(1.0, f"{len(done)}/{n} images analysed")
    return BatchDone(n, len(done), tuple(failures), 0, time.perf_counter() - t0, tuple(done))


def _analyze_isolating_failures(analyzer: Analyzer, todo: list, ctx: JobContext, batch_size: int) -> list:
    """``analyzer.analyze_many`` over the chunk; if an image makes the batched step itself fail (not a
    read error, which comes back in place), each image is retried alone so that one hostile input costs
    only its own result, never the folder's. Cancellation and out-of-memory (the engine's CPU retry)
    propagate unchanged."""
    from ..device import is_out_of_memory
    from ..jobs import JobCancelled

    paths = [p for _, p, _ in todo]
    files = [f for _, _, f in todo]
    try:
        return analyzer.analyze_many(paths, ctx, batch_size=batch_size, files=files)
    except (JobCancelled, BackboneLoadError):
        raise
    except Exception as exc:  # noqa: BLE001 - isolated below, reported per image
        if is_out_of_memory(exc):
            raise
        if len(paths) == 1:
            return [RuntimeError(f"analysis failed ({type(exc).__name__}: {exc})")]
    outs: list = []
    for path, file in zip(paths, files):
        try:
            outs.append(analyzer.analyze_many([path], ctx, batch_size=1, files=[file])[0])
        except (JobCancelled, BackboneLoadError):
            raise
        except Exception as exc:  # noqa: BLE001
            if is_out_of_memory(exc):
                raise
            outs.append(RuntimeError(f"analysis failed ({type(exc).__name__}: {exc})"))
    return outs


#: Memory (MiB) dataset clustering may use for segment features before it switches to streaming k-means.
CLUSTER_MEMORY_MB = 1024


def cluster_all(ctx: JobContext, *, cache, store, items: Sequence[tuple[int, Path]], settings,
                n_clusters: int, memory_mb: int = CLUSTER_MEMORY_MB) -> int:
    """Dataset-wide clustering of the cached analyses (DSM semantic step) → "dsm.semantic" proposals.

    The one rule for everyone: ``k = min(n_clusters, number of segments)``; nothing is clustered (and
    0 returned) when ``k < 2``, e.g. ``n_clusters`` 0 or fewer than two analysed segments. Returns k.

    Memory is bounded: only each image's segment features and patch-grid labels are read from the
    cache (never the full-resolution masks), and the proposals are written image by image. When the
    feature rows exceed ``memory_mb`` the exact k-means (same result as before) gives way to
    :class:`engine.clustering.StreamingKMeans` fed in chunks of images (features are then re-read in
    the second pass instead of being kept).
    """
    import torch

    from ..clustering import StreamingKMeans
    from ..imageio import content_hash
    from ..methods.spectral.semantic import cluster_segment_features
    from ..pipeline import semantic_proposals

    if n_clusters < 0:
        raise ValueError(f"n_clusters must be >= 0 (got {n_clusters})")
    spectral = as_spectral(settings)
    seed = getattr(settings, "seed", 0)
    if n_clusters < 2 or not items:
        return 0
    n_items = len(items)

    def record(path: Path, sha1: str = ""):
        try:
            return cache.segments(Path(path), spectral, sha1)
        except OSError:  # the image vanished since it was analysed
            return None

    # pass 1: hashes, segment counts and (while they fit the budget) the feature rows
    present: list[tuple[int, Path, str]] = []
    feats: list[np.ndarray] | None = []
    valids: list[np.ndarray] = []
    n_feats = n_rows = 0
    dim = 0
    streaming: StreamingKMeans | None = None
    pending: list[np.ndarray] = []
    pending_rows = 0
    for i, (image_id, path) in enumerate(items):
        try:
            sha1 = content_hash(path)
        except OSError:
            sha1 = ""
        r = record(path, sha1) if sha1 else None
        if r is not None:
            present.append((image_id, Path(path), sha1))
            valid = r.valid
            n_feats += len(r.segment_features)
            fg = r.segment_features[1:][valid[1:]]
            n_rows += len(fg)
            dim = dim or r.segment_features.shape[1]
            if feats is not None:
                feats.append(r.segment_features)
                valids.append(valid)
                if n_rows * dim * 16 > memory_mb * 2**20:  # lists + stacked copy + k-means temporaries (measured)
                    streaming = StreamingKMeans(n_clusters - 1, cosine=True, seed=seed)
                    pending = [f[1:][v[1:]] for f, v in zip(feats, valids)]
                    pending_rows = n_rows
                    feats = None
                    valids = []
            else:
                pending.append(fg)
                pending_rows += len(fg)
            if streaming is not None and pending_rows >= 8192:
                streaming.partial_fit(np.concatenate(pending))
                pending, pending_rows = [], 0
        ctx.progress(0.5 * (i + 1) / n_items, "Reading segment features")
    k = min(n_clusters, n_feats)
    if k < 2:
        return 0
    ctx.progress(0.5, f"Clustering {n_feats} segments into {k} classes")
    if streaming is not None:
        # the running k (n_clusters − 1 foreground clusters) is final unless fewer segments exist
        if k - 1 != streaming.k:
            streaming = StreamingKMeans(k - 1, cosine=True, seed=seed)  # (only when k was clamped; rare)
            for _, path, sha1 in present:  # re-read: a clamped k means few segments, so this is cheap
                r = record(path, sha1)
                if r is not None:
                    streaming.partial_fit(r.segment_features[1:][r.valid[1:]])
        elif pending:
            streaming.partial_fit(np.concatenate(pending))
        streaming.finalize()
        assignment = None
    else:
        assignment = cluster_segment_features(feats, valids, k, seed, True, "cpu")
        del feats
    # pass 2: one image at a time, proposals written as they are made
    for j, (image_id, path, sha1) in enumerate(present):
        r = record(path, sha1)
        if r is None:
            continue
        if assignment is not None:
            clusters = assignment[j]
        else:
            valid = r.valid
            clusters = np.full(len(r.segment_features), -1, np.int64)
            if valid[0]:
                clusters[0] = 0
            fg = np.nonzero(valid[1:])[0] + 1
            if len(fg):
                clusters[fg] = streaming.predict(torch.from_numpy(r.segment_features[fg])).cpu().numpy() + 1
        store.replace_proposals(image_id, SOURCE_SEMANTIC, semantic_proposals(r, clusters))
        ctx.progress(0.5 + 0.5 * (j + 1) / max(len(present), 1), "Writing dataset clusters")
    ctx.progress(1.0, "Dataset clustered")
    return k
