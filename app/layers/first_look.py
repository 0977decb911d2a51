"""The object as the analysis first sees it: the patch-level object mask of a *partial* analysis,
shown while the CRF, the segments and the matting are still being computed (issue 16: a newly opened
image shows something within a second; the full result replaces it)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from . import register_layer
from .base import Layer, LayerView

#: RGBA of the object cells (a translucent cyan, distinct from the class palette's first colours)
COLOUR = (0, 200, 255, 110)


@register_layer
class FirstLookLayer(Layer):
    name, title, z = "first_look", "Object (first look)", 2.5
    default_opacity = 1.0

    def __init__(self) -> None:
        super().__init__()
        self.mask: np.ndarray | None = None  # bool (h, w) on the patch grid
        self.rect: tuple[float, float, float, float] | None = None  # x, y, w, h in image pixels

    def has_data(self) -> bool:
        return self.mask is not None

    def clear(self) -> None:
        self.mask = self.rect = None
        self.changed.emit()

    def set_overlays(self, overlays) -> None:
        """Shown only for a partial result; the final overlays (or none) clear it."""
        mask = None if overlays is None or not overlays.partial else overlays.object_patch_mask
        if mask is None:
            self.mask = self.rect = None
        else:
            self.mask = np.asarray(mask, bool)
            gh, gw = self.mask.shape
            if overlays.cell_hw is None:  # the grid is stretched over the whole image
                ih, iw = overlays.image_hw
                self.rect = (0.0, 0.0, float(iw), float(ih))
            else:
                ch, cw = overlays.cell_hw
                self.rect = (0.0, 0.0, gw * cw, gh * ch)
        self.changed.emit()

    def create_view(self, canvas) -> "FirstLookView":
        return FirstLookView(self, canvas)


class FirstLookView(LayerView):
    def __init__(self, layer: FirstLookLayer, canvas):
        self.item = pg.ImageItem()
        self.item.setZValue(layer.z)
        canvas.view.addItem(self.item)
        super().__init__(layer, canvas)
        self.refresh()

    def refresh(self) -> None:
        mask, rect = self.layer.mask, self.layer.rect
        shown = mask is not None and self.canvas.image_shape is not None
        if shown:
            rgba = np.zeros(mask.shape + (4,), np.uint8)
            rgba[mask] = COLOUR
            self.item.setImage(rgba, autoLevels=False, levels=(0, 255))
            self.item.setRect(QRectF(*rect))
        else:
            self.item.clear()
        self.item.setOpacity(self.layer.opacity)
        self.item.setVisible(self.layer.visible and shown)
