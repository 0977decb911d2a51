"""Layer controls: visibility and opacity per overlay, eigenvector index, colormap, brush radius."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QSpinBox,
                               QVBoxLayout, QWidget)

from .canvas import LAYERS

LAYER_TITLES = {"eigen": "Eigenvector", "segments": "Segments", "alpha": "Matting alpha", "box": "Object box"}
COLORMAPS = ("viridis", "magma", "inferno", "plasma", "cividis", "CET-D1")


class LayersPanel(QWidget):
    visibilityChanged = Signal(str, bool)
    opacityChanged = Signal(str, float)
    eigenIndexChanged = Signal(int)
    colormapChanged = Signal(str)
    contoursChanged = Signal(bool)
    brushRadiusChanged = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layersPanel")
        self.checks: dict[str, QCheckBox] = {}
        self.sliders: dict[str, QSlider] = {}
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        for name in LAYERS:
            row = QHBoxLayout()
            cb = QCheckBox(LAYER_TITLES[name])
            cb.toggled.connect(lambda on, n=name: self.visibilityChanged.emit(n, on))
            row.addWidget(cb, 1)
            if name != "box":
                sl = QSlider(Qt.Orientation.Horizontal)
                sl.setRange(0, 100)
                sl.setFixedWidth(110)
                sl.setToolTip(f"{LAYER_TITLES[name]} opacity")
                sl.valueChanged.connect(lambda v, n=name: self.opacityChanged.emit(n, v / 100.0))
                row.addWidget(sl)
                self.sliders[name] = sl
            self.checks[name] = cb
            lay.addLayout(row)
        form = QFormLayout()
        self.eigen_index = QSpinBox()
        self.eigen_index.setRange(1, 9)
        self.eigen_index.setToolTip("Eigenvector shown (keys 1–9); 0 is the trivial constant one")
        self.eigen_index.valueChanged.connect(self.eigenIndexChanged.emit)
        self.colormap = QComboBox()
        self.colormap.addItems(COLORMAPS)
        self.colormap.currentTextChanged.connect(self.colormapChanged.emit)
        self.contours = QCheckBox("Outline segments")
        self.contours.toggled.connect(self.contoursChanged.emit)
        self.brush_radius = QSpinBox()
        self.brush_radius.setRange(1, 200)
        self.brush_radius.setSuffix(" px")
        self.brush_radius.setToolTip("Brush / eraser radius ([ and ] change it)")
        self.brush_radius.valueChanged.connect(self.brushRadiusChanged.emit)
        form.addRow("Eigenvector", self.eigen_index)
        form.addRow("Colormap", self.colormap)
        form.addRow("", self.contours)
        form.addRow("Brush radius", self.brush_radius)
        lay.addLayout(form)
        self.info = QLabel("")
        self.info.setObjectName("hint")
        self.info.setWordWrap(True)
        lay.addWidget(self.info)
        lay.addStretch(1)

    def sync(self, canvas, eigen_index: int, colormap: str) -> None:
        """Show the canvas's current state without re-emitting it."""
        for name in LAYERS:
            self.checks[name].blockSignals(True)
            self.checks[name].setChecked(canvas.layer_visible(name))
            self.checks[name].blockSignals(False)
            if name in self.sliders:
                self.sliders[name].blockSignals(True)
                self.sliders[name].setValue(int(round(canvas.layer_opacity(name) * 100)))
                self.sliders[name].blockSignals(False)
        for w, value in ((self.eigen_index, eigen_index), (self.brush_radius, int(canvas.brush_radius))):
            w.blockSignals(True)
            w.setValue(value)
            w.blockSignals(False)
        self.colormap.blockSignals(True)
        self.colormap.setCurrentText(colormap)
        self.colormap.blockSignals(False)
        self.contours.blockSignals(True)
        self.contours.setChecked(canvas.contours)
        self.contours.blockSignals(False)
