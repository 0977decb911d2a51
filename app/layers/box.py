"""DSM localisation box (x0, y0, x1, y1 in full-resolution pixels) drawn as a rectangle."""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsRectItem

from . import register_layer
from .base import Layer, LayerView


@register_layer
class BoxLayer(Layer):
    name, title, z = "box", "Object box", 4.0
    default_opacity = None

    def __init__(self) -> None:
        super().__init__()
        self.box: tuple[int, int, int, int] | None = None

    def has_data(self) -> bool:
        return self.box is not None

    def clear(self) -> None:
        self.box = None
        self.changed.emit()

    def set_overlays(self, overlays) -> None:
        box = None if overlays is None else overlays.box
        self.box = None if box is None else tuple(int(v) for v in box)
        self.changed.emit()

    def create_view(self, canvas) -> "BoxView":
        return BoxView(self, canvas)


class BoxView(LayerView):
    def __init__(self, layer: BoxLayer, canvas):
        self.item = QGraphicsRectItem()
        pen = QPen(QColor(255, 215, 0))
        pen.setWidthF(2.5)
        pen.setCosmetic(True)
        self.item.setPen(pen)
        self.item.setZValue(layer.z)
        canvas.view.addItem(self.item)
        super().__init__(layer, canvas)
        self.refresh()

    def refresh(self) -> None:
        box = self.layer.box
        if box is not None:
            x0, y0, x1, y1 = box
            self.item.setRect(QRectF(x0, y0, max(1, x1 - x0), max(1, y1 - y0)))
        self.item.setVisible(self.layer.visible and box is not None and self.canvas.image_shape is not None)
