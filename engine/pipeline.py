"""Per-image Deep Spectral Methods analysis used by the app and the CLI (contract: docs/pipeline_api.md).

image → ViT features (batched, cached) → DSM graph and Laplacian eigenvectors (batched per grid size)
→ localisation box, CRF object mask, per-image segments, matting alpha → proposals. Results are plain
frozen dataclasses so the app can show them and :class:`AnalysisStore` can keep them on disk.

Quality note: with the ``random_*`` backbones (tests, offline) the eigenvectors only follow colour
and texture; the paper's figures need real DINO weights.
"""

from __future__ import annotations

import hashlib
import logging
import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .backbone import Backbone, BackboneSpec, available_backbones, load_backbone
from .features import FeatureCache, FeatureProvider, PatchFeatures
from .device import pick_device, small_cpu_ops
from .fileio import atomic_write, describe_os_error
from .imageio import ImageFile, ImageLoadError, content_hash
from .jobs import JobContext
from .methods.spectral import SOURCE_OBJECT, SOURCE_SEGMENT, SOURCE_SEMANTIC
from .methods.spectral.affinity import knn_passes, spectral_affinity
from .methods.spectral.eigen import laplacian_eigs
from .methods.spectral.geometry import GridGeometry, resized_hw
from .methods.spectral.localization import localize
from .methods.spectral.matting import compute_alpha
from .methods.spectral.semantic import cluster_segment_features, segment_batch, segment_features
from .methods.spectral.single_object import object_mask, object_patch_mask
from .proposals import Proposal

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class SpectralSettings:
    backbone: str = "dino_vits16"  # hub/random name (engine.backbone) or a checkpoint path
    max_side: int | None = 640  # features at native resolution up to this longest side
    n_eigenvectors: int = 10  # incl. the trivial one (index 0)
    knn_weight: float = 10.0  # λ_knn (DSM default image_color_lambda)
    knn_neighbors: int = 10
    n_segments: int = 4  # per-image k-means on eigenvectors (semantic task)
    crf: bool = True  # dense-CRF upsampling of the single-object mask
    matting: bool = True  # compute matting alphas (finer grid, KNN colour affinity)
    matting_max_side: int = 320
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_eigenvectors < 2:
            raise ValueError("n_eigenvectors must be >= 2 (the trivial vector and the Fiedler vector)")
        if self.n_segments < 1:
            raise ValueError("n_segments must be >= 1")
        if self.knn_weight < 0 or self.knn_neighbors < 1:
            raise ValueError("knn_weight must be >= 0 and knn_neighbors >= 1")
        if self.max_side is not None and self.max_side < 16:
            raise ValueError("max_side must be at least 16 pixels (or None)")

    def backbone_spec(self) -> BackboneSpec:
        """Names from engine.backbone are models; anything else is read as a checkpoint path."""
        if self.backbone in available_backbones():
            return BackboneSpec(self.backbone, seed=self.seed)
        return BackboneSpec(Path(self.backbone).stem, checkpoint=self.backbone)


@dataclass(frozen=True)
class ImageAnalysis:
    path: Path
    image_hw: tuple[int, int]  # full (EXIF-upright) image size
    grid_hw: tuple[int, int]  # patch grid size h, w
    eigenvalues: np.ndarray  # (K,) float32, ascending (0 = trivial)
    eigenvectors: np.ndarray  # (K, h, w) float32 on the patch grid, sign-fixed (positive = minority)
    box: tuple[int, int, int, int]  # localization box x0, y0, x1, y1 in full-res pixels (end-exclusive)
    object_mask: np.ndarray  # bool (H, W) single-object mask (CRF-refined if crf=True)
    segment_labels: np.ndarray  # int32 (h, w) per-image segment id on the patch grid (0 = background)
    segment_features: np.ndarray  # (n_segments, D) float32 mean backbone feature per segment
    alpha: np.ndarray | None  # float32 (H, W) in [0, 1] matting alpha of the object, or None
    proposals: tuple[Proposal, ...] = field(default=(), compare=False)  # "dsm.object" + "dsm.segment"
    cell_hw: tuple[float, float] | None = None  # full-res pixels per patch cell (y, x); None = stretch
    image_sha1: str = field(default="", compare=False)  # SHA-1 of the file bytes analysed (cache key)

    @property
    def geometry(self) -> GridGeometry:
        """Patch grid ↔ full-res mapping (exact: accounts for the resize and the patch crop)."""
        if self.cell_hw is None:
            return GridGeometry.stretched(self.image_hw, self.grid_hw)
        return GridGeometry(self.image_hw, self.grid_hw, self.cell_hw)

    def grid_to_image(self, grid: np.ndarray) -> np.ndarray:
        """Nearest-neighbour map of an (h, w) grid array (mask, labels, eigenvector) to (H, W)."""
        return self.geometry.upsample_nearest(grid)


@dataclass(frozen=True)
class FirstResult:
    """What is known of an image before the CRF, segments' proposals and matting: enough to show it.

    Produced by :meth:`Analyzer.analyze_many` (``on_partial``) right after the eigenvectors, typically
    0.3-0.5 s after an uncached image is opened on CPU (features are most of it), while CRF + matting
    take as long again. ``object_patch_mask`` is the uncorrected object mask on the patch grid (the
    final mask is its CRF refinement at full resolution): draw it with :attr:`geometry`.
    """

    path: Path
    image_hw: tuple[int, int]
    grid_hw: tuple[int, int]
    cell_hw: tuple[float, float]
    eigenvalues: np.ndarray  # (K,) float32
    eigenvectors: np.ndarray  # (K, h, w) float32, sign-fixed
    box: tuple[int, int, int, int]
    object_patch_mask: np.ndarray  # bool (h, w)
    segment_labels: np.ndarray  # int32 (h, w), the final per-image segments (0 = background)
    image_sha1: str = ""

    @property
    def geometry(self) -> GridGeometry:
        return GridGeometry(self.image_hw, self.grid_hw, self.cell_hw)

    def object_mask_nearest(self) -> np.ndarray:
        """bool (H, W) nearest upsampling of the patch mask: the first, blocky object proposal."""
        return self.geometry.upsample_nearest(self.object_patch_mask)


def _object_score(eigenvalues: np.ndarray) -> float:
    """1 − λ₁: a small Fiedler eigenvalue means a clean two-way cut (higher = more confident)."""
    return float(np.clip(1.0 - eigenvalues[1], 0.0, 1.0)) if len(eigenvalues) > 1 else 0.0


def build_proposals(object_mask_full: np.ndarray, segment_labels: np.ndarray, n_segments: int,
                    geometry: GridGeometry, eigenvalues: np.ndarray) -> tuple[Proposal, ...]:
    """One "dsm.object" proposal and one "dsm.segment" per non-empty segment, full-res bool masks."""
    props = [Proposal(object_mask_full, SOURCE_OBJECT, label=0, score=_object_score(eigenvalues),
                      name="object")]
    # one bool upsampling per present segment: never an (H, W) int label map (576 MB at 12000²)
    present = np.bincount(np.asarray(segment_labels).ravel(), minlength=n_segments)
    for s in range(n_segments):
        mask = geometry.upsample_nearest(segment_labels == s) if present[s] else None
        if mask is not None and mask.any():  # a cell of a padded tiny image may own no pixel
            props.append(Proposal(mask, SOURCE_SEGMENT, label=s, score=1.0,
                                  name="background segment" if s == 0 else f"segment {s}"))
    return tuple(props)


#: Reduced-size decodes keep at least this many times the working resolution before the area resize:
#: decoding straight to ``max_side`` (JPEG 1/2 DCT scaling of a 481-px photo for 224) moved object masks
#: of small grids by up to 10 % IoU; with 2× oversampling the difference is within a few grey levels.
DECODE_OVERSAMPLING = 2


class Analyzer:
    """Owns a backbone + FeatureProvider (feature cache dir optional). Runs on the engine thread.

    ``backbone`` may be passed in to share an already loaded model (tests, the app's model cache).
    """

    def __init__(self, settings: SpectralSettings, device: torch.device | str = "cpu",
                 cache_dir: Path | None = None, backbone: Backbone | None = None):
        self.settings = settings
        self.device = pick_device(device) if isinstance(device, str) else device
        self.backbone = backbone if backbone is not None else load_backbone(settings.backbone_spec(), self.device)
        cache = FeatureCache(cache_dir) if cache_dir else None
        self.provider = FeatureProvider(self.backbone, cache, settings.max_side)

    # -- public API ----------------------------------------------------------------------------

    def analyze(self, path: Path, ctx: JobContext | None = None, file: ImageFile | None = None,
                on_partial: Callable[[FirstResult], None] | None = None) -> ImageAnalysis:
        """Analyse one image (``file``: its bytes, already read); raises :class:`ImageLoadError` for unreadable files.

        ``on_partial(FirstResult)`` is called (on this thread) as soon as eigenvectors, box and the
        patch-level object mask exist, before the CRF and matting.
        """
        result = self.analyze_many([Path(path)], ctx, batch_size=1, files=[file], on_partial=on_partial)[0]
        if isinstance(result, ImageLoadError):
            raise result
        return result

    def analyze_many(self, paths: list[Path], ctx: JobContext | None = None, batch_size: int = 8,
                     files: Sequence[ImageFile | None] | None = None,
                     on_partial: Callable[[FirstResult], None] | None = None
                     ) -> list[ImageAnalysis | ImageLoadError]:
        """Batched analysis; unreadable images yield their ImageLoadError in place.

        ``files[i]`` (optional) is path i already read (e.g. to look up a cache by its hash): each file
        is read from disk once per analysis, for both its content hash and its pixels. Images are
        decoded at reduced size (only the ``max_side`` working resolution is ever needed; the full size
        comes from the header). ``on_partial`` gets each image's :class:`FirstResult` before its CRF /
        matting.
        """
        device = self._use_device(ctx)
        paths = [Path(p) for p in paths]
        n = len(paths)
        results: list[ImageAnalysis | ImageLoadError | None] = [None] * n
        step = max(1, batch_size)
        for start in range(0, n, step):
            chunk = range(start, min(n, start + step))
            rgbs: dict[int, np.ndarray] = {}
            hashes: dict[int, str] = {}
            sizes: dict[int, tuple[int, int]] = {}
            for i in chunk:
                try:
                    file = (files[i] if files is not None else None) or ImageFile.read(paths[i])
                    rgbs[i], sizes[i] = self._decode_working(file)
                    hashes[i] = file.sha1
                except ImageLoadError as exc:
                    results[i] = exc
            if ctx:
                ctx.progress(start / n, f"DSM: features for images {start + 1}-{chunk[-1] + 1} of {n}")
            feats = self.provider.features([(hashes[i], rgb) for i, rgb in rgbs.items()], step)
            feats = [f if f.image_hw == sizes[i] else replace(f, image_hw=sizes[i])
                     for i, f in zip(rgbs, feats)]
            with small_cpu_ops(device):
                spectra = self._spectra(feats, device, ctx)
                for (i, rgb), f, (vals, vecs, labels) in zip(rgbs.items(), feats, spectra):
                    results[i] = self._finish(paths[i], rgb, f, vals, vecs, labels, device, hashes[i],
                                              on_partial)
                    if ctx:
                        ctx.progress((i + 1) / n, f"DSM {i + 1}/{n}: {paths[i].name}")
            if ctx:
                ctx.progress((chunk[-1] + 1) / n, f"DSM {chunk[-1] + 1}/{n}")
        return results  # type: ignore[return-value]

    def _decode_working(self, file: ImageFile) -> tuple[np.ndarray, tuple[int, int]]:
        """The image at the working resolution (longest side ``max_side``) and its full upright size.

        Decoding at reduced size (JPEG DCT scaling / integer reduce, keeping at least
        :data:`DECODE_OVERSAMPLING` × ``max_side`` pixels) then area-resizing to exactly the size the full
        decode would have been resized to keeps the patch grid and geometry identical; images up to
        2 × that size decode exactly as before, larger ones differ by a few grey levels (object masks
        IoU > 0.98, tests/test_speed_paths.py). A 12000² photo no longer needs full-size copies.
        """
        import cv2

        max_side = self.settings.max_side
        if not max_side:
            rgb = file.decode()
            return rgb, tuple(rgb.shape[:2])
        full_hw = _upright_size(file)
        rgb = file.decode(max_side=DECODE_OVERSAMPLING * max_side)
        shape = tuple(rgb.shape[:2])
        if full_hw is None or sorted(shape) == sorted(full_hw):
            full_hw = shape  # not reduced (or no readable header): the decode is the truth
        elif (shape[0] > shape[1]) != (full_hw[0] > full_hw[1]):
            full_hw = (full_hw[1], full_hw[0])  # EXIF rotation read differently by the decoder
        target = resized_hw(full_hw, max_side)
        if tuple(rgb.shape[:2]) != target:
            rgb = cv2.resize(rgb, (target[1], target[0]), interpolation=cv2.INTER_AREA)
        return rgb, full_hw

    # -- steps ---------------------------------------------------------------------------------

    def _use_device(self, ctx: JobContext | None) -> torch.device:
        device = ctx.device if ctx is not None else self.device
        if self.backbone.device != device:
            self.backbone.to(device)  # e.g. the engine's CPU retry after a CUDA OOM
        return device

    def _spectra(self, feats: list[PatchFeatures], device: torch.device, ctx: JobContext | None
                 ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Eigenpairs and segment maps, batched over images that share a grid size."""
        import cv2

        s = self.settings
        passes = knn_passes(s.knn_neighbors)
        groups: dict[tuple[int, int], list[int]] = {}
        for j, f in enumerate(feats):
            groups.setdefault(f.grid_hw, []).append(j)
        out: list = [None] * len(feats)
        for (h, w), idx in groups.items():
            k = min(s.n_eigenvectors, h * w)
            graphs = []
            for j in idx:
                keys = torch.from_numpy(feats[j].keys).to(device).reshape(h * w, -1)
                cell_rgb = cv2.resize(feats[j].input_rgb, (w, h), interpolation=cv2.INTER_AREA)
                graphs.append(spectral_affinity(keys, cell_rgb.reshape(h, w, 3), s.knn_weight, passes))
            if ctx:
                ctx.check_cancelled()
            values, vectors = laplacian_eigs(torch.stack(graphs), k, seed=s.seed)
            labels = segment_batch(vectors, (h, w), s.n_segments, seed=s.seed)
            for b, j in enumerate(idx):
                out[j] = (values[b].cpu().numpy().astype(np.float32),
                          vectors[b].cpu().numpy().astype(np.float32).reshape(k, h, w), labels[b])
        return out

    def _finish(self, path: Path, rgb: np.ndarray, feats: PatchFeatures, values: np.ndarray,
                vectors: np.ndarray, labels: np.ndarray, device: torch.device, image_sha1: str = "",
                on_partial: Callable[[FirstResult], None] | None = None) -> ImageAnalysis:
        """``rgb``: the image at full size or at the working size (``max_side``), both work."""
        s = self.settings
        geometry = GridGeometry.for_patches(feats.image_hw, feats.grid_hw, feats.patch_size, s.max_side)
        fiedler = vectors[1] if len(vectors) > 1 else vectors[0]
        loc = localize(fiedler, geometry)
        patch_mask = object_patch_mask(fiedler)
        if on_partial is not None:
            on_partial(FirstResult(path, tuple(feats.image_hw), tuple(feats.grid_hw), geometry.cell_hw, values,
                                   vectors, loc.box, patch_mask, labels.astype(np.int32), image_sha1))
        mask = object_mask(rgb, patch_mask, geometry, s.max_side, crf=s.crf)
        seg_feats = segment_features(feats.tokens, labels, s.n_segments)
        alpha = None
        if s.matting:
            keys = torch.from_numpy(feats.keys).to(device)
            alpha = compute_alpha(keys, feats.input_rgb, mask, geometry, s.matting_max_side, s.knn_weight,
                                  knn_passes(s.knn_neighbors))
        return ImageAnalysis(
            path=path, image_hw=tuple(feats.image_hw), grid_hw=tuple(feats.grid_hw), eigenvalues=values,
            eigenvectors=vectors, box=loc.box, object_mask=mask, segment_labels=labels.astype(np.int32),
            segment_features=seg_feats, alpha=alpha,
            proposals=build_proposals(mask, labels, s.n_segments, geometry, values),
            cell_hw=geometry.cell_hw, image_sha1=image_sha1)


def _upright_size(file: ImageFile) -> tuple[int, int] | None:
    """(H, W) of the EXIF-upright image from the header of the bytes already read (None if unreadable)."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(file.data)) as img:
            w, h = img.size
            try:
                orientation = img.getexif().get(0x0112, 1)
            except Exception:  # noqa: BLE001 - a broken EXIF block: pixels as stored
                orientation = 1
    except Exception:  # noqa: BLE001 - the decode reports the real error
        return None
    return (w, h) if orientation in (5, 6, 7, 8) else (h, w)


# ----------------------------------------------------------------------------------------------
# Persistence


class AnalysisStore:
    """ImageAnalysis on disk (.npz per image, atomic write) so dataset clustering and the app reuse results."""

    VERSION = 1

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def key(self, path: Path, settings: SpectralSettings, image_sha1: str = "") -> str:
        """Image bytes + every setting + backbone identity (a re-trained checkpoint gets new entries).

        ``image_sha1``: the file's content hash when the caller has already read it (else it is read here).
        """
        spec = settings.backbone_spec()
        identity = spec.identity if (spec.checkpoint is None or Path(spec.checkpoint).exists()) else spec.checkpoint
        text = json.dumps({"img": image_sha1 or content_hash(path), "settings": asdict(settings), "backbone": identity,
                           "v": self.VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()

    def _file(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def _entry(self, path: Path, settings: SpectralSettings, image_sha1: str) -> tuple[Path | None, str]:
        """(the entry's file if it exists, else None; the image hash used for its key)."""
        image_sha1 = image_sha1 or content_hash(path)
        file = self._file(self.key(path, settings, image_sha1))
        return (file if file.exists() else None), image_sha1

    @staticmethod
    def _geometry(z) -> GridGeometry:
        return GridGeometry(tuple(int(v) for v in z["image_hw"]), tuple(int(v) for v in z["grid_hw"]),
                            tuple(float(v) for v in z["cell_hw"]))

    def get(self, path: Path, settings: SpectralSettings, image_sha1: str = "") -> ImageAnalysis | None:
        file, image_sha1 = self._entry(path, settings, image_sha1)
        if file is None:
            return None
        try:
            with np.load(file) as z:
                geometry = self._geometry(z)
                image_hw = geometry.image_hw
                labels = z["segment_labels"].astype(np.int32)
                mask = np.unpackbits(z["object_mask"], count=image_hw[0] * image_hw[1]).reshape(image_hw)
                alpha = z["alpha"].astype(np.float32) if bool(z["has_alpha"]) else None
                values = z["eigenvalues"].astype(np.float32)
                return ImageAnalysis(
                    path=Path(path), image_hw=image_hw, grid_hw=geometry.grid_hw, eigenvalues=values,
                    eigenvectors=z["eigenvectors"].astype(np.float32),
                    box=tuple(int(v) for v in z["box"]), object_mask=mask.astype(bool), segment_labels=labels,
                    segment_features=z["segment_features"].astype(np.float32), alpha=alpha,
                    proposals=build_proposals(mask.astype(bool), labels, settings.n_segments, geometry, values),
                    cell_hw=geometry.cell_hw, image_sha1=image_sha1)
        except Exception:  # half-written or stale entry: a miss, recomputed by the caller
            file.unlink(missing_ok=True)
            return None

    def segments(self, path: Path, settings: SpectralSettings, image_sha1: str = "") -> "SegmentLayout | None":
        """Only what dataset clustering needs of a cached analysis (segment features, patch-grid labels,
        geometry): reads three small members of the entry, never the full-resolution mask or alpha."""
        file, _ = self._entry(path, settings, image_sha1)
        if file is None:
            return None
        try:
            with np.load(file) as z:
                geometry = self._geometry(z)
                return SegmentLayout(Path(path), z["segment_features"].astype(np.float32),
                                     z["segment_labels"].astype(np.int32), geometry)
        except Exception:  # noqa: BLE001 - unreadable entry: a miss (get() removes it)
            return None

    def put(self, analysis: ImageAnalysis, settings: SpectralSettings) -> None:
        file = self._file(self.key(analysis.path, settings, analysis.image_sha1))
        geometry = analysis.geometry
        alpha = analysis.alpha

        def write(f) -> None:
            np.savez_compressed(
                f, image_hw=np.asarray(analysis.image_hw), grid_hw=np.asarray(analysis.grid_hw),
                cell_hw=np.asarray(geometry.cell_hw, np.float64), eigenvalues=analysis.eigenvalues,
                eigenvectors=analysis.eigenvectors, box=np.asarray(analysis.box),
                object_mask=np.packbits(analysis.object_mask.ravel()),
                segment_labels=analysis.segment_labels, segment_features=analysis.segment_features,
                has_alpha=np.asarray(alpha is not None),
                alpha=alpha if alpha is not None else np.zeros((0,), np.float32))

        try:
            atomic_write(file, write)
        except OSError as exc:  # disk full: the cache is an optimisation, the analysis is still returned
            log.warning("analysis cache not written (%s): %s", file, describe_os_error(exc))


# ----------------------------------------------------------------------------------------------
# Dataset-wide semantic clustering


@dataclass(frozen=True)
class SegmentLayout:
    """The per-image input of dataset clustering: a few KB instead of a full-resolution analysis."""

    path: Path
    segment_features: np.ndarray  # (n_segments, D) float32
    segment_labels: np.ndarray  # int32 (h, w)
    geometry: GridGeometry

    @classmethod
    def of(cls, a: ImageAnalysis) -> "SegmentLayout":
        return cls(Path(a.path), a.segment_features, a.segment_labels, a.geometry)

    @property
    def valid(self) -> np.ndarray:
        """bool (n_segments,): segments that own at least one patch."""
        n = len(self.segment_features)
        return np.bincount(self.segment_labels.ravel(), minlength=n)[:n] > 0


def semantic_proposals(record: SegmentLayout | ImageAnalysis, clusters: np.ndarray,
                       separate_background: bool = True) -> list[Proposal]:
    """"dsm.semantic" proposals of one image from its per-segment cluster ids (−1 = none): one
    full-res bool mask per cluster present, upsampled per cluster (no full-res label map)."""
    if isinstance(record, ImageAnalysis):
        record = SegmentLayout.of(record)
    lut = np.where(clusters >= 0, clusters, -1)
    cluster_grid = lut[record.segment_labels]
    props = []
    for c in sorted(int(c) for c in np.unique(cluster_grid) if c >= 0):
        mask = record.geometry.upsample_nearest(cluster_grid == c)
        if not mask.any():
            continue
        name = "background" if separate_background and c == 0 else f"cluster {c}"
        props.append(Proposal(mask, SOURCE_SEMANTIC, label=c, score=1.0, name=name))
    return props


def cluster_dataset(analyses: Sequence[ImageAnalysis], n_clusters: int, seed: int = 0,
                    separate_background: bool = True, device: torch.device | str = "cpu"
                    ) -> dict[Path, list[Proposal]]:
    """Dataset-wide k-means of segment features (DSM semantic step) → "dsm.semantic" proposals.

    With ``separate_background`` (DSM) every image's background segment is cluster 0 and the other
    segments share clusters 1..n_clusters−1. One proposal per (image, cluster) present, label = cluster
    id, full-res bool mask.
    """
    if not analyses:
        raise ValueError("cluster_dataset: no analysed images to cluster")
    valid = [np.bincount(a.segment_labels.ravel(), minlength=len(a.segment_features))[:len(a.segment_features)] > 0
             for a in analyses]
    assignment = cluster_segment_features([a.segment_features for a in analyses], valid, n_clusters, seed,
                                          separate_background, device)
    return {a.path: semantic_proposals(a, clusters, separate_background) for a, clusters in zip(analyses, assignment)}
