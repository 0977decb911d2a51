"""Graph affinities of Deep Spectral Methods.

* Feature affinity ``W_feat = relu(f fᵀ)`` on L2-normalised ViT keys: patches of the same object have
  positively correlated keys; negative correlations carry no grouping information, so they are cut.
* KNN colour affinity (KNN matting, Chen et al.): each cell is linked to its nearest neighbours in a
  colour + position space, which snaps segment borders to colour edges. We use the HSV cone
  (s·cos h, s·sin h, v) so the unstable hue of grey pixels does not matter, plus weighted (x, y) in
  [0, 1]. Two passes as in DSM: many spatially local neighbours, then few long-range colour ones.

The dense graph is built batched in torch (GPU when present); the KNN search is a KD-tree on CPU (5-D,
at most a few thousand points: milliseconds) and its sparse result is scattered onto the device.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

#: DSM's two KNN passes: (neighbours, xy weight). Scaled by ``knn_neighbors / 10`` in the pipeline.
DEFAULT_KNN_PASSES: tuple[tuple[int, float], ...] = ((20, 2.0), (10, 0.1))


def feature_affinity(keys: torch.Tensor) -> torch.Tensor:
    """``relu(f fᵀ)`` of L2-normalised features: (N, C) → (N, N) or batched (B, N, C) → (B, N, N)."""
    f = F.normalize(keys.float(), dim=-1)
    return (f @ f.transpose(-1, -2)).clamp_min_(0.0)


def hsv_xy_features(rgb: np.ndarray, xy_weight: float) -> np.ndarray:
    """(h, w, 3) uint8 → (h·w, 5) float32 [s·cos h, s·sin h, v, wx·x, wx·y], x/y in [0, 1]."""
    import cv2

    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 (h, w, 3) colours, got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3).astype(np.float32)
    hue = hsv[:, 0] * (2 * np.pi / 256.0)
    sat, val = hsv[:, 1] / 255.0, hsv[:, 2] / 255.0
    ys, xs = np.mgrid[0:h, 0:w]
    x = xs.ravel() / max(w - 1, 1)
    y = ys.ravel() / max(h - 1, 1)
    return np.stack([sat * np.cos(hue), sat * np.sin(hue), val, xy_weight * x, xy_weight * y],
                    axis=1).astype(np.float32)


def knn_color_affinity(rgb: np.ndarray,
                       passes: Sequence[tuple[int, float]] = DEFAULT_KNN_PASSES) -> sp.csr_matrix:
    """Symmetric binary KNN affinity (N, N), N = h·w, from per-cell colours ``rgb`` (h, w, 3) uint8.

    Edge i–j exists when j is among i's k nearest neighbours (or vice versa) in any pass; no self loops.
    """
    from scipy.spatial import cKDTree

    h, w = rgb.shape[:2]
    n = h * w
    rows, cols = [], []
    for k, xy_weight in passes:
        k = min(int(k), n - 1)
        if k < 1:
            continue
        feats = hsv_xy_features(rgb, xy_weight)
        _, idx = cKDTree(feats).query(feats, k=k + 1)
        idx = idx.reshape(n, k + 1)
        src = np.repeat(np.arange(n), k + 1)
        dst = idx.ravel()
        keep = src != dst  # drop the point itself (and duplicates of it at distance 0 stay as edges)
        rows.append(src[keep])
        cols.append(dst[keep])
    if not rows:
        return sp.csr_matrix((n, n), dtype=np.float32)
    r, c = np.concatenate(rows), np.concatenate(cols)
    a = sp.csr_matrix((np.ones(len(r), np.float32), (r, c)), shape=(n, n))
    a = a.maximum(a.T).tocsr()
    a.data[:] = 1.0
    return a


def sparse_to_dense(a: sp.spmatrix, device: torch.device | str) -> torch.Tensor:
    """Scatter a scipy sparse matrix into a dense float32 tensor on ``device``."""
    coo = a.tocoo()
    out = torch.zeros(coo.shape, dtype=torch.float32, device=device)
    if coo.nnz:
        r = torch.from_numpy(coo.row.astype(np.int64)).to(device)
        c = torch.from_numpy(coo.col.astype(np.int64)).to(device)
        out.index_put_((r, c), torch.from_numpy(coo.data.astype(np.float32)).to(device), accumulate=True)
    return out


def spectral_affinity(keys: torch.Tensor, cell_rgb: np.ndarray | None, knn_weight: float,
                      passes: Sequence[tuple[int, float]] = DEFAULT_KNN_PASSES) -> torch.Tensor:
    """DSM graph ``W = relu(f fᵀ) + λ_knn · W_knn`` for one image: keys (N, C) → (N, N) on keys' device.

    ``cell_rgb`` (h, w, 3) uint8 holds one colour per node in row-major order (N = h·w).
    """
    w = feature_affinity(keys)
    if knn_weight > 0 and cell_rgb is not None:
        if cell_rgb.shape[0] * cell_rgb.shape[1] != keys.shape[0]:
            raise ValueError(f"{cell_rgb.shape[:2]} colours for {keys.shape[0]} nodes")
        w = w.add_(sparse_to_dense(knn_color_affinity(cell_rgb, passes), keys.device), alpha=knn_weight)
    return w


def knn_passes(knn_neighbors: int) -> tuple[tuple[int, float], ...]:
    """DSM's passes with the neighbour counts scaled so the second pass has ``knn_neighbors``."""
    scale = knn_neighbors / DEFAULT_KNN_PASSES[-1][0]
    return tuple((max(1, round(k * scale)), wxy) for k, wxy in DEFAULT_KNN_PASSES)
