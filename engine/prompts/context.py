"""Per-image state of prompted refinement, built once and reused by every click.

Formulation (random walker with priors, Grady 2005/2006, solved with one fixed factorisation):

    minimise  xᵀ L x + γ ‖x − p‖²   subject to   mean(x over click disk c) = b_c   for every click c

L is the pixel-graph Laplacian, p the per-click appearance prior (:mod:`.unary`), b_c = 1 / 0 for
positive / negative clicks. With A = L + γI the solution is ``x = A⁻¹γp + Σ_c μ_c A⁻¹ d_c`` (d_c the
disk indicator, μ from a tiny |clicks|×|clicks| system). A never changes with the prompts, so it is
LU-factorised once per image (and once per box: a box is Dirichlet 0 outside, i.e. the principal
sub-matrix of A on the box). A click costs one triangular solve for its Green's function
``A⁻¹ d_c`` (cached) plus one per appearance-model iteration — instead of a fresh factorisation or
an un-warm CG run for every changed seed set.

The factors are single precision: a triangular solve streams the whole of L and U from memory, so
float32 halves the time (measured 2.2× on a 68k-node grid). A is diagonally dominant with condition
≈ (max degree + γ)/γ < 10³, so the solutions differ from float64 by ~1e-5 relative — far below
anything the 0.5 threshold of the mask can see (``tests/test_prompts.py`` bounds it;
``RefineSettings.single_precision=False`` keeps float64).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu

from ..features import PatchFeatures
from .graph import build_graph, geodesic_ball, geodesic_lengths, patch_similarity, to_lab
from .types import Box
from .unary import colour_bins
from .upsample import GuidedFilter, planes


@dataclass(frozen=True)
class RefineSettings:
    """Knobs of the method (defaults tuned on sod_bsds / weizmann_horse, see docs/methods.md)."""

    max_side: int = 320  # working resolution (long side) of the graph
    beta_scale: float = 1.5  # contrast sensitivity: β = beta_scale / mean ‖ΔLab‖²
    edge_floor: float = 1e-4  # minimum edge weight (keeps the graph connected across hard edges)
    gamma: float = 1e-2  # weight of the appearance prior relative to edge weights (≈ 1/reach²)
    feature_weight: float = 0.3  # μ of the ViT term (edges and unary); ignored without features
    click_radius: float = 2.5  # click disk radius, working pixels
    geodesic_radius: float = 8.0  # clicks pin their geodesic ball of this radius (0 = the disk only)
    geodesic_colour: float = 2.0  # ΔLab that doubles a step's geodesic length
    iterations: int = 3  # appearance-model refits per refinement (each = one solve)
    colour_smooth: int = 3  # box smoothing of the colour histograms (bins)
    seed_share: float = 0.02  # histogram mass of one click, as a share of the image's pixels
    prior_weight: float = 0.5  # share of a given prior mask (a segment being refined) in p
    previous_weight: float = 0.3  # share of the previous click's mask in p (see refine's ``previous``)
    filter_radius: int = 2  # guided filter window radius (working pixels)
    filter_eps: float = 1e-3
    cache_columns: int = 256  # Green's functions kept per image (≈ N·4 bytes each)
    single_precision: bool = True  # float32 factors (see the module docstring); False: float64


@dataclass
class _Domain:
    nodes: np.ndarray | None  # working-pixel ids of the domain (None = whole image)
    lu: object  # scipy SuperLU of the domain's A
    dtype: type  # of the factors: np.float32, or np.float64 (RefineSettings.single_precision=False)
    columns: "OrderedDict[tuple, np.ndarray]" = field(default_factory=OrderedDict)

    @property
    def size(self) -> int:
        return self.lu.shape[0]


@dataclass(frozen=True)
class PromptContext:
    """Working image, graph and factorisations of one image (build with :meth:`build`).

    Immutable apart from internal memo caches (Green's functions, box factorisations), which are
    guarded by a lock so the app's worker thread and a test can share a context.
    """

    image_hw: tuple[int, int]
    work_hw: tuple[int, int]
    work_rgb: np.ndarray  # uint8 (h, w, 3)
    lab: np.ndarray  # float32 (h, w, 3)
    bins: np.ndarray  # (h·w,) colour histogram bin per pixel
    full_guide: np.ndarray  # float32 (3, H, W) colour planes in [0, 1]
    guided: GuidedFilter
    matrix: sp.csc_matrix  # A = L + γI
    settings: RefineSettings
    patch_of: np.ndarray | None = None  # pixel → patch (with features)
    keys: np.ndarray | None = None  # normalised patch keys (P, C)
    lengths: sp.csr_matrix | None = None  # geodesic edge lengths (clicks' seed regions)
    _domains: dict = field(default_factory=dict, repr=False, compare=False)
    _balls: dict = field(default_factory=dict, repr=False, compare=False)
    _guides: dict = field(default_factory=dict, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @staticmethod
    def build(rgb: np.ndarray, patch_features: PatchFeatures | None = None,
              settings: RefineSettings | None = None) -> "PromptContext":
        """Graph + LU factorisation of ``rgb`` (uint8 H×W×3, full resolution); the slow, cached part."""
        import cv2

        settings = settings or RefineSettings()
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected uint8 (H, W, 3) RGB, got {rgb.dtype} {rgb.shape}")
        hh, ww = rgb.shape[:2]
        scale = min(1.0, settings.max_side / max(hh, ww))
        h, w = max(1, round(hh * scale)), max(1, round(ww * scale))
        work = rgb if (h, w) == (hh, ww) else cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA)
        work = np.ascontiguousarray(work)
        lab = to_lab(work)
        features = patch_features if settings.feature_weight > 0 else None
        graph = build_graph(lab, settings.beta_scale, settings.edge_floor, features, settings.feature_weight)
        n = h * w
        matrix = (graph.laplacian + settings.gamma * sp.identity(n, format="csr")).tocsc()
        patch_of = keys = None
        if features is not None:
            patch_of, keys = patch_similarity(features, (h, w))
        guided = GuidedFilter.build(work.astype(np.float32) / 255.0, settings.filter_radius, settings.filter_eps)
        lengths = geodesic_lengths(lab, settings.geodesic_colour) if settings.geodesic_radius > 0 else None
        ctx = PromptContext((hh, ww), (h, w), work, lab, colour_bins(lab), planes(rgb) / 255.0,
                            guided, matrix, settings, patch_of, keys, lengths)
        ctx.domain(None)  # factorise the whole image now: clicks should only pay for solves
        return ctx

    def guide_at(self, hw: tuple[int, int]) -> np.ndarray:
        """The colour guide of the upsampling at ``hw``: the full-resolution one, or a memoised
        area-resampled one (a preview size; kept for the last size asked)."""
        if tuple(hw) == self.image_hw:
            return self.full_guide
        with self._lock:
            hit = self._guides.get(tuple(hw))
        if hit is None:
            import cv2

            hit = np.stack([cv2.resize(c, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) for c in self.full_guide])
            with self._lock:
                self._guides.clear()
                self._guides[tuple(hw)] = hit
        return hit

    # --- coordinates ---------------------------------------------------------------------------
    @property
    def scale_xy(self) -> tuple[float, float]:
        """Working pixels per image pixel along x and y."""
        return self.work_hw[1] / self.image_hw[1], self.work_hw[0] / self.image_hw[0]

    def box_nodes(self, box: Box) -> np.ndarray:
        """Working-pixel ids inside ``box`` (full-res, inclusive), at least one pixel."""
        sx, sy = self.scale_xy
        h, w = self.work_hw
        x0 = int(np.clip(np.floor(box[0] * sx), 0, w - 1))
        x1 = int(np.clip(np.ceil((box[2] + 1) * sx) - 1, x0, w - 1))
        y0 = int(np.clip(np.floor(box[1] * sy), 0, h - 1))
        y1 = int(np.clip(np.ceil((box[3] + 1) * sy) - 1, y0, h - 1))
        ids = np.arange(h * w).reshape(h, w)
        return ids[y0:y1 + 1, x0:x1 + 1].ravel()

    # --- factorisations and Green's functions --------------------------------------------------
    def domain(self, box: Box | None) -> _Domain:
        """The (cached) factorised domain: whole image, or the box's inside with a zero outside."""
        key = None if box is None else tuple(self.box_nodes(box)[[0, -1]])
        with self._lock:
            dom = self._domains.get(key)
            if dom is None:
                if key is None:
                    nodes, sub = None, self.matrix
                else:
                    nodes = self.box_nodes(box)
                    sub = self.matrix[nodes][:, nodes].tocsc()
                # A is symmetric: a symmetric ordering on A + Aᵀ fills in much less than COLAMD.
                dtype = np.float32 if self.settings.single_precision else np.float64
                lu = splu(sub.astype(dtype), permc_spec="MMD_AT_PLUS_A", options={"SymmetricMode": True})
                dom = _Domain(nodes, lu, dtype)
                if key is not None and len(self._domains) >= 3:  # keep the image and two boxes
                    for k in [k for k in self._domains if k is not None][:1]:
                        del self._domains[k]
                self._domains[key] = dom
            return dom

    def grow_click(self, nodes: np.ndarray) -> np.ndarray:
        """A click disk enlarged to its geodesic ball (see :func:`.graph.geodesic_ball`); memoised, as
        every refinement re-derives the seeds of all earlier clicks (a Dijkstra run costs ~3 ms)."""
        if self.lengths is None:
            return nodes
        key = tuple(int(v) for v in nodes)
        with self._lock:
            ball = self._balls.get(key)
        if ball is None:
            ball = geodesic_ball(self.lengths, nodes, self.settings.geodesic_radius)
            with self._lock:
                self._balls[key] = ball
        return ball

    def solve(self, dom: _Domain, rhs: np.ndarray) -> np.ndarray:
        """A⁻¹ rhs for one right-hand side (n,) or several side by side (n, k)."""
        return dom.lu.solve(np.asarray(rhs, dtype=dom.dtype))

    def greens(self, dom: _Domain, seed_nodes: list[np.ndarray],
               rhs: np.ndarray | None = None) -> tuple[list[np.ndarray], np.ndarray | None]:
        """Green's functions ``A⁻¹ d`` of the indicators of ``seed_nodes`` (domain-local ids, memoised
        per seed set), and ``A⁻¹ rhs`` when given.

        Every column not yet cached is solved together with ``rhs`` in one multi-column solve: the
        triangular factors are streamed from memory once for all of them (a new click and the first
        solve of its refinement cost about one solve, not two).
        """
        keys = [tuple(int(v) for v in nodes) for nodes in seed_nodes]
        with self._lock:
            found = {k: dom.columns[k] for k in keys if k in dom.columns}
            for k in found:
                dom.columns.move_to_end(k)
        missing = list(dict.fromkeys(k for k in keys if k not in found))
        extra = None
        if missing or rhs is not None:
            block = np.zeros((dom.size, len(missing) + (rhs is not None)), dom.dtype)
            for j, k in enumerate(missing):
                block[list(k), j] = 1.0
            if rhs is not None:
                block[:, -1] = rhs
            solved = self.solve(dom, block)
            found.update((k, np.ascontiguousarray(solved[:, j])) for j, k in enumerate(missing))
            extra = solved[:, -1] if rhs is not None else None
            with self._lock:
                for k in missing:
                    dom.columns[k] = found[k]
                while len(dom.columns) > self.settings.cache_columns:
                    dom.columns.popitem(last=False)
        return [found[k] for k in keys], extra
