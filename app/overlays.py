"""Numpy helpers that turn masks into RGBA overlay images and apply brush strokes.

Kept free of Qt so the compositing and the brush maths are testable without a display, and cheap:
everything is whole-array numpy / OpenCV, never a Python loop over pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: Distinct colours for unlabelled segments (tab10-like); labelled ones use their class colour.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
)


def palette_color(i: int) -> tuple[int, int, int]:
    return PALETTE[i % len(PALETTE)]


def segment_color(source: str, label: int | None, index: int) -> tuple[int, int, int]:
    """Stable colour for an unlabelled segment: the same (source, label) – e.g. dataset cluster 3 –
    gets the same colour on every image; different sources are offset so they do not collide."""
    import zlib

    offset = zlib.crc32(source.encode()) % len(PALETTE)
    return palette_color(offset + (label if label is not None else index))


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


def stamp_segment(mask: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], radius: float,
                  value: bool) -> np.ndarray:
    """Paint (value=True) or erase a round-capped line from p0 to p1 (x, y) into a copy of ``mask``."""
    canvas = mask.astype(np.uint8)
    r = max(1, int(round(radius)))
    a = (int(round(p0[0])), int(round(p0[1])))
    b = (int(round(p1[0])), int(round(p1[1])))
    cv2.line(canvas, a, b, color=1 if value else 0, thickness=2 * r, lineType=cv2.LINE_8)
    cv2.circle(canvas, a, r, 1 if value else 0, thickness=-1)
    cv2.circle(canvas, b, r, 1 if value else 0, thickness=-1)
    return canvas.astype(bool)


def normalise_map(x: np.ndarray) -> np.ndarray:
    """Scale a real-valued map (eigenvector) to [0, 1] with robust percentiles for display."""
    x = np.asarray(x, np.float32)
    lo, hi = np.percentile(x, 1), np.percentile(x, 99)
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return np.zeros_like(x)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)
