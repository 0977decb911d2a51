"""The segments overlay at display resolution, composed one dirty rectangle at a time (no Qt).

Why: on a 24 MP photo, composing every segment's full-frame mask for each brush move or selection
took 1–2 s. Here each segment is a :class:`~engine.masks.CropMask` on the *overlay* frame (the
display size, capped at :data:`OVERLAY_MAX_SIDE`), made once per mask; an edit recomposes only the
rectangle it touched, and only the segments whose crops meet that rectangle. The pixels match
:func:`app.overlays.compose_segments` on the same display masks.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import cv2
import numpy as np

from engine.masks import CropMask, paint_polyline

#: long side of the segments overlay; the photo may be drawn larger (app.image_loader), the overlay
#: stays this size so a full recompose stays cheap (2048 x 1365 = 2.8 MP for a 6000 x 4000 photo)
OVERLAY_MAX_SIDE = 2048
EDGE = 3  # widest outline (selected segments): how far a pixel's colour depends on its neighbours

Box = tuple[int, int, int, int]  # y0, y1, x0, x1 (overlay pixels, half-open)


def overlay_size(disp_hw: tuple[int, int], max_side: int = OVERLAY_MAX_SIDE) -> tuple[int, int]:
    h, w = disp_hw
    if max(h, w) <= max_side:
        return int(h), int(w)
    s = max_side / max(h, w)
    return max(1, int(round(h * s))), max(1, int(round(w * s)))


class Grid:
    """Nearest-neighbour map between full-resolution pixels and overlay pixels."""

    def __init__(self, full_hw: tuple[int, int], hw: tuple[int, int]):
        self.full_hw, self.hw = (int(full_hw[0]), int(full_hw[1])), (int(hw[0]), int(hw[1]))
        (H, W), (h, w) = self.full_hw, self.hw
        self.rows = np.minimum(((np.arange(h) + 0.5) * H / h).astype(np.int64), H - 1)  # source row per row
        self.cols = np.minimum(((np.arange(w) + 0.5) * W / w).astype(np.int64), W - 1)
        self.scale = (w / W, h / H)  # (sx, sy) overlay pixels per full-resolution pixel

    def display(self, mask: CropMask) -> CropMask:
        """``mask`` resampled onto the overlay frame (cost: its crop's overlay pixels)."""
        if mask.full_hw == self.hw:
            return mask
        if mask.crop.size == 0:
            return CropMask.empty(self.hw)
        r0, r1 = np.searchsorted(self.rows, [mask.y0, mask.y1])
        c0, c1 = np.searchsorted(self.cols, [mask.x0, mask.x1])
        if r0 >= r1 or c0 >= c1:
            return CropMask.empty(self.hw)
        return CropMask(self.hw, int(r0), int(c0), mask.sample(self.rows[r0:r1], self.cols[c0:c1]))

    def box(self, y0: float, y1: float, x0: float, x1: float) -> Box:
        """Overlay box covering the full-resolution box (rounded outwards, clipped)."""
        sx, sy = self.scale
        h, w = self.hw
        return (max(int(np.floor(y0 * sy)) - 1, 0), min(int(np.ceil(y1 * sy)) + 1, h),
                max(int(np.floor(x0 * sx)) - 1, 0), min(int(np.ceil(x1 * sx)) + 1, w))


@dataclass(frozen=True)
class DrawSpec:
    """One segment as drawn: its overlay-frame mask (anything with y0/y1/x0/x1 and window()) and style."""

    key: int  # segment id (or -1: a new segment being painted)
    mask: object
    color: tuple[int, int, int]
    selected: bool
    dimmed: bool


def union(a: Box | None, b: Box | None) -> Box | None:
    if a is None or a[0] >= a[1] or a[2] >= a[3]:
        return b
    if b is None or b[0] >= b[1] or b[2] >= b[3]:
        return a
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def mask_box(mask) -> Box | None:
    if mask.y0 >= mask.y1 or mask.x0 >= mask.x1:
        return None
    return mask.y0, mask.y1, mask.x0, mask.x1


def _rgba32(color: tuple[int, int, int], alpha: int) -> np.uint32:
    """One RGBA pixel as the uint32 that the buffer's bytes read as (so a fill is one 4-byte store)."""
    return np.frombuffer(bytes((*color, alpha)), np.uint32)[0]


def _read_window(mask, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    """``mask.window(...)`` to read only: a view of a CropMask's crop where the window lies inside it
    (no zeroed copy: after a stroke both masks span the whole segment, a few MB to compare)."""
    crop = getattr(mask, "crop", None)
    if crop is not None and mask.y0 <= y0 and y1 <= mask.y1 and mask.x0 <= x0 and x1 <= mask.x1:
        return crop[y0 - mask.y0:y1 - mask.y0, x0 - mask.x0:x1 - mask.x0]
    return mask.window(y0, y1, x0, x1)


def changed_box(a, b) -> Box | None:
    """Box of the pixels where two overlay-frame masks differ (None: identical)."""
    u = union(mask_box(a), mask_box(b))
    if u is None:
        return None
    diff = _read_window(a, *u) ^ _read_window(b, *u)
    rows = np.flatnonzero(diff.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(diff[rows[0]:rows[-1] + 1].any(axis=0))
    return u[0] + int(rows[0]), u[0] + int(rows[-1]) + 1, u[2] + int(cols[0]), u[2] + int(cols[-1]) + 1


def compose_region(out: np.ndarray, specs: list[DrawSpec], box: Box, fill_alpha: float, contours: bool,
                   clear: bool = True) -> None:
    """Repaint ``out[box]`` (RGBA, overlay frame) from ``specs`` in drawing order (later on top).

    Each segment costs only its crop's part of the box; fills are masked 4-byte stores into a uint32
    view of the buffer (a boolean fancy-index assignment of RGBA tuples was ~10x slower)."""
    y0, y1, x0, x1 = box
    h, w = out.shape[:2]
    y0, y1, x0, x1 = max(y0, 0), min(y1, h), max(x0, 0), min(x1, w)
    if y0 >= y1 or x0 >= x1:
        return
    region = out[y0:y1, x0:x1].view(np.uint32)[..., 0]  # (h, w) uint32 view of the RGBA pixels
    if clear:
        region[:] = 0
    base_a = int(round(255 * min(max(fill_alpha, 0.0), 1.0)))
    for s in specs:
        m = s.mask
        e = (EDGE if s.selected else 1) if (contours or s.selected) else 0
        iy0, iy1 = max(y0, m.y0), min(y1, m.y1)
        ix0, ix1 = max(x0, m.x0), min(x1, m.x1)
        if iy0 >= iy1 or ix0 >= ix1:
            continue
        a = base_a // 3 if s.dimmed else base_a
        if s.selected:
            a = min(255, int(a * 1.5) + 20)
        # the window is grown by the outline width: an edge pixel depends on its neighbours
        py0, py1, px0, px1 = max(iy0 - e, 0), min(iy1 + e, h), max(ix0 - e, 0), min(ix1 + e, w)
        win = m.window(py0, py1, px0, px1)
        inner = win[iy0 - py0:iy1 - py0, ix0 - px0:ix1 - px0]
        sub = region[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
        np.copyto(sub, _rgba32(s.color, a), where=inner)
        if e:
            k = np.ones((2 * e + 1, 2 * e + 1), np.uint8)
            eroded = cv2.erode(win.view(np.uint8), k, borderType=cv2.BORDER_CONSTANT, borderValue=0)
            edge = (win & ~eroded.view(bool))[iy0 - py0:iy1 - py0, ix0 - px0:ix1 - px0]
            np.copyto(sub, _rgba32((255, 255, 255) if s.selected else s.color, 255), where=edge)


def moved_keys(old: list, new: list) -> set:
    """Keys (present in both lists) whose relative order changed: the complement of a longest
    increasing subsequence of their old positions. Any pair whose stacking flipped has one of them
    in this set, so repainting these segments' boxes repaints every pixel the reorder changed."""
    pos = {k: i for i, k in enumerate(old)}
    seq = [k for k in new if k in pos]
    tails: list[int] = []  # patience sorting; tails[i] = index into seq
    prev = [-1] * len(seq)
    vals: list[int] = []
    for i, k in enumerate(seq):
        v = pos[k]
        j = bisect.bisect_left(vals, v)
        if j == len(vals):
            vals.append(v)
            tails.append(i)
        else:
            vals[j], tails[j] = v, i
        prev[i] = tails[j - 1] if j > 0 else -1
    keep, i = set(), tails[-1] if tails else -1
    while i >= 0:
        keep.add(seq[i])
        i = prev[i]
    return set(seq) - keep


class StrokePreview:
    """A brush / erase stroke in progress drawn on the overlay frame: ``base`` (the target's overlay
    mask) with the painted pixels of a uint8 buffer added (brush) or removed (erase).

    It quacks like a CropMask (y0/y1/x0/x1, window()) so :func:`compose_region` draws it as the
    target segment; :meth:`add` paints one mouse move and returns the box to recompose.
    """

    def __init__(self, base: CropMask, grid: Grid, radius: float, value: bool):
        self.base, self.grid, self.radius, self.value = base, grid, float(radius), bool(value)
        self.buf = np.zeros(grid.hw, np.uint8)
        self.painted: Box | None = None
        self.last: tuple[float, float] | None = None

    def add(self, x: float, y: float) -> Box:
        """Paint from the previous point to (x, y) (full-resolution pixels); returns the dirty box."""
        p0 = self.last if self.last is not None else (x, y)
        self.last = (x, y)
        paint_polyline(self.buf, [p0, (x, y)], self.radius, 1, scale=self.grid.scale)
        r = self.radius + 2
        box = self.grid.box(min(p0[1], y) - r, max(p0[1], y) + r, min(p0[0], x) - r, max(p0[0], x) + r)
        self.painted = union(self.painted, box)
        return box

    @property
    def _bounds(self) -> Box:
        b = mask_box(self.base)
        if self.value:
            b = union(b, self.painted)
        return b or (0, 0, 0, 0)

    y0 = property(lambda self: self._bounds[0])
    y1 = property(lambda self: self._bounds[1])
    x0 = property(lambda self: self._bounds[2])
    x1 = property(lambda self: self._bounds[3])

    def window(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        m = self.base.window(y0, y1, x0, x1)
        s = self.buf[y0:y1, x0:x1].view(bool)
        return (m | s) if self.value else (m & ~s)

    def merged(self) -> CropMask:
        """The result as a plain overlay-frame CropMask (shown until the store's mask comes back)."""
        b = self._bounds
        if b[0] >= b[1] or b[2] >= b[3]:
            return CropMask.empty(self.grid.hw)
        return CropMask(self.grid.hw, b[0], b[2], self.window(*b)).tight()
