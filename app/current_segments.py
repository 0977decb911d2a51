"""The one owner of the current image's segments: records, full-resolution masks and display colours.

The segment panel lists them, the segments layer draws them, and the editing code reads masks from
here; each reloads from the store through :meth:`CurrentSegments.load` only, so there is a single
copy in memory and no view can show a stale one.

Drawing order: ``records`` are kept topmost first — higher ``z`` (the store's per-image order, which
Bring to front / Send to back change and undo restores) on top; equal ``z`` (every segment until
someone reorders): smaller on top, so small segments stay visible and clickable over big ones. The
panel lists ``records`` in that order and :meth:`overlay` draws them bottom-up, so both agree.

Hidden segments (the panel's eye boxes, key H) are a view choice, not a curation decision: they are
left out of :meth:`overlay` — not drawn, so a click cannot pick them — but stay in the list and in
exports. Kept for the session of one project (ids are unique within a project), not persisted: a
project reopened later shows everything, so nothing stays invisibly hidden.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.masks import CropMask

from .overlays import OverlaySegment, segment_color


class FullMasks(Mapping):
    """``masks[id]``: a segment's full-frame bool mask, made from its crop on demand (the prompt and
    polygon tools' priors). The crops are what is kept: a 24 MP frame is 24 MB per segment."""

    def __init__(self, crops: dict[int, CropMask]):
        self._crops = crops
        self._last: tuple[CropMask, np.ndarray] | None = None

    def __getitem__(self, segment_id: int) -> np.ndarray:
        crop = self._crops[segment_id]
        if self._last is None or self._last[0] is not crop:
            full = crop.to_full()
            full.flags.writeable = False  # shared with the next caller
            self._last = (crop, full)
        return self._last[1]

    def __contains__(self, segment_id) -> bool:
        return segment_id in self._crops

    def __iter__(self):
        return iter(self._crops)

    def __len__(self) -> int:
        return len(self._crops)


def status_str(value) -> str:
    return str(getattr(value, "value", value))


def draw_key(rec) -> tuple:
    """Sort key of the drawing order, bottom first (later = on top)."""
    return (getattr(rec, "z", 0), -rec.area, -rec.id)


class CurrentSegments(QObject):
    changed = Signal()  # records / masks / colours reloaded
    visibilityChanged = Signal()  # segments hidden or shown (nothing reloaded)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.image_id: int | None = None
        self.records: list = []  # drawing order, topmost first
        self.all_sources: list[str] = []
        self.crops: dict[int, CropMask] = {}  # full-resolution masks as bbox crops
        self.masks = FullMasks(self.crops)
        self._decoded: dict[int, tuple[bytes, CropMask]] = {}  # id -> (RLE counts, crop): reloads decode only changes
        self.colors: dict[int, tuple[int, int, int]] = {}
        self.hidden: set[int] = set()
        self._store = None

    def clear(self) -> None:
        self.image_id, self.records, self.all_sources, self.colors = None, [], [], {}
        self._set_crops({})
        self._decoded = {}
        self.changed.emit()

    def load(self, store, image_id: int, source: str | None) -> None:
        """Read ``image_id``'s segments (of ``source`` only, when given) from the store."""
        if store is not self._store:  # another project: its ids mean other segments
            self._store, self.hidden = store, set()
        with store.snapshot():  # records and masks of one state (the stroke worker writes meanwhile)
            all_recs = store.segments(image_id)
            rles = store.segment_rles(image_id)
        recs = [r for r in all_recs if source is None or r.source == source]
        classes = {c.id: tuple(c.color) for c in store.classes()}
        crops = {r.id: self._crop(r.id, rles[r.id]) for r in recs}
        if image_id != self.image_id:
            self._decoded = {i: v for i, v in self._decoded.items() if i in crops}
        # colours from the id order, so reordering never recolours an unlabelled segment
        self.colors = {r.id: classes[r.class_id] if r.class_id in classes else segment_color(r.source, r.label, i)
                       for i, r in enumerate(recs)}
        recs = sorted(recs, key=draw_key, reverse=True)
        self.image_id, self.records = image_id, recs
        self._set_crops(crops)
        self.all_sources = [r.source for r in all_recs]
        self.changed.emit()

    def _set_crops(self, crops: dict[int, CropMask]) -> None:
        self.crops = crops
        self.masks = FullMasks(crops)

    def _crop(self, segment_id: int, rle) -> CropMask:
        hit = self._decoded.get(segment_id)
        if hit is None or hit[0] != rle.counts:
            hit = self._decoded[segment_id] = (rle.counts, CropMask.from_rle(rle))
        return hit[1]

    def prime(self, segment_id: int, counts: bytes, crop: CropMask) -> None:
        """The mask just written for ``segment_id`` (by the stroke worker): the next load uses it
        instead of decoding the stored RLE again."""
        self._decoded[int(segment_id)] = (bytes(counts), crop)

    def known_mask(self, segment_id: int) -> tuple[bytes, CropMask] | None:
        """(stored RLE counts, crop) of a segment decoded here (any thread may ask: a dict lookup)."""
        return self._decoded.get(segment_id)

    def empty_mask(self, shape: tuple[int, int]) -> CropMask:
        """An empty mask of ``shape`` (the brush's target when nothing is selected)."""
        return CropMask.empty(shape)

    def record(self, segment_id: int):
        return next((r for r in self.records if r.id == segment_id), None)

    def topmost_first(self, ids: list[int]) -> list[int]:
        """``ids`` in drawing order, topmost first: a click picks what is seen on top, and clicking the
        same spot again goes down the stack."""
        rank = {r.id: i for i, r in enumerate(self.records)}
        return sorted(ids, key=lambda i: rank.get(i, len(rank)))

    # -- visibility ----------------------------------------------------------------------------

    def is_visible(self, segment_id: int) -> bool:
        return segment_id not in self.hidden

    def set_visible(self, ids, visible: bool) -> None:
        ids = {int(i) for i in ids}
        new = self.hidden - ids if visible else self.hidden | ids
        if new != self.hidden:
            self.hidden = new
            self.visibilityChanged.emit()

    def toggle_visible(self, ids) -> bool | None:
        """H: hide the given segments, or show them all when every one is hidden already; returns the
        new visibility (None when there is nothing to toggle)."""
        ids = [int(i) for i in ids if int(i) in self.masks]
        if not ids:
            return None
        visible = all(i in self.hidden for i in ids)
        self.set_visible(ids, visible)
        return visible

    def overlay(self, selected: set[int]) -> tuple[list[OverlaySegment], list[int]]:
        """What the segments layer draws, bottom first: the drawing order (see the module docstring)
        without the hidden segments; the selection last so what the tools edit stays in view."""
        order = sorted((r for r in reversed(self.records) if r.id not in self.hidden),
                       key=lambda r: r.id in selected)  # stable: keeps the z-order otherwise
        segs = [OverlaySegment(self.crops[r.id], self.colors[r.id], r.id in selected,
                               status_str(r.state) == "rejected") for r in order]
        return segs, [r.id for r in order]
