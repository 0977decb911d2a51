"""Soft object alpha on a grid finer than the patches (DSM's "matting" mode made into an alpha).

DSM's matting mode builds its graph on a finer grid (features bilinearly upsampled, plus the KNN colour
affinity that makes borders follow colour edges) but stops at soft eigenvectors. To turn that graph into
an alpha matte we use random-walker / KNN-matting interpolation (Grady 2005; Chen et al. 2013):

* a trimap from the object mask: cells well inside it are 1, cells well outside are 0, a band of about
  one patch around the border is unknown;
* the graph is DSM's (upsampled-key affinity + λ·KNN colour), with the feature term limited to
  neighbouring cells (see :func:`local_matting_graph`);
* the unknown alphas minimise αᵀ L α with L = D − W, i.e. ``L_UU α_U = W_UK α_K`` — a harmonic
  function on the graph, so every alpha lies in [0, 1] (maximum principle) and follows the affinity.

The graph is sparse (window + KNN), so the solve is a sparse SPD system of at most a few thousand
unknowns: Jacobi-preconditioned CG in scipy, milliseconds on CPU (a GPU would gain nothing). The
fine-grid alpha is bilinearly upsampled to full resolution.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from scipy import ndimage

from .affinity import DEFAULT_KNN_PASSES, hsv_xy_features, knn_color_affinity
from .geometry import GridGeometry

#: Spatial reach (fine cells) of the feature term in the matting graph.
FEATURE_RADIUS = 1

#: Colour contrast (HSV-cone units) at which neighbour edges fade: exp(-|Δc|² / 2σ²).
COLOUR_SIGMA = 0.1

#: Fine-grid cell size in pixels of the image resized to ``matting_max_side`` (DSM used 8 or 4).
MATTING_CELL_PX = 4


def refine_factor(grid_hw: tuple[int, int], matting_max_side: int) -> int:
    """Sub-cells per patch cell so the fine grid's long side is about matting_max_side / 4."""
    return max(1, round(matting_max_side / MATTING_CELL_PX / max(grid_hw)))


def trimap(prior: np.ndarray, band: int) -> tuple[np.ndarray, np.ndarray]:
    """Known-foreground and known-background cells of a bool fine-grid mask (band = unknown radius).

    When erosion would remove one side completely the un-eroded side is kept as known, so thin objects
    (or a thin background) still anchor the solve.
    """
    se = np.ones((3, 3), bool)
    fg = ndimage.binary_erosion(prior, se, iterations=band, border_value=1) if band > 0 else prior.copy()
    bg = ndimage.binary_erosion(~prior, se, iterations=band, border_value=1) if band > 0 else ~prior
    if not fg.any():
        fg = prior.copy()
    if not bg.any():
        bg = ~prior
    return fg, bg


def harmonic_alpha(w: sp.spmatrix, known_fg: np.ndarray, known_bg: np.ndarray) -> np.ndarray:
    """Random-walker alpha (N,) float32 on sparse affinity ``w`` (N, N) from bool known-fg/bg node sets."""
    from scipy.sparse.linalg import cg

    alpha = known_fg.astype(np.float64)
    known = known_fg | known_bg
    unknown = ~known
    if not unknown.any() or not known.any():
        return alpha.astype(np.float32)
    w = sp.csr_matrix(w, dtype=np.float64)
    deg = np.asarray(w.sum(axis=1)).ravel()
    u_idx, k_idx = np.nonzero(unknown)[0], np.nonzero(known)[0]
    ridge = 1e-6 * max(float(deg[u_idx].mean()), 1e-6)  # isolated unknown cells stay solvable
    l_uu = sp.diags(deg[u_idx] + ridge) - w[u_idx][:, u_idx]
    rhs = w[u_idx][:, k_idx] @ alpha[k_idx]
    # SPD system; Jacobi-preconditioned CG avoids the fill-in that long-range KNN edges cause in LU.
    diag = l_uu.diagonal()
    precond = sp.diags(1.0 / diag)
    x0 = np.clip(rhs / diag, 0.0, 1.0)
    sol, _ = cg(l_uu.tocsr(), rhs, x0=x0, rtol=1e-6, maxiter=2000, M=precond)
    alpha[u_idx] = np.clip(sol, 0.0, 1.0)  # the exact solution is already in [0, 1]
    return alpha.astype(np.float32)


def local_matting_graph(fine_keys: np.ndarray, fine_rgb: np.ndarray, knn_weight: float,
                        passes: Sequence[tuple[int, float]], radius: int = FEATURE_RADIUS) -> sp.csr_matrix:
    """DSM matting graph (sparse) with the feature term kept to a small spatial window.

    A dense feature graph is right for eigenvectors (global grouping) but makes the harmonic solve a
    global average: every unknown cell would be pulled by thousands of similar far-away cells and the
    alpha would blur. Restricted to ±``radius`` cells, features smooth locally and the KNN colour
    edges decide where the border falls. Neighbour edges are also damped across colour edges
    (random-walker weight exp(−|Δc|²/2σ²)), so smooth upsampled features cannot blur a sharp border.
    ``fine_keys`` (h, w, C), ``fine_rgb`` (h, w, 3) uint8.
    """
    h, w = fine_rgb.shape[:2]
    n = h * w
    f = fine_keys.reshape(n, -1).astype(np.float32)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    colours = hsv_xy_features(fine_rgb, 0.0)[:, :3]
    ids = np.arange(n).reshape(h, w)
    rows, cols, vals = [], [], []
    for dy in range(0, radius + 1):
        for dx in range(-radius, radius + 1):
            if dy == 0 and dx <= 0:
                continue  # each unordered pair once
            src = ids[: h - dy, max(0, -dx): w - max(0, dx)].ravel()
            dst = ids[dy:, max(0, dx): w - max(0, -dx)].ravel()
            sim = np.maximum((f[src] * f[dst]).sum(1), 0.0)
            contrast = np.exp(-((colours[src] - colours[dst]) ** 2).sum(1) / (2 * COLOUR_SIGMA**2))
            rows.append(src)
            cols.append(dst)
            vals.append(sim * contrast)
    r, c, v = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    graph = sp.csr_matrix((np.concatenate([v, v]), (np.concatenate([r, c]), np.concatenate([c, r]))),
                          shape=(n, n))
    if knn_weight > 0:
        graph = graph + knn_weight * knn_color_affinity(fine_rgb, passes)
    return graph.tocsr()


def compute_alpha(keys: torch.Tensor, input_rgb: np.ndarray, object_mask: np.ndarray,
                  geometry: GridGeometry, matting_max_side: int, knn_weight: float,
                  passes: Sequence[tuple[int, float]] = DEFAULT_KNN_PASSES) -> np.ndarray:
    """float32 (H, W) alpha in [0, 1] of ``object_mask`` (bool, full res).

    ``keys`` (h, w, C) on the compute device; ``input_rgb`` the image as fed to the ViT (h·P, w·P, 3).
    """
    import cv2

    if not object_mask.any():
        return np.zeros(geometry.image_hw, np.float32)
    if object_mask.all():
        return np.ones(geometry.image_hw, np.float32)
    factor = refine_factor(geometry.grid_hw, matting_max_side)
    fine = geometry.refined(factor)
    hf, wf = fine.grid_hw
    fine_keys = F.interpolate(keys.permute(2, 0, 1)[None].float(), size=(hf, wf), mode="bilinear",
                              align_corners=False)[0].permute(1, 2, 0).cpu().numpy()
    fine_rgb = cv2.resize(input_rgb, (wf, hf), interpolation=cv2.INTER_AREA)
    graph = local_matting_graph(fine_keys, fine_rgb, knn_weight, passes)
    # The mask's share of every fine cell (area average over the pixels the cell owns).
    covered_h = min(geometry.image_hw[0], max(1, round(hf * fine.cell_hw[0])))
    covered_w = min(geometry.image_hw[1], max(1, round(wf * fine.cell_hw[1])))
    share = cv2.resize(object_mask[:covered_h, :covered_w].astype(np.float32), (wf, hf),
                       interpolation=cv2.INTER_AREA)
    fg, bg = trimap(share > 0.5, band=factor + 1)
    alpha = harmonic_alpha(graph, fg.ravel(), bg.ravel())
    return np.clip(fine.upsample_linear(alpha.reshape(hf, wf)), 0.0, 1.0)
