"""Image canvas: the photo plus overlay layers, and brush / erase refinement of one segment.

Built on a pyqtgraph :class:`~pyqtgraph.ViewBox` (zoom with the wheel, pan with a drag) holding one
:class:`~pyqtgraph.ImageItem` per layer, stacked by z value:

====  ===========  =====================================================================
z     layer        content
====  ===========  =====================================================================
0     image        the upright RGB photo
1     eigen        eigenvector *k* on the patch grid, stretched over the image, colormapped
2     alpha        matting alpha of the object (float in [0, 1]), colormapped
3     segments     proposals / accepted segments as one RGBA image (colour per segment/class)
4     box          localisation box (a rectangle item)
====  ===========  =====================================================================

The segments layer also receives the mouse: clicks select the segment under the cursor; in brush /
erase mode a drag paints into a working copy of the selected segment's mask and, on release, emits
``strokeFinished`` once – the main window stores it as one undo step.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPen
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsRectItem, QVBoxLayout, QWidget

from .overlays import OverlaySegment, compose_segments, downscale_mask, normalise_map, stamp_segment

pg.setConfigOptions(imageAxisOrder="row-major", antialias=True)

LAYERS = ("eigen", "segments", "alpha", "box")
MODES = ("view", "brush", "erase")


class _InteractiveImageItem(pg.ImageItem):
    """The segments overlay; forwards clicks and brush drags (in image pixel coordinates) to the canvas."""

    def __init__(self, canvas: "ImageCanvas"):
        super().__init__()
        self._canvas = canvas

    def hoverEvent(self, ev):
        if ev.isExit():
            self._canvas._show_cursor(None)
            return
        if self._canvas.mode in ("brush", "erase"):
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            self._canvas._show_cursor(self._canvas.to_image(ev.pos()))
        else:
            ev.acceptClicks(Qt.MouseButton.LeftButton)

    def mouseDragEvent(self, ev):
        if ev.button() != Qt.MouseButton.LeftButton or self._canvas.mode == "view":
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            p = self._canvas.to_image(ev.buttonDownPos())
            self._canvas.begin_stroke(p.x(), p.y())
        pos = self._canvas.to_image(ev.pos())
        self._canvas.continue_stroke(pos.x(), pos.y())
        self._canvas._show_cursor(pos)
        if ev.isFinish():
            self._canvas.end_stroke()

    def mouseClickEvent(self, ev):
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        pos = self._canvas.to_image(ev.pos())
        if self._canvas.mode == "view":
            self._canvas.clicked.emit(pos.x(), pos.y())
        else:  # a single click is a one-dab stroke
            self._canvas.begin_stroke(pos.x(), pos.y())
            self._canvas.end_stroke()


class ImageCanvas(QWidget):
    """The central view. All inputs are numpy arrays computed elsewhere (never on this thread)."""

    clicked = Signal(float, float)  # image x, y (view mode)
    strokeFinished = Signal(object, bool)  # new bool mask (H, W), erase?
    modeChanged = Signal(str)
    layerChanged = Signal(str)  # a layer's visibility / opacity changed

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.view_widget = pg.GraphicsLayoutWidget()
        self.view_widget.setObjectName("canvasView")
        self.view_widget.setBackground("#1e1f22")
        self.view: pg.ViewBox = self.view_widget.addViewBox()
        self.view.setAspectLocked(True)
        self.view.invertY(True)
        self.view.setMenuEnabled(False)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view_widget)

        self.image_item = pg.ImageItem()
        self.eigen_item = pg.ImageItem()
        self.alpha_item = pg.ImageItem()
        self.segments_item = _InteractiveImageItem(self)
        for z, item in enumerate((self.image_item, self.eigen_item, self.alpha_item, self.segments_item)):
            item.setZValue(z)
            self.view.addItem(item)
        self.box_item = QGraphicsRectItem()
        pen = QPen(QColor(255, 215, 0))
        pen.setWidthF(2.5)
        pen.setCosmetic(True)
        self.box_item.setPen(pen)
        self.box_item.setZValue(4)
        self.view.addItem(self.box_item)
        self.cursor_item = QGraphicsEllipseItem()
        cpen = QPen(QColor(255, 255, 255))
        cpen.setCosmetic(True)
        cpen.setStyle(Qt.PenStyle.DashLine)
        self.cursor_item.setPen(cpen)
        self.cursor_item.setZValue(5)
        self.cursor_item.setVisible(False)
        self.view.addItem(self.cursor_item)

        self._shape: tuple[int, int] | None = None  # full image resolution = mask size
        self._disp_shape: tuple[int, int] | None = None  # size the photo/overlay are drawn at
        self._disp_masks: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # id(mask) -> (mask, display copy)
        self._visible = {name: True for name in LAYERS}
        self._visible["alpha"] = False
        self._visible["eigen"] = False  # keys 1-9 (or the Layers panel) turn it on
        self._opacity = {"eigen": 0.55, "segments": 1.0, "alpha": 0.6, "box": 1.0}
        self._colormap = "viridis"
        self._eigen_raw: np.ndarray | None = None
        self._alpha_raw: np.ndarray | None = None
        self._box: tuple[int, int, int, int] | None = None
        self._segments: list[OverlaySegment] = []
        self._segment_ids: list[int] = []
        self.fill_alpha = 0.45
        self.contours = True
        self.mode = "view"
        self.brush_radius = 12.0
        self._edit_id: int | None = None
        self._edit_mask: np.ndarray | None = None
        self._stroke_mask: np.ndarray | None = None
        self._last_pt: tuple[float, float] | None = None
        self.eigen_item.setColorMap(pg.colormap.get(self._colormap))
        self.alpha_item.setColorMap(pg.colormap.get("inferno"))
        self._apply_layer_state()

    # -- content -----------------------------------------------------------------------------------

    @property
    def image_shape(self) -> tuple[int, int] | None:
        return self._shape

    @property
    def display_shape(self) -> tuple[int, int] | None:
        """(h, w) the photo and the segments overlay are drawn at (smaller than image_shape for huge
        photos); view coordinates are always full-resolution image pixels."""
        return self._disp_shape

    def to_image(self, pos: QPointF) -> QPointF:
        """Map a point in the segments item's (display pixel) coordinates to full-res image pixels."""
        if self._shape is None or self._disp_shape is None or self._shape == self._disp_shape:
            return QPointF(pos)
        return QPointF(pos.x() * self._shape[1] / self._disp_shape[1],
                       pos.y() * self._shape[0] / self._disp_shape[0])

    def set_image(self, rgb: np.ndarray | None, full_hw: tuple[int, int] | None = None) -> None:
        """Show a new photo; clears every overlay (they belong to the previous image).

        ``rgb`` may be a downscaled display copy of an image of size ``full_hw`` (huge photos): it is
        stretched over the full-resolution rectangle, so masks, boxes, clicks and strokes all stay in
        full-resolution pixels and only the drawing is coarser.
        """
        self.cancel_stroke()
        self._disp_masks = {}
        self._eigen_raw = self._alpha_raw = None
        self._box = None
        self._segments, self._segment_ids = [], []
        self._edit_id = self._edit_mask = None
        if rgb is None:
            self._shape = self._disp_shape = None
            for item in (self.image_item, self.eigen_item, self.alpha_item, self.segments_item):
                item.clear()
            self.box_item.setVisible(False)
            return
        dh, dw = rgb.shape[:2]
        h, w = (int(full_hw[0]), int(full_hw[1])) if full_hw is not None else (dh, dw)
        new_shape = (h, w) != self._shape
        self._shape = (h, w)
        self._disp_shape = (dh, dw)
        self.image_item.setImage(rgb, autoLevels=False, levels=(0, 255))
        self.image_item.setRect(QRectF(0, 0, w, h))
        self.eigen_item.clear()
        self.alpha_item.clear()
        self.segments_item.setImage(np.zeros((dh, dw, 4), np.uint8), autoLevels=False, levels=(0, 255))
        self.segments_item.setRect(QRectF(0, 0, w, h))
        self.box_item.setVisible(False)
        if new_shape:
            self.view.setRange(QRectF(0, 0, w, h), padding=0.02)
        self._apply_layer_state()

    def set_eigenvector(self, grid_map: np.ndarray | None, cell_hw: tuple[float, float] | None = None) -> None:
        """Eigenvector on the patch grid (h, w), placed with ``cell_hw`` full-res pixels per cell (y, x)
        (exact patch geometry); without it the grid is stretched over the whole image."""
        self._eigen_raw = None if grid_map is None else np.asarray(grid_map, np.float32)
        if self._eigen_raw is None or self._shape is None:
            self.eigen_item.clear()
        else:
            self.eigen_item.setImage(normalise_map(self._eigen_raw), autoLevels=False, levels=(0.0, 1.0))
            h, w = self._shape
            if cell_hw is not None:
                gh, gw = self._eigen_raw.shape
                h, w = gh * cell_hw[0], gw * cell_hw[1]
            self.eigen_item.setRect(QRectF(0, 0, w, h))
        self._apply_layer_state()

    def set_alpha(self, alpha: np.ndarray | None) -> None:
        self._alpha_raw = None if alpha is None else np.asarray(alpha, np.float32)
        if self._alpha_raw is None or self._shape is None:
            self.alpha_item.clear()
        else:
            self.alpha_item.setImage(np.clip(self._alpha_raw, 0, 1), autoLevels=False, levels=(0.0, 1.0))
            h, w = self._shape
            self.alpha_item.setRect(QRectF(0, 0, w, h))
        self._apply_layer_state()

    def set_box(self, box: tuple[int, int, int, int] | None) -> None:
        """Localisation box (x0, y0, x1, y1) in image pixels."""
        self._box = None if box is None else tuple(int(v) for v in box)  # type: ignore[assignment]
        if self._box is not None:
            x0, y0, x1, y1 = self._box
            self.box_item.setRect(QRectF(x0, y0, max(1, x1 - x0), max(1, y1 - y0)))
        self._apply_layer_state()

    def set_segments(self, segments: list[OverlaySegment], ids: list[int] | None = None) -> None:
        """Segments to draw (in order, later on top); ``ids`` lets clicks map back to segment ids."""
        self._segments = list(segments)
        self._segment_ids = list(ids) if ids is not None else list(range(len(segments)))
        if self._shape != self._disp_shape:  # huge photo: downscale each mask once, not per redraw
            keep = {id(seg.mask) for seg in self._segments}
            self._disp_masks = {k: v for k, v in self._disp_masks.items() if k in keep}
        self._redraw_segments()

    def segment_at(self, x: float, y: float) -> int | None:
        """Id of the top-most drawn segment covering pixel (x, y); prefers smaller masks on ties."""
        if self._shape is None:
            return None
        xi, yi = int(x), int(y)
        h, w = self._shape
        if not (0 <= xi < w and 0 <= yi < h):
            return None
        hits = [(seg.mask.sum(), sid) for seg, sid in zip(self._segments, self._segment_ids)
                if seg.mask.shape == (h, w) and seg.mask[yi, xi]]
        return min(hits)[1] if hits else None

    def segments_rgba(self) -> np.ndarray | None:
        """The RGBA array currently shown by the segments layer, at :attr:`display_shape`
        (tests and screenshots read it)."""
        return self.segments_item.image

    # -- layers ------------------------------------------------------------------------------------

    def set_layer_visible(self, name: str, visible: bool) -> None:
        if name not in LAYERS:
            raise ValueError(f"unknown layer {name!r}; layers: {', '.join(LAYERS)}")
        self._visible[name] = bool(visible)
        self._apply_layer_state()
        self.layerChanged.emit(name)

    def layer_visible(self, name: str) -> bool:
        return self._visible[name]

    def set_layer_opacity(self, name: str, opacity: float) -> None:
        if name not in LAYERS:
            raise ValueError(f"unknown layer {name!r}")
        self._opacity[name] = float(min(max(opacity, 0.0), 1.0))
        self._apply_layer_state()
        self.layerChanged.emit(name)

    def layer_opacity(self, name: str) -> float:
        return self._opacity[name]

    def layer_has_data(self, name: str) -> bool:
        return {"eigen": self._eigen_raw is not None, "alpha": self._alpha_raw is not None,
                "box": self._box is not None, "segments": bool(self._segments)}[name]

    def set_colormap(self, name: str) -> None:
        self._colormap = name
        self.eigen_item.setColorMap(pg.colormap.get(name))

    def _apply_layer_state(self) -> None:
        for name, item in (("eigen", self.eigen_item), ("alpha", self.alpha_item),
                           ("segments", self.segments_item)):
            item.setOpacity(self._opacity[name] if self._visible[name] else 0.0)
        # the segments item stays "visible" at opacity 0 so it still receives the mouse
        self.eigen_item.setVisible(self._visible["eigen"] and self._eigen_raw is not None)
        self.alpha_item.setVisible(self._visible["alpha"] and self._alpha_raw is not None)
        self.box_item.setVisible(self._visible["box"] and self._box is not None)
        self.box_item.setOpacity(self._opacity["box"])

    def _redraw_segments(self) -> None:
        if self._shape is None or self._disp_shape is None:
            return
        segs = self._segments
        if self._stroke_mask is not None and self._edit_id in self._segment_ids:
            i = self._segment_ids.index(self._edit_id)
            segs = list(segs)
            segs[i] = OverlaySegment(self._stroke_mask, segs[i].color, True)
        if self._disp_shape != self._shape:
            segs = [replace(seg, mask=self._display_mask(seg.mask)) for seg in segs]
        rgba = compose_segments(segs, self._disp_shape, self.fill_alpha, self.contours)
        self.segments_item.setImage(rgba, autoLevels=False, levels=(0, 255))

    def _display_mask(self, mask: np.ndarray) -> np.ndarray:
        if mask is self._stroke_mask:  # changes on every mouse move: not worth caching
            return downscale_mask(mask, self._disp_shape)
        hit = self._disp_masks.get(id(mask))
        if hit is None or hit[0] is not mask:  # holding the mask keeps its id from being reused
            hit = self._disp_masks[id(mask)] = (mask, downscale_mask(mask, self._disp_shape))
        return hit[1]

    # -- brush / erase -------------------------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
        if mode != self.mode:
            self.cancel_stroke()
            self.mode = mode
            self.cursor_item.setVisible(False)
            self.modeChanged.emit(mode)

    def set_brush_radius(self, radius: float) -> None:
        self.brush_radius = float(max(1.0, radius))

    def set_edit_target(self, segment_id: int | None, mask: np.ndarray | None) -> None:
        """The segment brush/erase strokes modify (the selected one); None disables painting."""
        self.cancel_stroke()
        self._edit_id = segment_id
        self._edit_mask = None if mask is None else mask.astype(bool)

    @property
    def edit_target(self) -> int | None:
        return self._edit_id

    def begin_stroke(self, x: float, y: float) -> bool:
        """Start a stroke at (x, y); returns False (and does nothing) without an edit target."""
        if self.mode == "view" or self._edit_mask is None or self._shape is None:
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
        self._redraw_segments()

    def end_stroke(self) -> np.ndarray | None:
        """Finish the stroke; emits ``strokeFinished(mask, erase)`` once if the mask changed."""
        mask, self._stroke_mask, self._last_pt = self._stroke_mask, None, None
        if mask is None or self._edit_mask is None:
            return None
        if np.array_equal(mask, self._edit_mask):
            self._redraw_segments()
            return None
        self._edit_mask = mask
        self.strokeFinished.emit(mask, self.mode == "erase")
        return mask

    def cancel_stroke(self) -> None:
        if self._stroke_mask is not None:
            self._stroke_mask, self._last_pt = None, None
            self._redraw_segments()

    def _show_cursor(self, pos: QPointF | None) -> None:
        if pos is None or self.mode == "view":
            self.cursor_item.setVisible(False)
            return
        r = self.brush_radius
        self.cursor_item.setRect(QRectF(pos.x() - r, pos.y() - r, 2 * r, 2 * r))
        self.cursor_item.setVisible(True)
