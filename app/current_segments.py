"""The one owner of the current image's segments: records, full-resolution masks and display colours.

The segment panel lists them, the segments layer draws them, and the editing code reads masks from
here; each reloads from the store through :meth:`CurrentSegments.load` only, so there is a single
copy in memory and no view can show a stale one.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QObject, Signal

from .overlays import OverlaySegment, segment_color


def status_str(value) -> str:
    return str(getattr(value, "value", value))


class CurrentSegments(QObject):
    changed = Signal()  # records / masks / colours reloaded

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.image_id: int | None = None
        self.records: list = []
        self.all_sources: list[str] = []
        self.masks: dict[int, np.ndarray] = {}
        self.colors: dict[int, tuple[int, int, int]] = {}

    def clear(self) -> None:
        self.image_id, self.records, self.all_sources, self.masks, self.colors = None, [], [], {}, {}
        self.changed.emit()

    def load(self, store, image_id: int, source: str | None) -> None:
        """Read ``image_id``'s segments (of ``source`` only, when given) from the store."""
        all_recs = store.segments(image_id)
        recs = [r for r in all_recs if source is None or r.source == source]
        classes = {c.id: tuple(c.color) for c in store.classes()}
        masks = {r.id: store.segment_mask(r.id) for r in recs}
        self.colors = {r.id: classes[r.class_id] if r.class_id in classes else segment_color(r.source, r.label, i)
                       for i, r in enumerate(recs)}
        self.image_id, self.records, self.masks = image_id, recs, masks
        self.all_sources = [r.source for r in all_recs]
        self.changed.emit()

    def empty_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """An all-False mask of ``shape`` (the brush's target when nothing is selected), made once."""
        if getattr(self, "_empty", None) is None or self._empty.shape != tuple(shape):
            self._empty = np.zeros(shape, bool)
        return self._empty

    def record(self, segment_id: int):
        return next((r for r in self.records if r.id == segment_id), None)

    def overlay(self, selected: set[int]) -> tuple[list[OverlaySegment], list[int]]:
        """What the segments layer draws: big first so small segments stay visible and clickable on
        top; the selection last."""
        order = sorted(self.records, key=lambda r: (r.id in selected, -r.area))
        segs = [OverlaySegment(self.masks[r.id], self.colors[r.id], r.id in selected,
                               status_str(r.state) == "rejected") for r in order]
        return segs, [r.id for r in order]
