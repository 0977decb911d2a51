"""Proposals / accepted segments of the current image as one RGBA overlay; it also receives the mouse.

The model holds what to draw (colour, selection, dimming per segment; the brush stroke in progress)
and answers "which segment is under this pixel"; the view composes the RGBA image at display
resolution and forwards clicks and drags to the canvas's active tool.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QCheckBox, QVBoxLayout, QWidget

from ..overlays import OverlaySegment, compose_segments, downscale_mask
from . import register_layer
from .base import Layer, LayerView


@register_layer
class SegmentsLayer(Layer):
    name, title, z = "segments", "Segments", 3.0

    def __init__(self) -> None:
        super().__init__()
        self.segments: list[OverlaySegment] = []
        self.ids: list[int] = []
        self.contours = True
        self.fill_alpha = 0.45
        self.stroke: tuple[int | None, np.ndarray] | None = None  # (segment id or None = new, live mask)

    def has_data(self) -> bool:
        return bool(self.segments)

    def clear(self) -> None:
        self.segments, self.ids, self.stroke = [], [], None
        self.changed.emit()

    def set_segments(self, segments: list[OverlaySegment], ids: list[int]) -> None:
        """Segments in drawing order (later on top); ``ids`` map clicks back to segment ids."""
        self.segments, self.ids = list(segments), list(ids)
        self.changed.emit()

    def set_stroke(self, segment_id: int | None, mask: np.ndarray | None) -> None:
        """Show a brush stroke in progress in place of ``segment_id``'s mask (None mask: done)."""
        self.stroke = None if mask is None else (segment_id, mask)
        self.changed.emit()

    def set_contours(self, on: bool) -> None:
        if bool(on) != self.contours:
            self.contours = bool(on)
            self.changed.emit()

    def segments_at(self, x: float, y: float) -> list[int]:
        """Ids of the segments covering pixel (x, y), smallest first (the order repeated clicks cycle)."""
        if not self.segments:
            return []
        xi, yi = int(x), int(y)
        h, w = self.segments[0].mask.shape
        if not (0 <= xi < w and 0 <= yi < h):
            return []
        hits = sorted((int(seg.mask.sum()), sid) for seg, sid in zip(self.segments, self.ids)
                      if seg.mask.shape == (h, w) and seg.mask[yi, xi])
        return [sid for _, sid in hits]

    def drawn_segments(self) -> list[OverlaySegment]:
        if self.stroke is None:
            return self.segments
        sid, mask = self.stroke
        segs = list(self.segments)
        if sid in self.ids:
            i = self.ids.index(sid)
            segs[i] = OverlaySegment(mask, segs[i].color, True)
        else:
            segs.append(OverlaySegment(mask, (255, 255, 255), True))
        return segs

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
    """The overlay image; hands hover, clicks and drags (in display pixels) to the canvas's tool."""

    def __init__(self, canvas):
        super().__init__()
        self._canvas = canvas

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
        self._small: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(mask) -> (mask, display copy)
        super().__init__(layer, canvas)
        self.refresh()

    def refresh(self) -> None:
        shape, disp = self.canvas.image_shape, self.canvas.display_shape
        if shape is None or disp is None:
            self.item.clear()
            self._small = {}
            return
        segs = self.layer.drawn_segments()
        if disp != shape:  # huge photo: draw downscaled masks, each downscaled once, not per redraw
            keep = {id(s.mask) for s in self.layer.segments}
            self._small = {k: v for k, v in self._small.items() if k in keep}
            segs = [replace(s, mask=self._display_mask(s.mask)) for s in segs]
        rgba = compose_segments(segs, disp, self.layer.fill_alpha, self.layer.contours)
        self.item.setImage(rgba, autoLevels=False, levels=(0, 255))
        self.item.setRect(QRectF(0, 0, shape[1], shape[0]))
        # stays "visible" at opacity 0 when hidden, so it still receives the mouse
        self.item.setOpacity(self.layer.opacity if self.layer.visible else 0.0)

    def _display_mask(self, mask: np.ndarray) -> np.ndarray:
        hit = self._small.get(id(mask))
        if hit is None or hit[0] is not mask:  # holding the mask keeps its id from being reused
            small = downscale_mask(mask, self.canvas.display_shape)
            if self.layer.stroke is not None and mask is self.layer.stroke[1]:
                return small  # changes on every mouse move: not worth caching
            hit = self._small[id(mask)] = (mask, small)
        return hit[1]
