"""Edge-aware upsampling of the working-resolution probability: fast guided filter (He & Sun 2015).

The random walker runs at ≤ ~320 px; thresholding a bilinearly upsampled probability would give a
blocky, blurred border. The guided filter fits, in every window, ``q = aᵀ I + b`` (I the colour
image), so the upsampled border snaps to colour edges of the full-resolution image. Coefficients
are computed at working resolution and only ``a``/``b`` are upsampled (the "fast" variant), which
keeps a 1024 px refinement within a few milliseconds. ``cv2.ximgproc`` is not available, so this is
box filters in cv2 plus batched 3×3 algebra in numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _box(x: np.ndarray, radius: int) -> np.ndarray:
    import cv2

    k = 2 * radius + 1
    return cv2.boxFilter(x, -1, (k, k), normalize=True, borderType=cv2.BORDER_REFLECT)


@dataclass(frozen=True)
class GuidedFilter:
    """Image-only part of a colour guided filter (per image, reused by every click)."""

    guide: np.ndarray  # (h, w, 3) float32 in [0, 1], working resolution
    mean_i: np.ndarray  # (h, w, 3)
    inv_cov: np.ndarray  # (h, w, 3, 3) inverse of (Σ_I + eps·Id)
    radius: int

    @staticmethod
    def build(guide: np.ndarray, radius: int = 2, eps: float = 1e-3) -> "GuidedFilter":
        g = np.ascontiguousarray(guide, dtype=np.float32)
        mean_i = _box(g, radius)
        cov = np.empty(g.shape[:2] + (3, 3), np.float32)
        for i in range(3):
            for j in range(i, 3):
                c = _box(np.ascontiguousarray(g[..., i] * g[..., j]), radius) - mean_i[..., i] * mean_i[..., j]
                cov[..., i, j] = c
                cov[..., j, i] = c
        cov += eps * np.eye(3, dtype=np.float32)
        return GuidedFilter(g, mean_i, np.linalg.inv(cov).astype(np.float32), radius)

    def coefficients(self, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window-averaged ``a`` (h, w, 3) and ``b`` (h, w) for the input ``p`` (h, w)."""
        p = np.ascontiguousarray(p, dtype=np.float32)
        r = self.radius
        mean_p = _box(p, r)
        mean_ip = _box(np.ascontiguousarray(self.guide * p[..., None]), r)
        cov_ip = mean_ip - self.mean_i * mean_p[..., None]
        a = np.einsum("hwij,hwj->hwi", self.inv_cov, cov_ip).astype(np.float32)
        b = mean_p - (a * self.mean_i).sum(-1)
        return _box(a, r), _box(np.ascontiguousarray(b), r)

    def apply(self, p: np.ndarray, full_guide: np.ndarray) -> np.ndarray:
        """Filtered ``p`` at the resolution of ``full_guide`` (H, W, 3) float32 in [0, 1]."""
        import cv2

        a, b = self.coefficients(p)
        hh, ww = full_guide.shape[:2]
        if (hh, ww) != p.shape:
            a = cv2.resize(a, (ww, hh), interpolation=cv2.INTER_LINEAR)
            b = cv2.resize(b, (ww, hh), interpolation=cv2.INTER_LINEAR)
        out = b.astype(np.float32, copy=True)
        for c in range(3):  # channel by channel: no (H, W, 3) temporary at full resolution
            out += a[..., c] * full_guide[..., c]
        return out
