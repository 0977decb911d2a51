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
    """Image-only part of a colour guided filter (per image, reused by every click).

    Colour channels are kept as separate contiguous planes: every per-pixel product then runs over
    contiguous memory (interleaved (h, w, 3) channel views made the full-resolution step ~3× slower).
    """

    guide: np.ndarray  # (3, h, w) float32 in [0, 1], working resolution
    mean_i: np.ndarray  # (3, h, w)
    inv_cov: np.ndarray  # (3, 3, h, w) inverse of (Σ_I + eps·Id)
    radius: int

    @staticmethod
    def build(guide: np.ndarray, radius: int = 2, eps: float = 1e-3) -> "GuidedFilter":
        """``guide``: (h, w, 3) float in [0, 1]."""
        g = planes(guide)
        mean_i = np.stack([_box(c, radius) for c in g])
        cov = np.empty(g.shape[1:] + (3, 3), np.float32)
        for i in range(3):
            for j in range(i, 3):
                c = _box(g[i] * g[j], radius) - mean_i[i] * mean_i[j]
                cov[..., i, j] = c
                cov[..., j, i] = c
        cov += eps * np.eye(3, dtype=np.float32)
        inv = np.ascontiguousarray(np.linalg.inv(cov).astype(np.float32).transpose(2, 3, 0, 1))
        return GuidedFilter(g, mean_i, inv, radius)

    def coefficients(self, p: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        """Window-averaged ``a`` (3 planes (h, w)) and ``b`` (h, w) for the input ``p`` (h, w)."""
        p = np.ascontiguousarray(p, dtype=np.float32)
        r = self.radius
        mean_p = _box(p, r)
        cov_ip = [_box(gc * p, r) - mc * mean_p for gc, mc in zip(self.guide, self.mean_i)]
        a = [sum(self.inv_cov[i, j] * cov_ip[j] for j in range(3)) for i in range(3)]
        b = mean_p - sum(ai * mi for ai, mi in zip(a, self.mean_i))
        return [_box(ai, r) for ai in a], _box(b, r)

    def apply(self, p: np.ndarray, full_guide: np.ndarray) -> np.ndarray:
        """Filtered ``p`` at the resolution of ``full_guide`` ((3, H, W) planes, float32 in [0, 1])."""
        import cv2

        a, b = self.coefficients(p)
        hh, ww = full_guide.shape[1:]
        if (hh, ww) != p.shape:
            a = [cv2.resize(ai, (ww, hh), interpolation=cv2.INTER_LINEAR) for ai in a]
            b = cv2.resize(b, (ww, hh), interpolation=cv2.INTER_LINEAR)
        out = b.astype(np.float32, copy=True)
        for ai, gi in zip(a, full_guide):  # in place: no full-resolution temporaries beyond ``a``
            np.multiply(ai, gi, out=ai)
            out += ai
        return out


def planes(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) image → (3, h, w) contiguous float32 planes."""
    return np.ascontiguousarray(np.moveaxis(np.asarray(rgb, dtype=np.float32), -1, 0))
