"""Fully connected CRF refinement (Krähenbühl & Koltun) with the presets of the reference methods.

DSM, STEGO and PSA/IAL all sharpen coarse patch-level predictions with the same dense CRF, only with
different kernel parameters; keeping one implementation with named presets makes the methods
comparable. Backed by ``pydensecrf2`` (import name ``pydensecrf``), the library STEGO and PSA use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Lower clamp on probabilities before ``-log`` (``pydensecrf.utils.unary_from_softmax`` uses 1e-5).
PROB_CLAMP = 1e-5


@dataclass(frozen=True)
class CRFParams:
    """Mean-field iterations plus a Gaussian (smoothness) and a bilateral (appearance) Potts kernel."""

    iterations: int
    gaussian_sxy: float
    gaussian_compat: float
    bilateral_sxy: float
    bilateral_srgb: float
    bilateral_compat: float


#: Deep Spectral Methods (SimpleCRF w1=10, alpha=80, beta=13, w2=3, gamma=3, it=5).
DSM_CRF = CRFParams(5, 3, 3, 80, 13, 10)
#: STEGO ``crf.py`` (POS_W=3, POS_XY_STD=1, Bi_W=4, Bi_XY_STD=67, Bi_RGB_STD=3, MAX_ITER=10).
STEGO_CRF = CRFParams(10, 1, 3, 67, 3, 4)
#: PSA / AffinityNet ``imutils.crf_inference`` (t=10, scale_factor=1: 3/3 and 80/13/10).
PSA_CRF = CRFParams(10, 3, 3, 80, 13, 10)


def _check(rgb: np.ndarray, probs: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb must be (H, W, 3), got {rgb.shape}")
    if probs.ndim != 3 or probs.shape[1:] != rgb.shape[:2]:
        raise ValueError(f"probs must be (K, H, W) matching the image {rgb.shape[:2]}, got {probs.shape}")


def dense_crf(rgb: np.ndarray, probs: np.ndarray, params: CRFParams) -> np.ndarray:
    """Refine per-pixel class probabilities (K, H, W) on the image ``rgb`` (H, W, 3).

    Probabilities are clamped to [1e-5, 1] before the unary ``-log p`` (as the references do), so a
    hard one-hot input still lets the CRF move labels. ``K == 1`` is read as P(foreground) and solved
    as the two-class problem [1 - p, p]; the refined P(foreground) is returned as shape (1, H, W).
    Returns float32 (K, H, W) marginals.
    """
    import pydensecrf.densecrf as dcrf

    _check(rgb, probs)
    single = probs.shape[0] == 1
    p = np.asarray(probs, dtype=np.float32)
    if single:
        p = np.concatenate([1.0 - p, p], axis=0)
    k, h, w = p.shape
    unary = -np.log(np.clip(p, PROB_CLAMP, 1.0)).reshape(k, -1)
    crf = dcrf.DenseCRF2D(w, h, k)
    crf.setUnaryEnergy(np.ascontiguousarray(unary, dtype=np.float32))
    crf.addPairwiseGaussian(sxy=params.gaussian_sxy, compat=params.gaussian_compat)
    crf.addPairwiseBilateral(sxy=params.bilateral_sxy, srgb=params.bilateral_srgb,
                             rgbim=np.require(rgb, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"]), compat=params.bilateral_compat)
    q = np.asarray(crf.inference(int(params.iterations)), dtype=np.float32).reshape(k, h, w)
    return q[1:] if single else q


def crf_labels(rgb: np.ndarray, probs: np.ndarray, params: CRFParams) -> np.ndarray:
    """Arg-max labels (H, W) after :func:`dense_crf`; for ``K == 1`` labels are 0 = bg, 1 = fg."""
    q = dense_crf(rgb, probs, params)
    if q.shape[0] == 1:
        return (q[0] > 0.5).astype(np.int64)
    return q.argmax(axis=0)
