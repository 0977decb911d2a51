"""Matting alpha of the DSM object (float in [0, 1]), colour-mapped over the photo."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from . import register_layer
from .base import Layer, LayerView


@register_layer
class AlphaLayer(Layer):
    name, title, z = "alpha", "Matting alpha", 2.0
    default_visible, default_opacity = False, 0.6

    def __init__(self) -> None:
        super().__init__()
        self.alpha: np.ndarray | None = None

    def has_data(self) -> bool:
        return self.alpha is not None

    def clear(self) -> None:
        self.alpha = None
        self.changed.emit()

    def set_overlays(self, overlays) -> None:
        self.alpha = None if overlays is None else overlays.alpha_float()
        self.changed.emit()

    def create_view(self, canvas) -> "AlphaView":
        return AlphaView(self, canvas)


class AlphaView(LayerView):
    def __init__(self, layer: AlphaLayer, canvas):
        self.item = pg.ImageItem()
        self.item.setZValue(layer.z)
        self.item.setColorMap(pg.colormap.get("inferno"))
        canvas.view.addItem(self.item)
        self._drawn: tuple | None = None
        super().__init__(layer, canvas)
        self.refresh()

    def refresh(self) -> None:
        alpha, shape = self.layer.alpha, self.canvas.image_shape
        if alpha is None or shape is None:
            self.item.clear()
            self._drawn = None
        elif self._drawn != (id(alpha), shape):  # the alpha may be a display-size copy: stretch it
            self.item.setImage(alpha, autoLevels=False, levels=(0.0, 1.0))
            self.item.setRect(QRectF(0, 0, shape[1], shape[0]))
            self._drawn = (id(alpha), shape)
        self.item.setOpacity(self.layer.opacity)
        self.item.setVisible(self.layer.visible and alpha is not None and shape is not None)
