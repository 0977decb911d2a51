"""Masks kept as bounding-box crops, and brush strokes rasterised on crops.

Why: a 24 MP photo's full-frame bool mask is 24 MB, and every whole-frame copy, sum, downscale or
compare of it costs tens of milliseconds; most segments cover a small part of the frame. A
:class:`CropMask` holds only the tight box (plus the frame size), so a click test is one array
lookup, a brush stroke touches only its own box and a display copy costs its box's pixels.
The store keeps COCO RLE; :meth:`CropMask.from_rle` / :meth:`CropMask.to_full` convert at its edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np


@dataclass(frozen=True, eq=False)
class CropMask:
    """A bool mask of a ``full_hw`` frame that is False outside ``crop`` placed at (``y0``, ``x0``)."""

    full_hw: tuple[int, int]
    y0: int
    x0: int
    crop: np.ndarray  # bool (h, w); (0, 0) for an empty mask
    _area: list = field(default_factory=list, repr=False, compare=False)  # lazily computed, cached

    @classmethod
    def empty(cls, full_hw: tuple[int, int]) -> "CropMask":
        return cls((int(full_hw[0]), int(full_hw[1])), 0, 0, np.zeros((0, 0), bool))

    @classmethod
    def from_full(cls, mask: np.ndarray) -> "CropMask":
        """Tight crop of a full-frame mask (any dtype: nonzero = inside)."""
        mask = np.asarray(mask)
        hw = (int(mask.shape[0]), int(mask.shape[1]))
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            return cls.empty(hw)
        y0, y1 = int(rows[0]), int(rows[-1]) + 1
        cols = np.flatnonzero(mask[y0:y1].any(axis=0))
        x0, x1 = int(cols[0]), int(cols[-1]) + 1
        return cls(hw, y0, x0, np.ascontiguousarray(mask[y0:y1, x0:x1], dtype=bool))

    @classmethod
    def from_rle(cls, rle) -> "CropMask":
        """From an :class:`engine.store.Rle` (decoded once, then cropped to its stored bbox)."""
        from pycocotools import mask as mask_utils

        from engine.store.rle import _transpose_u8

        hw = (int(rle.height), int(rle.width))
        x, y, w, h = rle.bbox
        if w <= 0 or h <= 0:
            return cls.empty(hw)
        full = mask_utils.decode(rle.to_coco())  # column-major uint8: make only the crop row-major
        return cls(hw, y, x, _transpose_u8(full.T[x:x + w, y:y + h]).view(bool))

    # -- geometry ----------------------------------------------------------------------------------

    @property
    def y1(self) -> int:
        return self.y0 + self.crop.shape[0]

    @property
    def x1(self) -> int:
        return self.x0 + self.crop.shape[1]

    @property
    def is_empty(self) -> bool:
        return self.crop.size == 0 or self.area == 0

    @property
    def area(self) -> int:
        if not self._area:
            self._area.append(int(np.count_nonzero(self.crop)))
        return self._area[0]

    def contains(self, x: float, y: float) -> bool:
        """Is full-resolution pixel (x, y) inside the mask (O(1): no decode)."""
        xi, yi = int(x), int(y)
        if not (self.y0 <= yi < self.y1 and self.x0 <= xi < self.x1):
            return False
        return bool(self.crop[yi - self.y0, xi - self.x0])

    def window(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """The mask inside the full-resolution window [y0, y1) x [x0, x1) (zeros outside the crop)."""
        out = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), bool)
        iy0, iy1 = max(y0, self.y0), min(y1, self.y1)
        ix0, ix1 = max(x0, self.x0), min(x1, self.x1)
        if iy0 < iy1 and ix0 < ix1:
            out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = self.crop[iy0 - self.y0:iy1 - self.y0,
                                                                 ix0 - self.x0:ix1 - self.x0]
        return out

    def to_full(self) -> np.ndarray:
        """The full-frame bool mask (what the store and the exporters take)."""
        return self.window(0, self.full_hw[0], 0, self.full_hw[1])

    def tight(self) -> "CropMask":
        """The same mask with its crop shrunk to the pixels that are set."""
        sub = CropMask.from_full(self.crop)
        if sub.is_empty:
            return CropMask.empty(self.full_hw)
        return CropMask(self.full_hw, self.y0 + sub.y0, self.x0 + sub.x0, sub.crop)

    def sample(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """mask[rows][:, cols] for sorted full-resolution row / column indices (nearest-neighbour
        resampling of just this crop, e.g. to draw it at display resolution)."""
        out = np.zeros((len(rows), len(cols)), bool)
        if self.crop.size == 0:
            return out
        ri = (rows >= self.y0) & (rows < self.y1)
        ci = (cols >= self.x0) & (cols < self.x1)
        if ri.any() and ci.any():  # two takes (rows, then columns): far faster than one 2-D fancy index
            r0, c0 = int(np.argmax(ri)), int(np.argmax(ci))
            part = self.crop.take(rows[ri] - self.y0, axis=0).take(cols[ci] - self.x0, axis=1)
            out[r0:r0 + part.shape[0], c0:c0 + part.shape[1]] = part
        return out


def same_mask(a: CropMask, b: CropMask) -> bool:
    """Pixel-equal (crops may differ in padding)."""
    if a.full_hw != b.full_hw:
        return False
    ta, tb = a.tight(), b.tight()
    if ta.is_empty or tb.is_empty:
        return ta.is_empty and tb.is_empty
    return (ta.y0, ta.x0) == (tb.y0, tb.x0) and np.array_equal(ta.crop, tb.crop)


@dataclass(frozen=True)
class Stroke:
    """One brush / erase drag as the user drew it: a polyline in full-resolution pixels and a radius.

    Recorded instead of a mask so the GUI thread only paints a display-resolution preview; the
    full-resolution mask is rasterised once, off the GUI thread, by :func:`apply_stroke`.
    """

    points: tuple[tuple[float, float], ...]
    radius: float
    value: bool  # True paints, False erases

    def bounds(self, full_hw: tuple[int, int]) -> tuple[int, int, int, int]:
        """Full-resolution box (y0, y1, x0, x1) the stroke can touch, clipped to the frame."""
        pts = np.asarray(self.points, np.float64).reshape(-1, 2)
        r = max(1, int(round(self.radius))) + 2
        x0 = max(int(np.floor(pts[:, 0].min())) - r, 0)
        x1 = min(int(np.ceil(pts[:, 0].max())) + r + 1, full_hw[1])
        y0 = max(int(np.floor(pts[:, 1].min())) - r, 0)
        y1 = min(int(np.ceil(pts[:, 1].max())) + r + 1, full_hw[0])
        return y0, max(y1, y0), x0, max(x1, x0)


def paint_polyline(buf: np.ndarray, points, radius: float, value: int, origin: tuple[float, float] = (0.0, 0.0),
                   scale: tuple[float, float] = (1.0, 1.0)) -> None:
    """Paint round-capped segments through ``points`` (x, y) into the uint8 ``buf`` in place.

    ``origin`` (x, y) is the full-resolution position of buf[0, 0] and ``scale`` (sx, sy) buf pixels per
    full-resolution pixel, so the same stroke draws on a full-resolution crop and on a display copy.
    """
    sx, sy = scale
    r = max(1, int(round(radius * min(sx, sy))))
    pts = [(int(round((x - origin[0]) * sx)), int(round((y - origin[1]) * sy))) for x, y in points]
    if not pts:
        return
    for a, b in zip(pts[:-1], pts[1:]):
        cv2.line(buf, a, b, color=value, thickness=2 * r, lineType=cv2.LINE_8)
        cv2.circle(buf, a, r, value, thickness=-1)
    cv2.circle(buf, pts[-1], r, value, thickness=-1)


def _segment_roi(a, b, r: int, hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """The box (y0, y1, x0, x1) one stroke segment is rasterised in (as app.overlays.stamp_segment)."""
    h, w = hw
    x0, x1 = max(min(a[0], b[0]) - r - 1, 0), min(max(a[0], b[0]) + r + 2, w)
    y0, y1 = max(min(a[1], b[1]) - r - 1, 0), min(max(a[1], b[1]) + r + 2, h)
    return y0, y1, x0, x1


def apply_stroke(base: CropMask, stroke: Stroke) -> CropMask:
    """``base`` with ``stroke`` painted in (or erased), at full resolution, touching only the union of
    the base's crop and the stroke's box. Pixel-identical to stamping each polyline segment with
    :func:`app.overlays.stamp_segment` on the full frame (each segment drawn in its own box, so
    OpenCV clips lines at the same places)."""
    hw = base.full_hw
    sy0, sy1, sx0, sx1 = stroke.bounds(hw)
    if sy0 >= sy1 or sx0 >= sx1:
        return base
    if stroke.value:
        if base.crop.size:
            y0, y1 = min(sy0, base.y0), max(sy1, base.y1)
            x0, x1 = min(sx0, base.x0), max(sx1, base.x1)
        else:
            y0, y1, x0, x1 = sy0, sy1, sx0, sx1
    else:
        if base.crop.size == 0:
            return base
        y0, y1, x0, x1 = base.y0, base.y1, base.x0, base.x1
    out = base.window(y0, y1, x0, x1)
    r = max(1, int(round(stroke.radius)))
    pts = [(int(round(x)), int(round(y))) for x, y in stroke.points]
    for a, b in zip([pts[0]] + pts[:-1], pts):
        ry0, ry1, rx0, rx1 = _segment_roi(a, b, r, hw)
        if ry0 >= ry1 or rx0 >= rx1:
            continue
        roi = np.zeros((ry1 - ry0, rx1 - rx0), np.uint8)
        a_, b_ = (a[0] - rx0, a[1] - ry0), (b[0] - rx0, b[1] - ry0)
        cv2.line(roi, a_, b_, color=1, thickness=2 * r, lineType=cv2.LINE_8)
        cv2.circle(roi, a_, r, 1, thickness=-1)
        cv2.circle(roi, b_, r, 1, thickness=-1)
        iy0, iy1, ix0, ix1 = max(ry0, y0), min(ry1, y1), max(rx0, x0), min(rx1, x1)
        if iy0 >= iy1 or ix0 >= ix1:
            continue
        hit = roi[iy0 - ry0:iy1 - ry0, ix0 - rx0:ix1 - rx0].view(bool)
        dst = out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
        if stroke.value:
            dst |= hit
        else:
            dst &= ~hit
    return CropMask(hw, y0, x0, out).tight()


__all__ = ["CropMask", "Stroke", "apply_stroke", "paint_polyline", "same_mask"]
