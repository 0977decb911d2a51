"""Eigenvector *k* of the DSM feature Laplacian on the patch grid, colour-mapped over the photo.

The layer owns the eigenvector index and the colour map, so keys Alt+1–9, the Layers panel and the saved
view settings all change one value instead of being synced by hand.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QComboBox, QFormLayout, QLabel, QSpinBox, QWidget

from ..overlays import normalise_map
from . import register_layer
from .base import Layer, LayerView

COLORMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "CET-D1")


@register_layer
class EigenLayer(Layer):
    name, title, z = "eigen", "Eigenvector", 1.0
    default_visible, default_opacity = False, 0.55

    def __init__(self) -> None:
        super().__init__()
        self.index = 1  # 0 is the trivial constant vector
        self.colormap = "viridis"
        self.eigenvectors: np.ndarray | None = None  # (K, h, w) float32
        self.eigenvalues: np.ndarray | None = None
        self.cell_hw: tuple[float, float] | None = None

    def has_data(self) -> bool:
        return self.eigenvectors is not None

    def clear(self) -> None:
        self.eigenvectors = self.eigenvalues = self.cell_hw = None
        self.changed.emit()

    def set_overlays(self, overlays) -> None:
        if overlays is None:
            self.clear()
            return
        self.eigenvectors = np.asarray(overlays.eigenvectors, np.float32)
        self.eigenvalues = np.asarray(overlays.eigenvalues, np.float32)
        self.cell_hw = overlays.cell_hw
        self.changed.emit()

    def shown_index(self) -> int:
        """The index actually drawn (an image may have fewer vectors than the chosen index)."""
        if self.eigenvectors is None:
            return self.index
        return min(max(self.index, 1), len(self.eigenvectors) - 1)

    def shown_map(self) -> np.ndarray | None:
        return None if self.eigenvectors is None else self.eigenvectors[self.shown_index()]

    def set_index(self, k: int) -> None:
        if int(k) != self.index:
            self.index = int(k)
            self.changed.emit()

    def set_colormap(self, name: str) -> None:
        if name != self.colormap and name in COLORMAPS:
            self.colormap = name
            self.changed.emit()

    def state(self) -> dict:
        return super().state() | {"index": self.index, "colormap": self.colormap}

    def restore(self, state: dict) -> None:
        self.index = int(state.get("index", self.index))
        if state.get("colormap") in COLORMAPS:
            self.colormap = state["colormap"]
        super().restore(state)

    def create_view(self, canvas) -> "EigenView":
        return EigenView(self, canvas)

    def create_controls(self, parent: QWidget | None = None) -> QWidget:
        return EigenControls(self, parent)


class EigenView(LayerView):
    def __init__(self, layer: EigenLayer, canvas):
        self.item = pg.ImageItem()
        self.item.setZValue(layer.z)
        canvas.view.addItem(self.item)
        self._cmap: str | None = None
        self._drawn: tuple | None = None
        super().__init__(layer, canvas)
        self.refresh()

    def refresh(self) -> None:
        layer, shape = self.layer, self.canvas.image_shape
        grid = layer.shown_map()
        if layer.colormap != self._cmap:
            self.item.setColorMap(pg.colormap.get(layer.colormap))
            self._cmap = layer.colormap
        if grid is None or shape is None:
            self.item.clear()
            self._drawn = None
        elif self._drawn != (id(layer.eigenvectors), layer.shown_index(), shape):
            self.item.setImage(normalise_map(grid), autoLevels=False, levels=(0.0, 1.0))
            h, w = shape
            if layer.cell_hw is not None:
                h, w = grid.shape[0] * layer.cell_hw[0], grid.shape[1] * layer.cell_hw[1]
            self.item.setRect(QRectF(0, 0, w, h))
            self._drawn = (id(layer.eigenvectors), layer.shown_index(), shape)
        self.item.setOpacity(layer.opacity)
        self.item.setVisible(layer.visible and grid is not None and shape is not None)


class EigenControls(QWidget):
    """Index, colour map and the eigenvalues of the current image."""

    def __init__(self, layer: EigenLayer, parent: QWidget | None = None):
        super().__init__(parent)
        self.layer = layer
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        self.index = QSpinBox()
        self.index.setRange(1, 9)
        self.index.setToolTip("Eigenvector shown (keys Alt+1–9); 0 is the trivial constant one")
        self.index.valueChanged.connect(layer.set_index)
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.colormap.currentTextChanged.connect(layer.set_colormap)
        self.info = QLabel("")
        self.info.setObjectName("hint")
        self.info.setWordWrap(True)
        form.addRow("Eigenvector", self.index)
        form.addRow("Colormap", self.colormap)
        form.addRow(self.info)
        layer.changed.connect(self.sync)
        self.sync()

    def sync(self) -> None:
        layer = self.layer
        for w, setter, value in ((self.index, self.index.setValue, layer.index),
                                 (self.colormap, self.colormap.setCurrentText, layer.colormap)):
            w.blockSignals(True)
            setter(value)
            w.blockSignals(False)
        if layer.eigenvalues is not None:
            vals = ", ".join(f"{v:.3f}" for v in layer.eigenvalues[1:6])
            self.info.setText(f"Eigenvalues λ1–λ5: {vals}")
        else:
            self.info.setText("")
