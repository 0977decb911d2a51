"""Image canvas: the photo, the registered overlay layers, and the mouse tools.

Built on a pyqtgraph :class:`~pyqtgraph.ViewBox` (zoom with the wheel, pan with a drag). The photo is
z = 0; every layer from :func:`app.layers.create_layers` adds its own view above it, so the canvas
never names an overlay. View coordinates are always full-resolution image pixels, also when a huge
photo is drawn downscaled.

Tools: ``view`` (a click selects), ``brush`` / ``erase`` (a drag paints into a working copy of the
edit target's mask and, on release, emits ``strokeFinished`` once — one undo step), and ``prompt``
(clicks, boxes and scribbles go to the prompt tool, see :mod:`app.prompt_tool`).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QVBoxLayout, QWidget

from .layers import Layer, create_layers
from .overlays import stamp_segment

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

MODES = ("view", "brush", "erase", "prompt", "polygon", "box")
#: pyqtgraph zooms 1.02 ** (wheel delta * factor): its default -1/8 is 35 % per wheel notch, too coarse
#: to frame a small object; -1/20 is about 13 % per notch.
WHEEL_SCALE_FACTOR = -1.0 / 20.0


class ImageCanvas(QWidget):
    """The central view. All inputs are numpy arrays computed elsewhere (never on this thread)."""

    clicked = Signal(float, float)  # image x, y (view mode)
    strokeFinished = Signal(object, bool)  # new bool mask (H, W), erase?
    modeChanged = Signal(str)
    imageChanged = Signal()  # a new photo (or none): layer views reset
    layersCleared = Signal()  # every layer's data was dropped (before imageChanged)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view_widget = pg.GraphicsLayoutWidget()
        self.view_widget.setObjectName("canvasView")
        self.view_widget.setBackground("#1e1f22")
        self.view: pg.ViewBox = self.view_widget.addViewBox()
        self.view.setAspectLocked(True)
        self.view.invertY(True)
        self.view.setMenuEnabled(False)
        self.view.state["wheelScaleFactor"] = WHEEL_SCALE_FACTOR
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view_widget)

        self._shape: tuple[int, int] | None = None  # full image resolution = mask size
        self._disp_shape: tuple[int, int] | None = None  # size the photo/overlay are drawn at
        self.image_item = pg.ImageItem()
        self.image_item.setZValue(0)
        self.view.addItem(self.image_item)
        self.layers: dict[str, Layer] = create_layers()
        self.views = {name: layer.create_view(self) for name, layer in self.layers.items()}
        self.cursor_item = QGraphicsEllipseItem()
        cpen = QPen(QColor(255, 255, 255))
        cpen.setCosmetic(True)
        cpen.setStyle(Qt.PenStyle.DashLine)
        self.cursor_item.setPen(cpen)
        self.cursor_item.setZValue(100)
        self.cursor_item.setVisible(False)
        self.view.addItem(self.cursor_item)

        self.mode = "view"
        self.prompt_tool = None  # set by app.prompt_tool.PromptTool when it attaches
        self.polygon_tool = None  # set by app.polygon_tool.PolygonTool (modes "polygon" / "box")
        self.brush_radius = 12.0
        self._edit_id: int | None = None
        self._edit_mask: np.ndarray | None = None
        self._stroke_mask: np.ndarray | None = None
        self._last_pt: tuple[float, float] | None = None

    # -- geometry ----------------------------------------------------------------------------------

    @property
    def image_shape(self) -> tuple[int, int] | None:
        return self._shape

    @property
    def display_shape(self) -> tuple[int, int] | None:
        """(h, w) the photo and the segments overlay are drawn at (smaller than image_shape for huge
        photos); view coordinates are always full-resolution image pixels."""
        return self._disp_shape

    def to_image(self, pos: QPointF) -> QPointF:
        """Map a point in a display-resolution item's coordinates to full-res image pixels."""
        if self._shape is None or self._disp_shape is None or self._shape == self._disp_shape:
            return QPointF(pos)
        return QPointF(pos.x() * self._shape[1] / self._disp_shape[1],
                       pos.y() * self._shape[0] / self._disp_shape[0])

    def set_image(self, rgb: np.ndarray | None, full_hw: tuple[int, int] | None = None) -> None:
        """Show a new photo; clears every layer's data (it belonged to the previous image).

        ``rgb`` may be a downscaled display copy of an image of size ``full_hw`` (huge photos): it is
        stretched over the full-resolution rectangle, so masks, boxes, clicks and strokes all stay in
        full-resolution pixels and only the drawing is coarser.
        """
        self.cancel_stroke()
        self._edit_id = self._edit_mask = None
        for layer in self.layers.values():
            layer.blockSignals(True)  # one redraw below, not one per layer
            layer.clear()
            layer.blockSignals(False)
        self.layersCleared.emit()  # controls showing layer data (eigenvalues) forget the old image's
        if rgb is None:
            self._shape = self._disp_shape = None
            self.image_item.clear()
            self.imageChanged.emit()
            return
        dh, dw = rgb.shape[:2]
        h, w = (int(full_hw[0]), int(full_hw[1])) if full_hw is not None else (dh, dw)
        new_shape = (h, w) != self._shape
        self._shape, self._disp_shape = (h, w), (dh, dw)
        self.image_item.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.image_item.setRect(QRectF(0, 0, w, h))
        if new_shape:
            self.view.setRange(QRectF(0, 0, w, h), padding=0.02)
        self.imageChanged.emit()

    def fit_view(self) -> None:
        """The whole image in view (F, double-click)."""
        if self._shape is not None:
            h, w = self._shape
            self.view.setRange(QRectF(0, 0, w, h), padding=0.02)

    def one_to_one(self) -> None:
        """One image pixel per screen pixel, around the current centre (Ctrl+1)."""
        if self._shape is None:
            return
        c = self.view.viewRect().center()
        w, h = self.view.width(), self.view.height()
        self.view.setRange(QRectF(c.x() - w / 2, c.y() - h / 2, w, h), padding=0)

    # -- layers (by name, for the window, tests and settings) ----------------------------------------

    def layer(self, name: str) -> Layer:
        try:
            return self.layers[name]
        except KeyError:
            raise ValueError(f"unknown layer {name!r}; layers: {', '.join(self.layers)}") from None

    def set_layer_visible(self, name: str, visible: bool) -> None:
        self.layer(name).set_visible(visible)

    def layer_visible(self, name: str) -> bool:
        return self.layer(name).visible

    def set_layer_opacity(self, name: str, opacity: float) -> None:
        self.layer(name).set_opacity(opacity)

    def layer_opacity(self, name: str) -> float:
        return self.layer(name).opacity

    def layer_has_data(self, name: str) -> bool:
        return self.layer(name).has_data()

    @property
    def eigen_item(self) -> pg.ImageItem:
        return self.views["eigen"].item

    @property
    def segments_item(self) -> pg.ImageItem:
        return self.views["segments"].item

    def segments_rgba(self) -> np.ndarray | None:
        """The RGBA array the segments layer shows, at :attr:`display_shape` (tests, screenshots)."""
        return self.segments_item.image

    def segment_at(self, x: float, y: float) -> int | None:
        """Id of the smallest segment covering pixel (x, y)."""
        hits = self.layers["segments"].segments_at(x, y)
        return hits[0] if hits else None

    # -- mouse → tools -------------------------------------------------------------------------------

    def tool_hover(self, ev) -> None:
        if ev.isExit():
            self._show_cursor(None)
            return
        if self.mode in ("brush", "erase"):
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            self._show_cursor(self.to_image(ev.pos()))
        elif self.mode == "prompt":
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.RightButton)
        elif self.mode in ("polygon", "box") and self.polygon_tool is not None:
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.RightButton)
            p = self.to_image(ev.pos())
            if self.polygon_tool.hover(p.x(), p.y(), self.mode):
                ev.acceptDrags(Qt.MouseButton.LeftButton)
        else:
            ev.acceptClicks(Qt.MouseButton.LeftButton)

    def tool_drag(self, ev) -> None:
        if ev.button() != Qt.MouseButton.LeftButton or self.mode == "view":
            ev.ignore()
            return
        if self.mode in ("polygon", "box"):  # a vertex or a box is the tool's; else the view pans
            tool = self.polygon_tool
            if tool is not None and tool.drag(self.to_image(ev.buttonDownPos()), self.to_image(ev.pos()),
                                              ev.isStart(), ev.isFinish(), self.mode):
                ev.accept()
            else:
                ev.ignore()
            return
        ev.accept()
        if self.mode == "prompt":
            if self.prompt_tool is not None:
                self.prompt_tool.drag(self.to_image(ev.buttonDownPos()), self.to_image(ev.pos()),
                                      ev.isStart(), ev.isFinish(), ev.modifiers())
            return
        if ev.isStart():
            p = self.to_image(ev.buttonDownPos())
            self.begin_stroke(p.x(), p.y())
        pos = self.to_image(ev.pos())
        self.continue_stroke(pos.x(), pos.y())
        self._show_cursor(pos)
        if ev.isFinish():
            self.end_stroke()

    def tool_click(self, ev) -> None:
        pos = self.to_image(ev.pos())
        if self.mode == "prompt" and self.prompt_tool is not None:
            if ev.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
                ev.accept()
                self.prompt_tool.click(pos.x(), pos.y(), ev.button() == Qt.MouseButton.LeftButton)
                return
        if self.mode in ("polygon", "box") and self.polygon_tool is not None:
            if ev.button() in (Qt.MouseButton.LeftButton, Qt.MouseButton.RightButton):
                ev.accept()
                self.polygon_tool.click(pos.x(), pos.y(), ev.button() == Qt.MouseButton.LeftButton, ev.double())
            else:
                ev.ignore()
            return
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        if self.mode == "view" and ev.double():
            self.fit_view()
        elif self.mode == "view":
            self.clicked.emit(pos.x(), pos.y())
        elif self.mode in ("brush", "erase"):  # a single click is a one-dab stroke
            self.begin_stroke(pos.x(), pos.y())
            self.end_stroke()

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        if mode != self.mode:
            self.cancel_stroke()
            self.mode = mode
            self.cursor_item.setVisible(False)
            self.modeChanged.emit(mode)

    # -- brush / erase -------------------------------------------------------------------------------

    def set_brush_radius(self, radius: float) -> None:
        self.brush_radius = float(max(1.0, radius))

    def set_edit_target(self, segment_id: int | None, mask: np.ndarray | None) -> None:
        """The segment brush/erase strokes modify (the selected one; None + an empty mask = a new one)."""
        self.cancel_stroke()
        self._edit_id = segment_id
        self._edit_mask = None if mask is None else mask.astype(bool)

    @property
    def edit_target(self) -> int | None:
        return self._edit_id

    def begin_stroke(self, x: float, y: float) -> bool:
        """Start a stroke at (x, y); returns False (and does nothing) without an edit target."""
        if self.mode not in ("brush", "erase") or self._edit_mask is None or self._shape is None:
            return False
        self._stroke_mask = self._edit_mask.copy()
        self._last_pt = (x, y)
        self.continue_stroke(x, y)
        return True

    def continue_stroke(self, x: float, y: float) -> None:
        if self._stroke_mask is None or self._last_pt is None:
            return
        self._stroke_mask = stamp_segment(self._stroke_mask, self._last_pt, (x, y), self.brush_radius,
                                          value=self.mode == "brush")
        self._last_pt = (x, y)
        self.layers["segments"].set_stroke(self._edit_id, self._stroke_mask)

    def end_stroke(self) -> np.ndarray | None:
        """Finish the stroke; emits ``strokeFinished(mask, erase)`` once if the mask changed."""
        mask, self._stroke_mask, self._last_pt = self._stroke_mask, None, None
        if mask is None or self._edit_mask is None:
            return None
        self.layers["segments"].set_stroke(None, None)
        if np.array_equal(mask, self._edit_mask):
            return None
        self._edit_mask = mask
        self.strokeFinished.emit(mask, self.mode == "erase")
        return mask

    def cancel_stroke(self) -> None:
        if self._stroke_mask is not None:
            self._stroke_mask, self._last_pt = None, None
            self.layers["segments"].set_stroke(None, None)

    def _show_cursor(self, pos: QPointF | None) -> None:
        if pos is None or self.mode not in ("brush", "erase"):
            self.cursor_item.setVisible(False)
            return
        r = self.brush_radius
        self.cursor_item.setRect(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))
        self.cursor_item.setVisible(True)
