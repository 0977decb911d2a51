"""Proposals / accepted segments of the current image as one RGBA overlay; it also receives the mouse.

The model holds what to draw (colour, selection, dimming per segment; the brush stroke in progress)
and answers "which segment is under this pixel"; the view composes the RGBA image at display
resolution and forwards clicks and drags to the canvas's active tool.

Why the view works in dirty rectangles (issue 16): on a 24 MP photo a full recompose per brush move or
selection took 1–2 s. Masks are :class:`~engine.masks.CropMask` bounding-box crops, resampled once
each onto the overlay frame (:mod:`app.segment_raster`); a change recomposes only the rectangle it
touched and Qt repaints only that part of the item (:class:`_MouseItem` draws its own QImage view of
the RGBA buffer, so nothing is converted per frame).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QCheckBox, QGraphicsItem, QVBoxLayout, QWidget

from engine.masks import CropMask

from ..overlays import OverlaySegment
from ..segment_raster import (DrawSpec, Grid, StrokePreview, changed_box, compose_region, mask_box, moved_keys,
                              overlay_size, union)
from . import register_layer
from .base import Layer, LayerView

#: a change touching more than this fraction of the overlay recomposes all of it (simpler, as fast)
FULL_REDRAW_FRACTION = 0.6


def as_crop(mask) -> CropMask:
    """Masks arrive as crops (CurrentSegments) or, from older callers, as full-frame arrays."""
    return mask if isinstance(mask, CropMask) else CropMask.from_full(mask)


@register_layer
class SegmentsLayer(Layer):
    name, title, z = "segments", "Segments", 3.0

    def __init__(self) -> None:
        super().__init__()
        self.segments: list[OverlaySegment] = []
        self.ids: list[int] = []
        self.contours = True
        self.fill_alpha = 0.45
        #: brush stroke in progress: (segment id or None = new, base CropMask, radius, paints?, points)
        self.stroke: tuple | None = None
        self.stroke_done = False  # the stroke ended; its result stays drawn until the store's mask arrives

    def has_data(self) -> bool:
        return bool(self.segments)

    def clear(self) -> None:
        self.segments, self.ids, self.stroke = [], [], None
        self.changed.emit()

    strokeMoved = Signal()  # the stroke in progress got a point: the view repaints just around it

    def set_segments(self, segments: list[OverlaySegment], ids: list[int]) -> None:
        """Segments in drawing order (later on top); ``ids`` map clicks back to segment ids. Masks may be
        :class:`~engine.masks.CropMask` (cheap) or full-frame bool arrays (converted once here)."""
        self.segments = [s if isinstance(s.mask, CropMask) else OverlaySegment(as_crop(s.mask), s.color, s.selected,
                                                                                s.dimmed) for s in segments]
        self.ids = list(ids)
        self.changed.emit()

    def begin_stroke(self, segment_id: int | None, base: CropMask, radius: float, paint: bool) -> None:
        """A stroke starts on ``segment_id`` (None: a new segment) whose mask is ``base``."""
        self.stroke = (segment_id, base, float(radius), bool(paint), [])
        self.stroke_done = False
        self.changed.emit()

    def add_stroke_point(self, x: float, y: float) -> None:
        if self.stroke is not None and not self.stroke_done:
            self.stroke[4].append((float(x), float(y)))
            self.strokeMoved.emit()

    def end_stroke(self, keep: bool) -> None:
        """The stroke is over: ``keep`` its result drawn (it is being committed) or drop it (cancel)."""
        if self.stroke is None:
            return
        if keep:
            self.stroke_done = True
        else:
            self.stroke, self.stroke_done = None, False
        self.changed.emit()

    def set_stroke(self, segment_id: int | None, mask) -> None:
        """Compatibility: show ``mask`` in place of ``segment_id``'s (None: no stroke)."""
        if mask is None:
            self.stroke, self.stroke_done = None, False
        else:
            self.stroke, self.stroke_done = (segment_id, as_crop(mask), 1.0, True, []), True
        self.changed.emit()

    def set_contours(self, on: bool) -> None:
        if bool(on) != self.contours:
            self.contours = bool(on)
            self.changed.emit()

    def segments_at(self, x: float, y: float) -> list[int]:
        """Ids of the segments covering pixel (x, y), smallest first (the order repeated clicks cycle)."""
        if not self.segments:
            return []
        hits = sorted((seg.mask.area, sid) for seg, sid in zip(self.segments, self.ids) if seg.mask.contains(x, y))
        return [sid for _, sid in hits]

    def state(self) -> dict:
        return super().state() | {"contours": self.contours}

    def restore(self, state: dict) -> None:
        self.contours = bool(state.get("contours", self.contours))
        super().restore(state)

    def create_view(self, canvas) -> "SegmentsView":
        return SegmentsView(self, canvas)

    def create_controls(self, parent: QWidget | None = None) -> QWidget:
        box = QWidget(parent)
        lay = QVBoxLayout(box)
        lay.setContentsMargins(0, 0, 0, 0)
        contours = QCheckBox("Outline segments")
        contours.setChecked(self.contours)
        contours.toggled.connect(self.set_contours)

        def sync() -> None:
            contours.blockSignals(True)
            contours.setChecked(self.contours)
            contours.blockSignals(False)

        self.changed.connect(sync)
        lay.addWidget(contours)
        box.contours = contours
        return box


class _MouseItem(pg.ImageItem):
    """The overlay image; hands hover, clicks and drags (in overlay pixels) to the canvas's tool.

    It draws a QImage that *views* the RGBA numpy buffer (no copy, no pyqtgraph render pass), and
    only the exposed part of it: after an in-place edit of the buffer, :meth:`update_box` repaints
    just that rectangle."""

    def __init__(self, canvas):
        super().__init__()
        self._canvas = canvas
        self._qimage: QImage | None = None
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption, True)

    def set_rgba(self, rgba: np.ndarray, rect: QRectF) -> None:
        h, w = rgba.shape[:2]
        self.prepareGeometryChange()
        self.image = rgba
        self._qimage = QImage(rgba.data, w, h, 4 * w, QImage.Format.Format_RGBA8888)
        self.setRect(rect)
        self.informViewBoundsChanged()
        self.update()

    def update_box(self, box) -> None:
        y0, y1, x0, x1 = box
        self.update(QRectF(x0, y0, x1 - x0, y1 - y0))

    def clear(self):
        self._qimage = None
        super().clear()

    def paint(self, painter, option=None, widget=None):
        if self.image is None or self._qimage is None:
            return
        h, w = self.image.shape[:2]
        r = QRectF(0, 0, w, h)
        if option is not None:
            r = option.exposedRect.intersected(r)
        painter.drawImage(r, self._qimage, r)

    def hoverEvent(self, ev):
        self._canvas.tool_hover(ev)

    def mouseDragEvent(self, ev):
        self._canvas.tool_drag(ev)

    def mouseClickEvent(self, ev):
        self._canvas.tool_click(ev)


class SegmentsView(LayerView):
    def __init__(self, layer: SegmentsLayer, canvas):
        self.item = _MouseItem(canvas)
        self.item.setZValue(layer.z)
        canvas.view.addItem(self.item)
        self._grid: Grid | None = None
        self._rgba: np.ndarray | None = None
        self._small: dict[int, tuple[CropMask, CropMask]] = {}  # id(mask) -> (mask, overlay-frame copy)
        self._drawn: list[DrawSpec] | None = None  # what the buffer shows, in drawing order
        self._style: tuple | None = None  # (fill_alpha, contours) the buffer was composed with
        self._preview: StrokePreview | None = None
        self._painted_points = 0
        self._known: set = set()  # segment ids of the last refresh (a new one ends a new-segment preview)
        self._pending: dict[int | None, tuple[object, CropMask]] = {}  # finished strokes: id -> (base, result)
        super().__init__(layer, canvas)
        layer.strokeMoved.connect(self._on_stroke_moved)
        self.refresh()

    # -- what to draw --------------------------------------------------------------------------

    def _display_mask(self, mask: CropMask) -> CropMask:
        hit = self._small.get(id(mask))
        if hit is None or hit[0] is not mask:  # holding the mask keeps its id from being reused
            hit = self._small[id(mask)] = (mask, self._grid.display(mask))
        return hit[1]

    def warm(self, mask: CropMask) -> None:
        """Make ``mask``'s overlay copy now (any thread: the stroke worker calls it for the mask it
        just stored, so the reload on the GUI thread finds it made)."""
        grid, small = self._grid, self._small
        if grid is not None and isinstance(mask, CropMask) and mask.full_hw == grid.full_hw:
            small[id(mask)] = (mask, grid.display(mask))

    def _specs(self) -> list[DrawSpec]:
        layer = self.layer
        stroke = layer.stroke
        sid = stroke[0] if stroke is not None else None
        specs = []
        for seg, i in zip(layer.segments, layer.ids):
            if stroke is not None and i == sid and self._preview is not None:
                continue  # drawn last, as the stroke preview
            small = self._display_mask(seg.mask)
            pend = self._pending.get(i)
            if pend is not None:
                if pend[0] is seg.mask:
                    small = pend[1]  # the committed stroke, until the store's new mask arrives
                else:
                    del self._pending[i]
            specs.append(DrawSpec(i, small, seg.color, seg.selected, seg.dimmed))
        if None in self._pending:  # a new segment being stored
            if any(i not in self._known for i in layer.ids):
                del self._pending[None]
            else:
                specs.append(DrawSpec(-1, self._pending[None][1], (255, 255, 255), True, False))
        if stroke is not None and self._preview is not None:
            color = next((s.color for s, i in zip(layer.segments, layer.ids) if i == sid), (255, 255, 255))
            specs.append(DrawSpec(-1 if sid is None else sid, self._preview, color, True, False))
        return specs

    # -- drawing ---------------------------------------------------------------------------------

    def refresh(self) -> None:
        shape, disp = self.canvas.image_shape, self.canvas.display_shape
        if shape is None or disp is None:
            self.item.clear()
            self._grid, self._rgba, self._drawn, self._small, self._pending = None, None, None, {}, {}
            self._preview = None
            return
        hw = overlay_size(disp)
        if self._grid is None or self._grid.full_hw != tuple(shape) or self._grid.hw != hw:
            self._grid, self._small, self._drawn, self._pending = Grid(shape, hw), {}, None, {}
            self._rgba = np.zeros((*hw, 4), np.uint8)
            self.item.set_rgba(self._rgba, QRectF(0, 0, shape[1], shape[0]))
        layer = self.layer
        self._sync_stroke()
        keep = {id(s.mask) for s in layer.segments}
        if len(self._small) > 2 * len(keep) + 8:
            self._small = {k: v for k, v in self._small.items() if k in keep}
        specs = self._specs()
        style = (layer.fill_alpha, layer.contours)
        box, top = self._dirty(specs) if style == self._style else ((0, hw[0], 0, hw[1]), None)
        if box is not None:
            compose_region(self._rgba, specs, box, layer.fill_alpha, layer.contours)
            self.item.update_box(box)
        tb = None if top is None else _grown(mask_box(top.mask))
        if tb is not None:  # the topmost segment only restyled / raised / added: paint it over
            compose_region(self._rgba, [top], tb, layer.fill_alpha, layer.contours, clear=False)
            self.item.update_box(tb)
        self._drawn, self._style = specs, style
        self._known = set(layer.ids)
        # stays "visible" at opacity 0 when hidden, so it still receives the mouse
        self.item.setOpacity(layer.opacity if layer.visible else 0.0)

    def _dirty(self, specs: list[DrawSpec]):
        """(box, top): the box covering every difference between what is drawn and ``specs`` (None:
        nothing), and the topmost spec when it can simply be painted over what is there.

        Why ``top``: selecting a segment restyles it and draws it last; painting it on top gives
        exactly the recomposed pixels (its fill and outline lie inside its own mask), at the cost of
        its own crop, not of every segment under it."""
        h, w = self._grid.hw
        if self._drawn is None:
            return (0, h, 0, w), None
        old = {s.key: s for s in self._drawn}
        new = {s.key: s for s in specs}
        last = specs[-1] if specs else None
        top = None
        box, changed = None, set()
        for k in old.keys() | new.keys():
            a, b = old.get(k), new.get(k)
            if a is not None and b is not None and a.color == b.color and a.selected == b.selected \
                    and a.dimmed == b.dimmed:
                if a.mask is not b.mask:  # same style, new mask (a stroke came back): only what differs
                    changed.add(k)
                    box = union(box, _grown(changed_box(a.mask, b.mask)))
                continue
            changed.add(k)
            if b is not None and b is last and (a is None or a.mask is b.mask):  # b None: removed
                top = b
                continue
            for s in (a, b):
                if s is not None:
                    box = union(box, _grown(mask_box(s.mask)))
        same = [s.key for s in self._drawn if s.key not in changed]
        for k in moved_keys(same, [s.key for s in specs if s.key not in changed]):  # restacked
            box = union(box, _grown(mask_box(new[k].mask)))
        if last is not None and top is None and last.key in old and old[last.key] is not self._drawn[-1] \
                and last.key not in changed and old[last.key].mask is last.mask:
            top = last  # raised to the top unchanged
        if box is not None and (box[1] - box[0]) * (box[3] - box[2]) > FULL_REDRAW_FRACTION * h * w:
            return (0, h, 0, w), None
        return box, top

    def _sync_stroke(self) -> None:
        """Follow the model's stroke: start a preview, or keep a finished one until it is stored."""
        stroke = self.layer.stroke
        if stroke is None:
            self._preview = None
            return
        sid, base, radius, paint, points = stroke
        if self._preview is None:
            pend = self._pending.get(sid)
            small = pend[1] if pend is not None else self._display_mask(base)
            self._preview = StrokePreview(small, self._grid, radius, paint)
            self._painted_points = 0
            self._relabel_drawn(small, self._preview)  # nothing to repaint: the same pixels as before
        if self._preview is not None and self.layer.stroke_done:
            self._paint_points()
            seg_mask = next((s.mask for s, i in zip(self.layer.segments, self.layer.ids) if i == sid), None)
            merged = self._preview.merged()
            self._pending[sid] = (seg_mask, merged)
            self._relabel_drawn(self._preview, merged)
            self._preview = None
            self.layer.stroke = None
            self.layer.stroke_done = False

    def _relabel_drawn(self, old, new) -> None:
        """``new`` draws exactly the pixels ``old`` does (a stroke preview starting from a segment's
        mask, or ending as its merged mask): record it as drawn, so the change repaints nothing when
        the segment is the topmost, selected one (the edit target always is)."""
        if self._drawn and self._drawn[-1].mask is old and self._drawn[-1].selected:
            self._drawn[-1] = DrawSpec(self._drawn[-1].key, new, self._drawn[-1].color, True, self._drawn[-1].dimmed)

    def _paint_points(self):
        pts = self.layer.stroke[4]
        box = None
        for x, y in pts[self._painted_points:]:
            box = union(box, self._preview.add(x, y))
        self._painted_points = len(pts)
        return box

    def _on_stroke_moved(self) -> None:
        if self._preview is None or self._rgba is None or self.layer.stroke is None:
            return
        box = self._paint_points()
        if box is None:
            return
        box = _grown(box)
        compose_region(self._rgba, self._specs(), box, self.layer.fill_alpha, self.layer.contours)
        self.item.update_box(box)


def _grown(box, by: int = 4):
    if box is None:
        return None
    return box[0] - by, box[1] + by, box[2] - by, box[3] + by
