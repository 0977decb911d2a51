"""Single-object segmentation: sign-fixed Fiedler vector > 0 on the patch grid, dense-CRF upsampled.

DSM thresholds eigenvector 1 at zero, upsamples the patch mask by nearest neighbour and sharpens it
with a dense CRF (SimpleCRF w1=10, α=80, β=13, w2=3, γ=3, 5 iterations = :data:`engine.crf.DSM_CRF`).
SimpleCRF clamps the one-hot unary to [0.01, 0.99]; we pass those probabilities explicitly so the CRF
can move labels just as much as in the reference. The CRF runs at the feature resolution (the image
resized to ``max_side``) and the result is resized to full resolution, keeping cost bounded for
large photos.
"""

from __future__ import annotations

import numpy as np

from ...crf import DSM_CRF, CRFParams, crf_labels
from .geometry import GridGeometry, resized_hw
from .localization import foreground_side

#: SimpleCRF's probability clamp for hard labels.
HARD_LABEL_CONFIDENCE = 0.99


def object_patch_mask(fiedler: np.ndarray) -> np.ndarray:
    """Foreground cells of the patch grid (the minority positive side of the Fiedler vector)."""
    return foreground_side(fiedler)


def object_mask(rgb: np.ndarray, patch_mask: np.ndarray, geometry: GridGeometry, max_side: int | None,
                crf: bool = True, params: CRFParams = DSM_CRF) -> np.ndarray:
    """bool (H, W) object mask from a bool patch mask; ``rgb`` is the full image or the image already
    resized to ``max_side`` (the CRF runs at that size either way)."""
    import cv2

    rh, rw = resized_hw(geometry.image_hw, max_side)
    if rgb.shape[:2] not in (tuple(geometry.image_hw), (rh, rw)):
        raise ValueError(f"image {rgb.shape[:2]} does not match geometry {geometry.image_hw} "
                         f"(or its {max_side}-pixel working size {(rh, rw)})")
    full = geometry.upsample_nearest(patch_mask.astype(bool))
    if not crf or not full.any() or full.all():
        return full
    small_rgb = rgb if (rh, rw) == rgb.shape[:2] else cv2.resize(rgb, (rw, rh), interpolation=cv2.INTER_AREA)
    small_mask = full if (rh, rw) == full.shape else cv2.resize(
        full.astype(np.uint8), (rw, rh), interpolation=cv2.INTER_NEAREST).astype(bool)
    small_rgb = np.require(small_rgb, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"])  # pydensecrf needs writable
    prob = np.where(small_mask, HARD_LABEL_CONFIDENCE, 1.0 - HARD_LABEL_CONFIDENCE).astype(np.float32)
    refined = crf_labels(small_rgb, prob[None], params).astype(bool)
    if refined.shape != full.shape:
        refined = cv2.resize(refined.astype(np.uint8), (full.shape[1], full.shape[0]),
                             interpolation=cv2.INTER_NEAREST).astype(bool)
    return refined
