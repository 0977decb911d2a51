"""Polygon (G) and Box (R) tools: draw what the proposals miss, and edit any segment as a polygon.

Drawing (Polygon): a click adds a vertex, the rubber band follows the mouse; a click on the first
vertex, a double-click or Enter closes the polygon and stores it as a new accepted segment (source
``polygon``, the class of the toolbar's class box). Backspace / right-click remove the last vertex, Esc
discards. Box: a drag stores the rectangle as a new segment (source ``box``).

Editing: the closed polygon, or the selected segment after *Edit as polygon* (Shift+G), is shown as
rings of vertices. Drag a vertex to move it, click an edge to insert one, right-click a vertex (or
point at it and press Delete) to remove it. Every edit rasterises the rings
(:func:`engine.polygons.polygons_to_mask`) into the segment's new mask: one store write, one undo step.

Mask → polygon (:func:`mask_to_rings`): one ring per connected component (outer contour, Douglas-Peucker
with the Layers tab's tolerance, lowered for small objects so the ring keeps IoU ≥ 0.95 with the filled
mask); holes are not represented, so the first edit fills them (the status line says how many pixels);
specks smaller than a triangle are dropped. Nothing changes in the store until the first edit.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from functools import partial
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal
from scipy import ndimage

from engine.polygons import mask_to_polygons, polygons_to_mask

POLYGON_SOURCE, BOX_SOURCE = "polygon", "box"
MODES = ("polygon", "box")
HIT_PX = 8.0  # screen pixels within which a click or drag takes a vertex / an edge
RING_MIN_IOU = 0.95  # small objects: the tolerance is lowered until the ring keeps this IoU


def mask_to_rings(mask: np.ndarray, tolerance: float) -> tuple[list[np.ndarray], int]:
    """Editable rings of ``mask`` (largest first) and the number of hole pixels the rings leave out."""
    mask = np.asarray(mask, bool)
    filled = ndimage.binary_fill_holes(mask)
    rings = mask_to_polygons(filled, tolerance, min_iou=RING_MIN_IOU if tolerance > 0 else None)
    return rings, int(filled.sum() - mask.sum())


def nearest_vertex(rings: list[np.ndarray], x: float, y: float, radius: float) -> tuple[int, int] | None:
    """(ring, vertex) of the vertex closest to (x, y) within ``radius``, or None."""
    best, where = radius, None
    for ri, ring in enumerate(rings):
        if len(ring) == 0:
            continue
        d = np.hypot(ring[:, 0] - x, ring[:, 1] - y)
        vi = int(np.argmin(d))
        if d[vi] <= best:
            best, where = float(d[vi]), (ri, vi)
    return where


def nearest_edge(rings: list[np.ndarray], x: float, y: float, radius: float):
    """(ring, index to insert at, projected point) of the closest edge within ``radius``, or None."""
    best, where = radius, None
    p = np.array([x, y], np.float64)
    for ri, ring in enumerate(rings):
        if len(ring) < 2:
            continue
        a, b = ring, np.roll(ring, -1, axis=0)
        ab = b - a
        t = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-12), 0.0, 1.0)
        proj = a + t[:, None] * ab
        d = np.hypot(*(proj - p).T)
        i = int(np.argmin(d))
        if d[i] <= best:
            best, where = float(d[i]), (ri, i + 1, (float(proj[i, 0]), float(proj[i, 1])))
    return where


def box_mask(box, hw: tuple[int, int]) -> np.ndarray:
    """The pixels of a dragged rectangle, its corners snapped to the nearest pixel edges."""
    h, w = hw
    x0, y0, x1, y1 = box
    c0, c1 = (int(np.clip(round(v), 0, w)) for v in sorted((x0, x1)))
    r0, r1 = (int(np.clip(round(v), 0, h)) for v in sorted((y0, y1)))
    mask = np.zeros((h, w), bool)
    mask[r0:r1, c0:c1] = True
    return mask


def _digest(mask: np.ndarray) -> bytes:
    return hashlib.sha1(np.packbits(mask)).digest() + repr(mask.shape).encode()


class PolygonTool(QObject):
    committed = Signal(int)  # segment id whose mask a polygon / box just wrote (new or edited)

    def __init__(self, canvas, editor, segments, store: Callable[[], object], image_id: Callable[[], int | None],
                 class_id: Callable[[], int | None] = lambda: None, parent: QObject | None = None):
        super().__init__(parent)
        self.canvas, self.editor, self.segments = canvas, editor, segments
        self._store, self._image_id, self._class_id = store, image_id, class_id
        self.layer = canvas.layer("polygon")
        canvas.polygon_tool = self
        canvas.modeChanged.connect(self._on_mode)
        canvas.imageChanged.connect(self.reset)
        segments.changed.connect(self._on_segments_changed)
        self.path: list[tuple[float, float]] = []  # polygon being drawn
        self.target: int | None = None  # segment being edited
        self.rings: list[np.ndarray] = []
        self._shown: bytes | None = None  # digest of the mask the rings stand for
        self._known: OrderedDict[bytes, list[np.ndarray]] = OrderedDict()  # mask digest -> rings (undo)
        self._cursor: tuple[float, float] | None = None
        self._hot: tuple[int, int] | None = None
        self._drag: tuple[int, int] | None = None  # vertex being dragged
        self._box: tuple[float, float, float, float] | None = None

    # -- state ---------------------------------------------------------------------------------

    @property
    def drawing(self) -> bool:
        return bool(self.path)

    @property
    def editing(self) -> bool:
        return self.target is not None

    def hint(self, mode: str) -> str:
        if mode == "box":
            return "Box: drag a rectangle to add it as a segment (Shift+G edits it as a polygon)"
        return ("Polygon: click vertices; click the first one, double-click or Enter closes; Backspace removes "
                "the last, Esc discards. Editing: drag a vertex, click an edge to insert, right-click deletes")

    def reset(self) -> None:
        """Forget the drawing and the edited polygon (another image, another tool)."""
        self.path, self.target, self.rings, self._shown = [], None, [], None
        self._cursor = self._hot = self._drag = self._box = None
        self.layer.clear()

    def _redraw(self) -> None:
        closing = self._near_first(*self._cursor) if self._cursor is not None and self.drawing else False
        self.layer.show(rings=self.rings, path=self.path or None, cursor=self._cursor, box=self._box,
                        hot=self._hot, closing=closing)

    def _radius(self) -> float:
        """HIT_PX screen pixels in image pixels at the current zoom."""
        sx, sy = self.canvas.view.viewPixelSize()
        return HIT_PX * max(abs(sx), abs(sy), 1e-6)

    def _near_first(self, x: float, y: float) -> bool:
        return len(self.path) >= 3 and np.hypot(self.path[0][0] - x, self.path[0][1] - y) <= self._radius()

    def _on_mode(self, mode: str) -> None:
        if mode not in MODES:
            self.reset()
        else:  # switching between the two: no half-drawn polygon / box survives
            self.path, self._box, self._drag = [], None, None
            if mode == "box":
                self.target, self.rings, self._shown, self._hot = None, [], None, None
            self._redraw()

    # -- mouse (from the canvas, image pixel coordinates) ------------------------------------------

    def hover(self, x: float, y: float, mode: str) -> bool:
        """Track the mouse; True when a drag starting here belongs to the tool (a vertex, a box)."""
        self._cursor = (x, y)
        hot = nearest_vertex(self.rings, x, y, self._radius()) if self.editing and not self.drawing else None
        if self.drawing or hot != self._hot:  # the rubber band / the highlighted vertex moved
            self._hot = hot
            self._redraw()
        return mode == "box" or self._hot is not None

    def drag(self, start, pos, is_start: bool, is_finish: bool, mode: str) -> bool:
        """A left drag: a box (Box tool) or a vertex being moved; False = not ours (the view pans)."""
        if mode == "box":
            self._box = (start.x(), start.y(), pos.x(), pos.y())
            if is_finish:
                box, self._box = self._box, None
                self.add_box(box)
            self._redraw()
            return True
        if is_start:
            self._drag = nearest_vertex(self.rings, start.x(), start.y(), self._radius()) \
                if self.editing and not self.drawing else None
        if self._drag is None:
            return False
        ri, vi = self._drag
        h, w = self.canvas.image_shape
        self.rings[ri][vi] = (min(max(pos.x(), 0.0), w), min(max(pos.y(), 0.0), h))
        self._hot = self._drag
        if is_finish:
            self._drag = None
            self._commit_edit("Moved a polygon vertex")
        self._redraw()
        return True

    def click(self, x: float, y: float, left: bool, double: bool = False) -> None:
        if self.canvas.image_shape is None:
            return
        r = self._radius()
        if not left:
            if self.drawing:
                self.backspace()
            elif self.editing and (hit := nearest_vertex(self.rings, x, y, r)) is not None:
                self.delete_vertex(*hit)
            return
        if self.drawing:
            if double or self._near_first(x, y):
                self.close()
            elif np.hypot(self.path[-1][0] - x, self.path[-1][1] - y) > 1e-6:
                self.path.append((x, y))
                self._redraw()
            return
        if self.editing:
            if nearest_vertex(self.rings, x, y, r) is not None:
                return  # a vertex: drag it, right-click deletes it
            edge = nearest_edge(self.rings, x, y, r)
            if edge is not None:
                self.insert_vertex(*edge)
                return
            if double:
                return
        self.path = [(x, y)]  # anywhere else: a new polygon starts here
        self.target, self.rings, self._shown, self._hot = None, [], None, None
        self._redraw()

    # -- keys (Enter / Esc / Backspace-Delete), True = used --------------------------------------

    def enter(self) -> bool:
        if self.drawing:
            self.close()
            return True
        if self.editing:
            self.stop_editing()
            return True
        return False

    def escape(self) -> bool:
        if self.drawing or self._box is not None:
            self.path, self._box = [], None
            self._redraw()
            return True
        if self.editing:
            self.stop_editing()
            return True
        return False

    def delete(self) -> bool:
        """Backspace / Delete: the last vertex while drawing, the vertex under the mouse while editing."""
        if self.drawing:
            self.backspace()
            return True
        if self.editing:
            if self._hot is not None:
                self.delete_vertex(*self._hot)
            else:
                self.editor.status.emit("Point at a vertex to delete it (Esc stops editing)")
            return True
        return False

    def backspace(self) -> None:
        if self.path:
            self.path.pop()
            self._redraw()

    # -- drawing ---------------------------------------------------------------------------------

    def close(self) -> int | None:
        """Store the drawn polygon as a new accepted segment and edit it; returns its id."""
        path, shape = np.asarray(self.path, np.float64).reshape(-1, 2), self.canvas.image_shape
        if len(path) < 3:
            self.editor.status.emit("A polygon needs at least 3 vertices")
            return None
        self.path = []
        mask = polygons_to_mask([path], shape)
        sid = self._add(mask, [path], POLYGON_SOURCE, "Added a polygon segment")
        self._redraw()
        return sid

    def add_box(self, box) -> int | None:
        shape = self.canvas.image_shape
        if shape is None:
            return None
        mask = box_mask(box, shape)
        if not mask.any():
            self.editor.status.emit("Box too small: drag a larger rectangle")
            return None
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        x0, x1, y0, y1 = float(cols[0]), float(cols[-1] + 1), float(rows[0]), float(rows[-1] + 1)
        corners = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        sid = self._add(mask, [corners], BOX_SOURCE, "Added a box segment", edit=False)
        if sid is not None:
            self.editor.status.emit(f"Added a box segment {int(x1 - x0)}×{int(y1 - y0)} px — Shift+G edits it "
                                    "as a polygon")
        return sid

    def _add(self, mask, rings, source: str, description: str, edit: bool = True) -> int | None:
        st, image_id = self._store(), self._image_id()
        if st is None or image_id is None:
            return None
        if not mask.any():
            self.editor.status.emit("The polygon covers no pixel")
            return None
        self._remember(mask, rings)
        rec = self.editor.mutate(description, partial(st.add_segment, image_id, mask, self._class_id(), source))
        if rec is None:
            return None
        if edit:
            self.target, self.rings, self._shown, self._hot = rec.id, [r.copy() for r in rings], _digest(mask), None
        self.editor.selectRequested.emit([rec.id])
        self.committed.emit(rec.id)
        return rec.id

    # -- editing ---------------------------------------------------------------------------------

    def edit_segment(self, ids: list) -> bool:
        """Show the one selected segment as an editable polygon (switches to the Polygon tool)."""
        if len(ids) != 1 or ids[0] not in self.segments.masks:
            self.editor.status.emit("Select one segment to edit it as a polygon")
            return False
        sid = ids[0]
        mask = self.segments.masks[sid]
        known = self._known.get(_digest(mask))  # drawn / edited here: the very vertices that made it
        if known is not None and np.array_equal(polygons_to_mask(known, mask.shape), mask):
            rings, holes = [r.copy() for r in known], 0
        else:  # converted (again, with the tolerance set now)
            rings, holes = mask_to_rings(mask, self.layer.tolerance)
        if not rings:
            self.editor.status.emit("The segment is too small to edit as a polygon")
            return False
        if self.canvas.mode != "polygon":
            self.canvas.set_mode("polygon")
        self.path = []
        self.target, self.rings, self._shown, self._hot = sid, rings, _digest(mask), None
        self._remember(mask, rings)
        n = sum(len(r) for r in rings)
        note = f"; its holes ({holes} px) are filled by the first edit" if holes else ""
        self.editor.status.emit(f"Editing segment {sid} as a polygon: {n} vertices in {len(rings)} ring(s) "
                                f"(tolerance {self.layer.tolerance:g} px){note}")
        self._redraw()
        return True

    def on_selection(self, ids: list) -> None:
        """Another segment selected in the list: the edited polygon is put away (Shift+G edits the new one)."""
        if self.target is not None and self.target not in ids:
            self.stop_editing()

    def stop_editing(self) -> None:
        self.target, self.rings, self._shown, self._hot, self._drag = None, [], None, None, None
        self._redraw()

    def insert_vertex(self, ring: int, index: int, point) -> None:
        self.rings[ring] = np.insert(self.rings[ring], index, point, axis=0)
        self._hot = (ring, index)
        self._commit_edit("Inserted a polygon vertex")
        self._redraw()

    def delete_vertex(self, ring: int, vertex: int) -> None:
        if len(self.rings[ring]) <= 3 and len(self.rings) == 1:
            self.editor.status.emit("A polygon keeps at least 3 vertices (delete the segment in the list instead)")
            return
        self.rings[ring] = np.delete(self.rings[ring], vertex, axis=0)
        if len(self.rings[ring]) < 3:  # a ring of one component shrank away: the component goes
            del self.rings[ring]
        self._hot = None
        self._commit_edit("Deleted a polygon vertex")
        self._redraw()

    def _commit_edit(self, description: str) -> None:
        """The rings → the edited segment's mask, as one undo step (nothing if no pixel changed)."""
        st, shape = self._store(), self.canvas.image_shape
        if st is None or self.target is None or shape is None:
            return
        mask = polygons_to_mask(self.rings, shape)
        if not mask.any():
            self.editor.status.emit("The polygon would cover no pixel; edit not stored")
            return
        current = self.segments.masks.get(self.target)
        digest = _digest(mask)
        self._remember(mask, self.rings)
        if current is not None and np.array_equal(current, mask):
            self._shown = digest
            return
        self._shown = digest
        self.editor.mutate(description, partial(st.update_segment_mask, self.target, mask))
        self.committed.emit(self.target)

    def _remember(self, mask: np.ndarray, rings) -> None:
        self._known[_digest(mask)] = [np.array(r, np.float64) for r in rings]
        while len(self._known) > 64:
            self._known.popitem(last=False)

    def _on_segments_changed(self) -> None:
        """Undo / redo (or a brush stroke) changed the edited segment: show the rings of its new mask
        (the very rings that made it when the tool made it), or stop when it is gone."""
        if self.target is None:
            return
        mask = self.segments.masks.get(self.target)
        if mask is None:
            self.stop_editing()
            return
        digest = _digest(mask)
        if digest == self._shown:
            return
        known = self._known.get(digest)
        self.rings = [r.copy() for r in known] if known is not None else mask_to_rings(mask, self.layer.tolerance)[0]
        self._shown, self._hot, self._drag = digest, None, None
        if not self.rings:
            self.stop_editing()
            return
        self._redraw()
