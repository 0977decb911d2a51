"""Numpy helpers that turn masks into RGBA overlay images and apply brush strokes.

Kept free of Qt so the compositing and the brush maths are testable without a display, and cheap:
everything is whole-array numpy / OpenCV, never a Python loop over pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

#: Distinct colours for unlabelled segments (tab10-like); labelled ones use their class colour.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)


def palette_color(i: int) -> tuple[int, int, int]:
    return PALETTE[i % len(PALETTE)]


GOLDEN = 0.618033988749895


@lru_cache(maxsize=4096)  # asked for every segment on every reload of the list
def segment_color(source: str, label: int | None, index: int) -> tuple[int, int, int]:
    """Stable colour for an unlabelled segment: the same (source, label) – e.g. dataset cluster 3 –
    gets the same colour on every image; different sources start at different hues.

    Why not a fixed palette: with 27 STEGO clusters a 10-colour palette repeats (cluster 3 and 13
    looked the same). Hues step by the golden ratio, so consecutive labels land far apart on the
    colour wheel and no two of the first few dozen coincide; saturation and brightness alternate to
    separate the hues that do come close.
    """
    import colorsys
    import zlib

    k = label if label is not None else index
    hue = (zlib.crc32(source.encode()) % 360 / 360 + k * GOLDEN) % 1.0
    sat, val = (0.9, 0.55)[k % 2], (1.0, 0.78, 0.9)[k % 3]
    return tuple(int(round(c * 255)) for c in colorsys.hsv_to_rgb(hue, sat, val))


@dataclass(frozen=True)
class OverlaySegment:
    """One mask to draw: its colour, and whether it is selected (drawn stronger, with an outline)."""

    mask: np.ndarray  # bool (H, W)
    color: tuple[int, int, int]
    selected: bool = False
    dimmed: bool = False  # rejected segments: drawn faint so the user still sees them


def outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Boundary pixels of a bool mask (mask minus its erosion)."""
    if not mask.any():
        return mask
    k = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    eroded = cv2.erode(mask.astype(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return mask & ~eroded.astype(bool)


def compose_segments(segments: list[OverlaySegment], shape: tuple[int, int], fill_alpha: float = 0.45,
                     contour: bool = True) -> np.ndarray:
    """RGBA uint8 (H, W, 4): segments painted in order (later on top), selected ones emphasised."""
    h, w = shape
    out = np.zeros((h, w, 4), np.uint8)
    base_a = int(round(255 * min(max(fill_alpha, 0.0), 1.0)))
    for seg in segments:
        if seg.mask.shape != (h, w):
            continue
        a = base_a // 3 if seg.dimmed else base_a
        if seg.selected:
            a = min(255, int(a * 1.5) + 20)
        out[seg.mask] = (*seg.color, a)
        if contour or seg.selected:
            edge = outline(seg.mask, 3 if seg.selected else 1)
            color = (255, 255, 255) if seg.selected else seg.color
            out[edge] = (*color, 255)
    return out


def downscale_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resample of a full-resolution bool mask to the display ``shape`` (h, w).

    Used only for drawing huge photos; the stored mask keeps its full resolution.
    """
    h, w = mask.shape
    dh, dw = shape
    if (h, w) == (dh, dw):
        return mask
    small = cv2.resize(np.ascontiguousarray(mask).view(np.uint8), (dw, dh), interpolation=cv2.INTER_NEAREST)
    return small.view(bool)


def stamp_segment(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: float,
                  value: bool) -> np.ndarray:
    """Paint (value=True) or erase a round-capped line from p0 to p1 (x, y) into a copy of ``mask``.

    Only the stroke's bounding box is rasterised, so a brush move on a huge (e.g. 12000x9000) mask
    costs one bool copy, not two full-size dtype conversions.
    """
    out = mask.copy()
    h, w = out.shape
    r = max(1, int(round(radius)))
    a = (int(round(p0[0])), int(round(p0[1])))
    b = (int(round(p1[0])), int(round(p1[1])))
    x0, x1 = max(min(a[0], b[0]) - r - 1, 0), min(max(a[0], b[0]) + r + 2, w)
    y0, y1 = max(min(a[1], b[1]) - r - 1, 0), min(max(a[1], b[1]) + r + 2, h)
    if x0 >= x1 or y0 >= y1:
        return out
    roi = out[y0:y1, x0:x1].astype(np.uint8)
    a_, b_ = (a[0] - x0, a[1] - y0), (b[0] - x0, b[1] - y0)
    v = 1 if value else 0
    cv2.line(roi, a_, b_, color=v, thickness=2 * r, lineType=cv2.LINE_8)
    cv2.circle(roi, a_, r, v, thickness=-1)
    cv2.circle(roi, b_, r, v, thickness=-1)
    out[y0:y1, x0:x1] = roi.astype(bool)
    return out


def normalise_map(x: np.ndarray) -> np.ndarray:
    """Scale a real-valued map (eigenvector) to [0, 1] with robust percentiles for display."""
    x = np.asarray(x, np.float32)
    lo, hi = np.percentile(x, 1), np.percentile(x, 99)
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros_like(x)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)
