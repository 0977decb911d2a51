"""What the Polygon and Box tools draw: the polygon being drawn (with its rubber-band edge to the mouse),
the rings of the segment being edited with their vertices, and the rectangle being dragged.

The tool (:mod:`app.polygon_tool`) owns the geometry and writes it here; nothing on this layer is
stored until the tool commits a mask. The layer also holds the one polygon setting, the simplification
tolerance used when a segment is turned into an editable polygon, so the project remembers it with the
other view state (Layers tab).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QDoubleSpinBox, QFormLayout, QGraphicsRectItem, QWidget

from . import register_layer
from .base import Layer, LayerView, stack_items

RING, DRAW, HOT = (255, 214, 10), (0, 220, 255), (255, 64, 96)
#: Douglas-Peucker distance (px) for mask → polygon: 1.5 px keeps the outline within a pixel and a half
#: while a 300-px object needs tens of vertices, not hundreds (small objects get less, see the tool).
DEFAULT_TOLERANCE = 1.5


@register_layer
class PolygonLayer(Layer):
    name, title, z = "polygon", "Polygon editor", 6.0
    default_opacity = None

    def __init__(self) -> None:
        super().__init__()
        self.tolerance = DEFAULT_TOLERANCE
        self._reset()

    def _reset(self) -> None:
        self.rings: list[np.ndarray] = []  # polygon being edited: (N, 2) x, y in pixel-edge coordinates
        self.path: np.ndarray | None = None  # polygon being drawn (k, 2), open
        self.cursor: tuple[float, float] | None = None  # rubber-band end (the mouse)
        self.box: tuple[float, float, float, float] | None = None  # rectangle being dragged
        self.hot: tuple[int, int] | None = None  # (ring, vertex) under the mouse
        self.closing = False  # the mouse is on the first vertex: a click closes the polygon

    def has_data(self) -> bool:
        return bool(self.rings) or self.path is not None or self.box is not None

    def clear(self) -> None:
        self._reset()
        self.changed.emit()

    def show(self, *, rings=None, path=None, cursor=None, box=None, hot=None, closing=False) -> None:
        """Everything at once (the tool redraws its whole state; a missing argument = nothing)."""
        self.rings = [np.asarray(r, np.float64).reshape(-1, 2) for r in (rings or [])]
        self.path = None if path is None or len(path) == 0 else np.asarray(path, np.float64).reshape(-1, 2)
        self.cursor, self.box, self.hot, self.closing = cursor, box, hot, bool(closing)
        self.changed.emit()

    def set_tolerance(self, tolerance: float) -> None:
        tolerance = float(min(max(tolerance, 0.0), 20.0))
        if tolerance != self.tolerance:
            self.tolerance = tolerance
            self.changed.emit()

    def state(self) -> dict:
        return super().state() | {"tolerance": self.tolerance}

    def restore(self, state: dict) -> None:
        try:
            self.tolerance = float(min(max(float(state.get("tolerance", self.tolerance)), 0.0), 20.0))
        except (TypeError, ValueError):
            pass
        super().restore(state)

    def create_view(self, canvas) -> "PolygonView":
        return PolygonView(self, canvas)

    def create_controls(self, parent: QWidget | None = None) -> QWidget:
        box = QWidget(parent)
        form = QFormLayout(box)
        form.setContentsMargins(0, 0, 0, 0)
        spin = QDoubleSpinBox()
        spin.setObjectName("polygonTolerance")
        spin.setRange(0.0, 20.0)
        spin.setSingleStep(0.5)
        spin.setDecimals(1)
        spin.setSuffix(" px")
        spin.setToolTip("How far an outline may move when a segment becomes an editable polygon (Shift+G): "
                        "larger = fewer vertices; 0 = every pixel corner")
        spin.setValue(self.tolerance)
        spin.valueChanged.connect(self.set_tolerance)

        def sync() -> None:
            spin.blockSignals(True)
            spin.setValue(self.tolerance)
            spin.blockSignals(False)

        self.changed.connect(sync)
        form.addRow("Polygon tolerance", spin)
        box.tolerance = spin
        return box


def _pen(rgb, width: float, style=Qt.PenStyle.SolidLine) -> QPen:
    pen = QPen(QColor(*rgb))
    pen.setWidthF(width)
    pen.setCosmetic(True)
    pen.setStyle(style)
    return pen


_BRUSH = {"ring": pg.mkBrush(*RING), "draw": pg.mkBrush(*DRAW), "hot": pg.mkBrush(*HOT), "pen": pg.mkPen(30, 30, 30)}


class _Vertices(pg.ScatterPlotItem):
    """Vertex markers that never take the mouse: clicks and drags go to the canvas's tool."""

    def mouseClickEvent(self, ev):
        ev.ignore()

    def mouseDragEvent(self, ev):
        ev.ignore()


def _closed(rings: list[np.ndarray]) -> np.ndarray:
    """Rings joined into one NaN-separated, closed polyline (one curve item for all rings)."""
    return np.concatenate([np.vstack([r, r[:1], [[np.nan, np.nan]]]) for r in rings])


class PolygonView(LayerView):
    def __init__(self, layer: PolygonLayer, canvas):
        self.rings_item = pg.PlotCurveItem(pen=_pen(RING, 2.0), connect="finite")
        self.path_item = pg.PlotCurveItem(pen=_pen(DRAW, 2.0))
        self.band_item = pg.PlotCurveItem(pen=_pen(DRAW, 1.5, Qt.PenStyle.DashLine))
        self.box_item = QGraphicsRectItem()
        self.box_item.setPen(_pen(DRAW, 2.0, Qt.PenStyle.DashLine))
        self.vertices = _Vertices(pxMode=True)
        stack_items(canvas, layer.z, (self.rings_item, self.path_item, self.band_item, self.box_item, self.vertices))
        super().__init__(layer, canvas)
        self.refresh()

    def refresh(self) -> None:
        layer = self.layer
        on = layer.visible and self.canvas.image_shape is not None
        rings = [r for r in layer.rings if len(r) >= 2] if on else []
        if rings:
            xy = _closed(rings)
            self.rings_item.setData(xy[:, 0], xy[:, 1])
        self.rings_item.setVisible(bool(rings))
        path = layer.path if on else None
        if path is not None:
            self.path_item.setData(path[:, 0], path[:, 1])
        self.path_item.setVisible(path is not None)
        band = path is not None and layer.cursor is not None
        if band:
            end = path[0] if layer.closing else layer.cursor
            self.band_item.setData([path[-1, 0], end[0]], [path[-1, 1], end[1]])
        self.band_item.setVisible(band)
        if on and layer.box is not None:
            x0, y0, x1, y1 = layer.box
            self.box_item.setRect(QRectF(min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0)))
        self.box_item.setVisible(on and layer.box is not None)
        pts, sizes, brushes, symbols = [], [], [], []
        for ri, ring in enumerate(rings):
            pts.append(ring)
            sizes += [7] * len(ring)
            brushes += [_BRUSH["ring"]] * len(ring)
            symbols += ["s"] * len(ring)
            if layer.hot is not None and layer.hot[0] == ri and 0 <= layer.hot[1] < len(ring):
                k = len(sizes) - len(ring) + layer.hot[1]
                sizes[k], brushes[k] = 11, _BRUSH["hot"]
        if path is not None:
            pts.append(path)
            sizes += [12 if layer.closing else 8] + [8] * (len(path) - 1)
            brushes += [_BRUSH["hot" if layer.closing else "draw"]] + [_BRUSH["draw"]] * (len(path) - 1)
            symbols += ["o"] * len(path)
        if pts:
            xy = np.concatenate(pts)
            self.vertices.setData(x=xy[:, 0], y=xy[:, 1], size=np.asarray(sizes, float), brush=brushes,
                                  symbol=symbols, pen=_BRUSH["pen"])
        else:
            self.vertices.setData(x=[], y=[])
        self.vertices.setVisible(bool(pts))
