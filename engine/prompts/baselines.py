"""Click-driven baselines run through the same protocol as ours: OpenCV GrabCut and scikit-image's
random walker. Both see exactly the clicks of their own error sequence and return full-res masks.

Fairness choices (documented in docs/methods.md): GrabCut gets hard labels on click disks, the
previous result as probable labels (it "remembers", as ours does through its prior mask) and the
same "keep components touching a positive click" post-processing as ours. The random walker runs at
a working resolution (as ours does) with the image border as background seeds until the first
negative click (it needs two labels).
"""

from __future__ import annotations

import numpy as np

from .clicks import Click

#: Hard-label disk radius in full-resolution pixels (≈ the click disks of ours at 320 px).
CLICK_RADIUS_PX = 5


def keep_connected(mask: np.ndarray, clicks: list[Click]) -> np.ndarray:
    """Components of ``mask`` containing a positive click (8-connectivity)."""
    import cv2

    pos = [c for c in clicks if c.positive]
    if not pos or not mask.any():
        return mask
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    keep = {int(labels[c.y, c.x]) for c in pos} - {0}
    return np.isin(labels, list(keep)) if keep else np.zeros_like(mask)


def grabcut_clicks(rgb: np.ndarray, clicks: list[Click], prev_mask: np.ndarray | None,
                   iterations: int = 3, radius: int = CLICK_RADIUS_PX) -> np.ndarray:
    """GrabCut (GC_INIT_WITH_MASK): click disks hard fg/bg, previous result probable fg, rest probable bg."""
    import cv2

    h, w = rgb.shape[:2]
    mask = np.full((h, w), cv2.GC_PR_BGD, np.uint8)
    if prev_mask is not None and prev_mask.any():
        mask[prev_mask] = cv2.GC_PR_FGD
    for c in clicks:
        if c.positive:  # probable object around a positive click, hard label on its disk
            cv2.circle(mask, (c.x, c.y), 4 * radius, cv2.GC_PR_FGD, -1)
    for c in clicks:
        cv2.circle(mask, (c.x, c.y), radius, cv2.GC_FGD if c.positive else cv2.GC_BGD, -1)
    if not (mask == cv2.GC_FGD).any() and not (mask == cv2.GC_PR_FGD).any():
        return np.zeros((h, w), bool)
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    try:
        cv2.grabCut(bgr, mask, None, bgd, fgd, iterations, cv2.GC_INIT_WITH_MASK)
    except cv2.error:  # a GMM with too few samples of one class
        return np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD))
    out = np.isin(mask, (cv2.GC_FGD, cv2.GC_PR_FGD))
    return keep_connected(out, clicks)


def random_walker_clicks(rgb: np.ndarray, clicks: list[Click], max_side: int = 200,
                         beta: float = 130.0, radius: int = CLICK_RADIUS_PX, mode: str = "bf") -> np.ndarray:
    """scikit-image random walker on colour at ``max_side`` with click disks as labels (1 bg, 2 fg)."""
    import cv2
    from skimage.segmentation import random_walker

    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    sh, sw = max(1, round(h * scale)), max(1, round(w * scale))
    small = rgb if (sh, sw) == (h, w) else cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    labels = np.zeros((sh, sw), np.int32)
    if not any(not c.positive for c in clicks):
        labels[0, :] = labels[-1, :] = labels[:, 0] = labels[:, -1] = 1
    r = max(1, int(round(radius * scale)))
    for c in clicks:
        cv2.circle(labels, (int(c.x * scale), int(c.y * scale)), r, 2 if c.positive else 1, -1)
    if not (labels == 2).any():
        return np.zeros((h, w), bool)
    # "bf" = sparse direct solve: exact and, at this size, faster than CG on low-contrast images.
    prob = random_walker(small.astype(np.float64) / 255.0, labels, beta=beta, mode=mode,
                         channel_axis=-1, return_full_prob=True)
    fg = prob[1].astype(np.float32)
    if (sh, sw) != (h, w):
        fg = cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR)
    return keep_connected(fg > 0.5, clicks)
