"""Graph affinities of Deep Spectral Methods.

* Feature affinity ``W_feat = relu(f fᵀ)`` on L2-normalised ViT keys: patches of the same object have
  positively correlated keys; negative correlations carry no grouping information, so they are cut.
* KNN colour affinity: DSM's ``knn_affinity`` (``extract/extract_utils.py``, itself pymatting's KNN
  matting graph) reproduced exactly — see :func:`dsm_knn_affinity`.

The dense graph is built batched in torch (GPU when present); the KNN search is a KD-tree on CPU (5-D,
at most a few thousand points: milliseconds) and its sparse result is scattered onto the device.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

#: DSM's two KNN passes ``zip(n_neighbors=[20, 10], distance_weights=[2.0, 0.1])``: (k, xy weight).
DEFAULT_KNN_PASSES: tuple[tuple[int, float], ...] = ((20, 2.0), (10, 0.1))


def feature_affinity(keys: torch.Tensor) -> torch.Tensor:
    """``relu(f fᵀ)`` of L2-normalised features: (N, C) → (N, N) or batched (B, N, C) → (B, N, N)."""
    f = F.normalize(keys.float(), dim=-1)
    return (f @ f.transpose(-1, -2)).clamp_min_(0.0)


def hsv_xy_features(rgb: np.ndarray, xy_weight: float) -> np.ndarray:
    """(h, w, 3) uint8 → (h·w, 5) float32 [s·cos h, s·sin h, v, wx·x, wx·y], x/y in [0, 1].

    Used by the matting graph's neighbour contrast (hue of grey pixels does not matter in the HSV cone).
    """
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


def dsm_knn_affinity(image: np.ndarray, n_neighbors: Sequence[int] = (20, 10),
                     distance_weights: Sequence[float] = (2.0, 0.1)) -> sp.csr_matrix:
    """DSM's ``knn_affinity(image, n_neighbors, distance_weights)``, value for value.

    ``image`` (h, w, 3) float, as DSM passes it (RGB / 255). Per pass, every pixel gets the features
    ``[r, g, b, d·x, d·y]`` (float32, x = ``linspace(0, 1, w)`` per column, y = ``linspace(0, 1, h)``
    per row) and its ``k`` exact nearest neighbours *including itself*; the edges (i, j) and (j, i)
    of all passes are summed into one sparse matrix (duplicates add up). So W is symmetric with
    ``W_ii = 2·passes`` and ``W_ij`` counting how often j was a neighbour of i or i of j.
    ``k`` is capped at the number of pixels (DSM's images are always larger).
    """
    from scipy.spatial import cKDTree

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an (h, w, 3) image, got {image.shape}")
    h, w = image.shape[:2]
    n = h * w
    r, g, b = image.reshape(-1, 3).T
    x = np.tile(np.linspace(0, 1, w), h)
    y = np.repeat(np.linspace(0, 1, h), w)
    i, j = [], []
    for k, distance_weight in zip(n_neighbors, distance_weights):
        k = min(int(k), n)
        if k < 1:
            continue
        f = np.stack([r, g, b, distance_weight * x, distance_weight * y], axis=1,
                     out=np.zeros((n, 5), dtype=np.float32))
        _, neighbors = cKDTree(f).query(f, k=k)
        i.append(np.repeat(np.arange(n), k))
        j.append(np.asarray(neighbors).reshape(n, k).ravel())
    if not i:
        return sp.csr_matrix((n, n), dtype=np.float64)
    ij = np.concatenate(i + j)
    ji = np.concatenate(j + i)
    return sp.csr_matrix((np.ones(len(ij)), (ij, ji)), (n, n))


def knn_color_affinity(rgb: np.ndarray,
                       passes: Sequence[tuple[int, float]] = DEFAULT_KNN_PASSES) -> sp.csr_matrix:
    """DSM's KNN colour graph (N, N), N = h·w, of per-cell colours ``rgb`` (h, w, 3) uint8.

    The image is scaled to [0, 1] as DSM's ``extract_eigs`` does (``np.array(image_lr) / 255.``) and
    handed to :func:`dsm_knn_affinity`; ``passes`` are (k, xy weight) pairs.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 (h, w, 3) colours, got {rgb.dtype} {rgb.shape}")
    return dsm_knn_affinity(rgb / 255.0, [k for k, _ in passes], [wxy for _, wxy in passes])


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
