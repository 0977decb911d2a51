"""Click simulator of the standard interactive-segmentation protocol (RITM, f-BRS, SimpleClick).

Each click goes to the interior point of the larger error region that is farthest from that region's
border; "larger" is decided by that farthest distance (RITM's ``get_next_points``), false negatives
give positive clicks, false positives negative ones. The error maps are padded with a non-error
border before the distance transform, so image borders count as region borders. The first click
(empty prediction) is therefore the ground truth's most interior point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class Click:
    x: int
    y: int
    positive: bool


def _inner_distance(region: np.ndarray) -> np.ndarray:
    padded = np.pad(region, 1, mode="constant", constant_values=False)
    return ndimage.distance_transform_edt(padded)[1:-1, 1:-1]


def next_click(pred: np.ndarray, gt: np.ndarray) -> Click | None:
    """The next simulated click for prediction ``pred`` of ``gt`` (bool H×W); None if they agree."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"shape mismatch {pred.shape} vs {gt.shape}")
    fn_dist = _inner_distance(gt & ~pred)
    fp_dist = _inner_distance(pred & ~gt)
    fn_max, fp_max = float(fn_dist.max()), float(fp_dist.max())
    if fn_max == 0.0 and fp_max == 0.0:
        return None
    positive = fn_max >= fp_max
    dist = fn_dist if positive else fp_dist
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)  # first maximum in raster order
    return Click(int(x), int(y), positive)
