"""Pixel graph of the working-resolution image: 8-neighbour edges weighted by colour contrast (Lab)
and, when ViT patch features are given, damped across feature edges.

Why these terms: Lab distances follow perceived colour differences, so an exp(−β‖ΔLab‖²) weight
(random walker, Grady 2006; β adapted to the image's mean contrast as in GrabCut) makes walks stay
inside regions of homogeneous colour. Long-range colour affinity (KNN matting) is deliberately *not*
an edge term here: its random long edges destroy the sparsity of the LU factors (measured: several
times more fill and slower solves), and the same "same colour → same label" reasoning is supplied
by the per-click colour model in :mod:`.unary`, which costs one histogram instead of graph edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..features import PatchFeatures

#: 8-neighbourhood as (dy, dx) with each unordered pair once; diagonals get 1/√2 (Boykov & Jolly).
_OFFSETS: tuple[tuple[int, int, float], ...] = ((0, 1, 1.0), (1, 0, 1.0), (1, 1, 2**-0.5), (1, -1, 2**-0.5))


@dataclass(frozen=True)
class PixelGraph:
    """Sparse symmetric affinity ``weights`` (N, N), N = h·w, of the working image (row-major)."""

    weights: sp.csr_matrix
    hw: tuple[int, int]

    @property
    def laplacian(self) -> sp.csr_matrix:
        deg = np.asarray(self.weights.sum(axis=1)).ravel()
        return (sp.diags(deg) - self.weights).tocsr()


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (h, w, 3) → float32 CIE Lab (L in [0, 100], a/b about [−128, 127])."""
    import cv2

    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)


def _edges(h: int, w: int):
    ids = np.arange(h * w).reshape(h, w)
    for dy, dx, length in _OFFSETS:
        src = ids[: h - dy, max(0, -dx): w - max(0, dx)].ravel()
        dst = ids[dy:, max(0, dx): w - max(0, -dx)].ravel()
        yield src, dst, length


def patch_similarity(features: PatchFeatures, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Per working pixel: its patch index, and the L2-normalised patch keys (P, C).

    Working pixels map to the patch they fall in on the ViT input (resized + cropped to the patch
    grid); pixels beyond the cropped grid take the last patch row/column.
    """
    gh, gw = features.grid_hw
    keys = features.keys.reshape(gh * gw, -1).astype(np.float32)
    keys = keys / np.maximum(np.linalg.norm(keys, axis=1, keepdims=True), 1e-12)
    ih, iw = features.input_rgb.shape[:2]
    # The ViT input is the image resized by s = input/original (before cropping to the grid).
    full_h, full_w = features.image_hw
    # Cropping removes < patch_size pixels: a long side within that margin was not resized at all.
    long_full, long_in = max(full_h, full_w), max(ih, iw)
    s = 1.0 if long_full < long_in + features.patch_size else long_in / long_full
    h, w = hw
    ys = (np.arange(h) + 0.5) * (full_h / h) * s / features.patch_size
    xs = (np.arange(w) + 0.5) * (full_w / w) * s / features.patch_size
    py = np.clip(ys.astype(int), 0, gh - 1)
    px = np.clip(xs.astype(int), 0, gw - 1)
    patch_of = (py[:, None] * gw + px[None, :]).ravel()
    return patch_of, keys


def build_graph(lab: np.ndarray, beta_scale: float = 0.5, floor: float = 1e-4,
                features: PatchFeatures | None = None, feature_weight: float = 0.0) -> PixelGraph:
    """Affinity of the working image ``lab`` (h, w, 3 float32 Lab).

    ``w = (exp(−β‖ΔLab‖²) + floor) · ((1 − μ) + μ · relu(cos(f_i, f_j)))`` with β = beta_scale / mean
    ‖ΔLab‖² and μ = ``feature_weight`` (0 without features). Pixels in the same patch have cos = 1,
    so the feature factor only acts across patch borders whose keys differ; a small μ keeps noisy
    (random-weight) features from cutting the graph at random.
    """
    h, w = lab.shape[:2]
    flat = lab.reshape(-1, 3)
    pairs = list(_edges(h, w))
    d2 = [((flat[s] - flat[d]) ** 2).sum(1) for s, d, _ in pairs]
    mean_d2 = float(np.mean(np.concatenate(d2))) if d2 and sum(len(x) for x in d2) else 1.0
    beta = beta_scale / max(mean_d2, 1e-6)
    patch_of = keys = None
    mu = float(np.clip(feature_weight, 0.0, 1.0)) if features is not None else 0.0
    if mu > 0:
        patch_of, keys = patch_similarity(features, (h, w))
    rows, cols, vals = [], [], []
    for (src, dst, length), dd in zip(pairs, d2):
        v = (np.exp(-beta * dd) + floor) * length
        if mu > 0:
            ps, pd = patch_of[src], patch_of[dst]
            cos = np.maximum((keys[ps] * keys[pd]).sum(1), 0.0)
            v = v * ((1.0 - mu) + mu * cos)
        rows.append(src)
        cols.append(dst)
        vals.append(v)
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    n = h * w
    weights = sp.csr_matrix((np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                            shape=(n, n))
    return PixelGraph(weights.tocsr(), (h, w))


def geodesic_lengths(lab: np.ndarray, colour_scale: float = 2.0) -> sp.csr_matrix:
    """Edge lengths ``|Δxy| · (1 + ‖ΔLab‖ / colour_scale)`` of the 8-neighbour graph (symmetric).

    A click's seed region is the geodesic ball around it: in a flat region it is a generous disk,
    near a colour edge it stops at the edge, so a click pins as much as it safely can.
    """
    h, w = lab.shape[:2]
    flat = lab.reshape(-1, 3)
    rows, cols, vals = [], [], []
    for src, dst, length in _edges(h, w):
        de = np.sqrt(((flat[src] - flat[dst]) ** 2).sum(1))
        rows.append(src)
        cols.append(dst)
        vals.append((1.0 / length) * (1.0 + de / colour_scale))  # 1/length = spatial step (1 or √2)
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    n = h * w
    return sp.csr_matrix((np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                         shape=(n, n))


def geodesic_ball(lengths: sp.csr_matrix, centre: np.ndarray, radius: float) -> np.ndarray:
    """Node ids within geodesic ``radius`` of any node in ``centre`` (sorted; includes ``centre``)."""
    from scipy.sparse.csgraph import dijkstra

    if radius <= 0:
        return np.sort(np.asarray(centre))
    # ``lengths`` is symmetric, so directed=True gives the same distances without scipy building
    # the transpose on every call
    dist = dijkstra(lengths, directed=True, indices=np.asarray(centre), limit=radius, min_only=True)
    return np.nonzero(np.isfinite(dist))[0]
