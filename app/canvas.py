"""Image canvas: the photo, the registered overlay layers, and the mouse tools.

Built on a pyqtgraph :class:`~pyqtgraph.ViewBox` (zoom with the wheel, pan with a drag). The photo is
z = 0; every layer from :func:`app.layers.create_layers` adds its own view above it, so the canvas
never names an overlay. View coordinates are always full-resolution image pixels, also when a huge
photo is drawn downscaled.

Tools: ``view`` (a click selects), ``brush`` / ``erase`` (a drag paints a display-resolution
preview and, on release, emits ``strokeFinished`` once with the :class:`~engine.masks.Stroke` — the
polyline and radius; :class:`app.segment_editor.SegmentEditor` rasterises it at full resolution, off
the GUI thread for big photos, as one undo step), and ``prompt`` (clicks, boxes and scribbles go to
the prompt tool, see :mod:`app.prompt_tool`).

Why strokes are polylines, not masks (issue 16): on a 24 MP photo every full-frame mask copy costs
tens of milliseconds, and a person feels anything over ~16 ms per mouse move.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QVBoxLayout, QWidget

from engine.masks import CropMask, Stroke

from .layers import Layer, create_layers
from .segment_raster import overlay_size

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

MODES = ("view", "brush", "erase", "prompt", "polygon", "box")
#: pyqtgraph zooms 1.02 ** (wheel delta * factor): its default -1/8 is 35 % per wheel notch, too coarse
#: to frame a small object; -1/20 is about 13 % per notch.
WHEEL_SCALE_FACTOR = -1.0 / 20.0


class ImageCanvas(QWidget):
    """The central view. All inputs are numpy arrays computed elsewhere (never on this thread)."""

    clicked = Signal(float, float)  # image x, y (view mode)
    strokeFinished = Signal(object, bool)  # the engine.masks.Stroke drawn (full-res polyline), erase?
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
        self._edit_mask: CropMask | None = None  # the target's full-resolution mask (a bbox crop)
        self._stroke_pts: list[tuple[float, float]] | None = None  # the stroke in progress

    # -- geometry ----------------------------------------------------------------------------------

    @property
    def image_shape(self) -> tuple[int, int] | None:
        return self._shape

    @property
    def display_shape(self) -> tuple[int, int] | None:
        """(h, w) the photo and the segments overlay are drawn at (smaller than image_shape for huge
        photos); view coordinates are always full-resolution image pixels."""
        return self._disp_shape

    @property
    def overlay_shape(self) -> tuple[int, int] | None:
        """(h, w) of the segments overlay (the mouse item): the display size capped for speed."""
        return None if self._disp_shape is None else overlay_size(self._disp_shape)

    def to_image(self, pos: QPointF) -> QPointF:
        """Map a point in the segments overlay item's coordinates (where the mouse events arrive) to
        full-res image pixels."""
        over = self.overlay_shape
        if self._shape is None or over is None or self._shape == over:
            return QPointF(pos)
        return QPointF(pos.x() * self._shape[1] / over[1], pos.y() * self._shape[0] / over[0])

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
        """The RGBA array the segments layer shows, at :attr:`overlay_shape` (tests, screenshots)."""
        return self.segments_item.image

    def warm_display(self, mask) -> None:
        """Resample a full-resolution crop onto the overlay ahead of its redraw (thread-safe)."""
        self.views["segments"].warm(mask)

    def segment_at(self, x: float, y: float) -> int | None:
        """Id of the smallest segment covering pixel (x, y) (a lookup in bbox crops: no decode)."""
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

    def set_edit_target(self, segment_id: int | None, mask) -> None:
        """The segment brush/erase strokes modify (the selected one; None + an empty mask = a new one).
        ``mask``: its :class:`~engine.masks.CropMask` (cheap) or a full-frame bool array."""
        self.cancel_stroke()
        self._edit_id = segment_id
        if mask is None or isinstance(mask, CropMask):
            self._edit_mask = mask
        else:
            self._edit_mask = CropMask.from_full(mask)

    @property
    def edit_target(self) -> int | None:
        return self._edit_id

    @property
    def stroke_active(self) -> bool:
        return self._stroke_pts is not None

    def begin_stroke(self, x: float, y: float) -> bool:
        """Start a stroke at (x, y); returns False (and does nothing) without an edit target."""
        if self.mode not in ("brush", "erase") or self._edit_mask is None or self._shape is None:
            return False
        self._stroke_pts = []
        self.layers["segments"].begin_stroke(self._edit_id, self._edit_mask, self.brush_radius, self.mode == "brush")
        self.continue_stroke(x, y)
        return True

    def continue_stroke(self, x: float, y: float) -> None:
        """One mouse move: recorded, and painted on the display-resolution overlay around it only."""
        if self._stroke_pts is None:
            return
        self._stroke_pts.append((float(x), float(y)))
        self.layers["segments"].add_stroke_point(x, y)

    def end_stroke(self) -> Stroke | None:
        """Finish the stroke; emits ``strokeFinished(stroke, erase)`` once (unless erasing nothing)."""
        pts, self._stroke_pts = self._stroke_pts, None
        if pts is None or self._edit_mask is None:
            return None
        erase = self.mode == "erase"
        if not pts or (erase and self._edit_mask.is_empty):
            self.layers["segments"].end_stroke(keep=False)
            return None
        self.layers["segments"].end_stroke(keep=True)  # stays drawn until the stored mask comes back
        stroke = Stroke(tuple(pts), self.brush_radius, not erase)
        self.strokeFinished.emit(stroke, erase)
        return stroke

    def cancel_stroke(self) -> None:
        if self._stroke_pts is not None:
            self._stroke_pts = None
            self.layers["segments"].end_stroke(keep=False)

    def _show_cursor(self, pos: QPointF | None) -> None:
        if pos is None or self.mode not in ("brush", "erase"):
            self.cursor_item.setVisible(False)
            return
        r = self.brush_radius
        self.cursor_item.setRect(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))
        self.cursor_item.setVisible(True)
