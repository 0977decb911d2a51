"""Layer controls generated from the canvas's layers: a visibility box and (where the layer has one)
an opacity slider per layer, then each layer's own controls; plus the brush radius of the canvas.

Every control writes to its layer model and follows the model's ``changed`` signal, so a change made
elsewhere (a key, restored settings) shows here without the window syncing anything by hand.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (QCheckBox, QFormLayout, QHBoxLayout, QSlider, QSpinBox, QVBoxLayout,
                               QWidget)


class LayersPanel(QWidget):
    def __init__(self, canvas, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layersPanel")
        self.canvas = canvas
        self.checks: dict[str, QCheckBox] = {}
        self.sliders: dict[str, QSlider] = {}
        self.controls: dict[str, QWidget] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for name, layer in reversed(canvas.layers.items()):  # top layer first, as drawn
            row = QHBoxLayout()
            cb = QCheckBox(layer.title)
            cb.toggled.connect(layer.set_visible)
            row.addWidget(cb, 1)
            self.checks[name] = cb
            if layer.default_opacity is not None:
                sl = QSlider(Qt.Orientation.Horizontal)
                sl.setRange(0, 100)
                sl.setFixedWidth(110)
                sl.setToolTip(f"{layer.title} opacity")
                sl.valueChanged.connect(lambda v, lay_=layer: lay_.set_opacity(v / 100.0))
                row.addWidget(sl)
                self.sliders[name] = sl
            lay.addLayout(row)
            extra = layer.create_controls(self)
            if extra is not None:
                extra.setContentsMargins(18, 0, 0, 0)
                lay.addWidget(extra)
                self.controls[name] = extra
            layer.changed.connect(lambda n=name: self._sync(n))
            self._sync(name)
        canvas.layersCleared.connect(self._sync_controls)
        form = QFormLayout()
        self.brush_radius = QSpinBox()
        self.brush_radius.setRange(1, 200)
        self.brush_radius.setSuffix(" px")
        self.brush_radius.setToolTip("Brush / eraser radius ([ and ] change it)")
        self.brush_radius.setValue(int(canvas.brush_radius))
        self.brush_radius.valueChanged.connect(canvas.set_brush_radius)
        form.addRow("Brush radius", self.brush_radius)
        lay.addLayout(form)
        lay.addStretch(1)

    def _sync(self, name: str) -> None:
        layer = self.canvas.layers[name]
        cb = self.checks[name]
        cb.blockSignals(True)
        cb.setChecked(layer.visible)
        cb.blockSignals(False)
        if name in self.sliders:
            sl = self.sliders[name]
            sl.blockSignals(True)
            sl.setValue(int(round(layer.opacity * 100)))
            sl.blockSignals(False)

    def _sync_controls(self) -> None:
        """A new image cleared the layers (silently, to redraw once): controls that show layer data
        (the eigenvalues) must not keep the previous image's."""
        for controls in self.controls.values():
            if callable(getattr(controls, "sync", None)):
                controls.sync()

    def sync_brush(self) -> None:
        self.brush_radius.blockSignals(True)
        self.brush_radius.setValue(int(self.canvas.brush_radius))
        self.brush_radius.blockSignals(False)
