"""Live preview of the Prompt tool: the proposed mask, the clicks (green = object, red = not object),
the box and the scribbles. The tool writes here; nothing is stored until the user commits."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from ..overlays import OverlaySegment, compose_segments, downscale_mask
from . import register_layer
from .base import Layer, LayerView, stack_items

POSITIVE, NEGATIVE = (64, 220, 96), (240, 64, 80)
PREVIEW = (0, 200, 255)


@register_layer
class PromptLayer(Layer):
    name, title, z = "prompt", "Prompt preview", 5.0
    default_opacity = 0.8

    def __init__(self) -> None:
        super().__init__()
        self.mask: np.ndarray | None = None  # bool, full resolution or the overlay's (preview) size
        self.prompts = None  # engine.prompts.Prompts shown as markers
        self.drag_box: tuple[float, float, float, float] | None = None  # rubber band while dragging
        self.drag_path: np.ndarray | None = None  # scribble in progress (k, 2)

    def has_data(self) -> bool:
        return self.mask is not None or self.prompts is not None

    def clear(self) -> None:
        self.mask = self.prompts = self.drag_box = self.drag_path = None
        self.changed.emit()

    def show(self, prompts, mask: np.ndarray | None) -> None:
        self.prompts, self.mask = prompts, mask
        self.changed.emit()

    def show_drag(self, box=None, path: np.ndarray | None = None) -> None:
        self.drag_box, self.drag_path = box, path
        self.changed.emit()

    def create_view(self, canvas) -> "PromptView":
        return PromptView(self, canvas)


def _pen(rgb, width: float = 2.0, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(*rgb))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    pen.setStyle(style)
    return pen


class PromptView(LayerView):
    def __init__(self, layer: PromptLayer, canvas):
        self.mask_item = pg.ImageItem()
        self.box_item = QGraphicsRectItem()
        self.box_item.setPen(_pen((255, 255, 255), 1.5, Qt.PenStyle.DashLine))
        self.lines = {sign: pg.PlotCurveItem(pen=_pen(c, 3.0), connect="finite")
                      for sign, c in (("+", POSITIVE), ("-", NEGATIVE))}
        self.points = pg.ScatterPlotItem(size=12, pxMode=True)
        stack_items(canvas, layer.z, (self.mask_item, self.box_item, *self.lines.values(), self.points))
        super().__init__(layer, canvas)
        self.refresh()

    def refresh(self) -> None:
        layer, shape, disp = self.layer, self.canvas.image_shape, self.canvas.display_shape
        on = layer.visible and shape is not None
        if on and layer.mask is not None and layer.mask.shape in (shape, self.canvas.overlay_shape):
            small = downscale_mask(layer.mask, disp) if layer.mask.shape == shape else layer.mask  # a preview
            rgba = compose_segments([OverlaySegment(small, PREVIEW, True)], small.shape, 0.45, contour=True)
            self.mask_item.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.mask_item.setRect(QRectF(0, 0, shape[1], shape[0]))
            self.mask_item.setOpacity(layer.opacity)
            self.mask_item.setVisible(True)
        else:
            self.mask_item.setVisible(False)
        p = layer.prompts
        box = layer.drag_box or (p.box if p is not None else None)
        if on and box is not None:
            x0, y0, x1, y1 = box
            self.box_item.setRect(QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))
        self.box_item.setVisible(on and box is not None)
        for sign, item in self.lines.items():
            paths = [] if p is None else list(p.positive_scribbles if sign == "+" else p.negative_scribbles)
            if layer.drag_path is not None and sign == "+":
                paths.append(layer.drag_path)
            item.setVisible(on and bool(paths))
            if on and paths:
                xy = np.concatenate([np.vstack([np.asarray(a, float), [[np.nan, np.nan]]]) for a in paths])
                item.setData(xy[:, 0], xy[:, 1])
        spots = [] if p is None or not on else (
            [{"pos": pt, "brush": pg.mkBrush(*POSITIVE), "symbol": "o"} for pt in p.positive]
            + [{"pos": pt, "brush": pg.mkBrush(*NEGATIVE), "symbol": "x"} for pt in p.negative])
        self.points.setData(spots)
