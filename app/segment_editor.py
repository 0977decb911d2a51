"""Edits of the current image's segments, each one store transaction = one undo step.

The panel, the canvas tools and the prompt tool only *request* edits; this applies them to the store
and reports the outcome (status text, or an error message — never an exception into the event loop).
The window listens to ``edited`` and reloads what it shows.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal


class SegmentEditor(QObject):
    edited = Signal()  # the store changed: reload the current image's views and the undo actions
    selectRequested = Signal(list)  # segment ids to select after an edit (a merge result, a new segment)
    status = Signal(str)
    error = Signal(str, str)  # title, text

    def __init__(self, store: Callable[[], object], image_id: Callable[[], int | None], parent: QObject | None = None):
        super().__init__(parent)
        self._store, self._image_id = store, image_id

    def mutate(self, description: str, fn, *args):
        """Run one store action; failures become an error message, the store is left as it was."""
        if self._store() is None:
            return None
        try:
            result = fn(*args)
        except Exception as exc:
            self.error.emit(f"{description} failed", str(exc))
            return None
        self.status.emit(description)
        self.edited.emit()
        return result

    # -- requests from the panel / keys --------------------------------------------------------

    def segment_action(self, action: str, ids: list) -> None:
        st = self._store()
        if st is None or not ids:
            return
        if action == "accept":
            self.mutate(f"Accepted {len(ids)} segment(s)", st.set_segments_state, ids, "accepted")
        elif action == "reject":
            self.mutate(f"Rejected {len(ids)} segment(s)", st.set_segments_state, ids, "rejected")
        elif action == "merge" and len(ids) >= 2:
            rec = self.mutate(f"Merged {len(ids)} segments", st.merge_segments, ids)
            if rec is not None:
                self.selectRequested.emit([rec.id])
        elif action == "delete":  # one transaction + one undo step for the whole selection
            self.mutate(f"Deleted {len(ids)} segment(s)", st.delete_segments, ids)
        elif action in ("front", "back"):  # drawing order, persisted: one undo step
            text = "Brought {} segment(s) to front" if action == "front" else "Sent {} segment(s) to back"
            self.mutate(text.format(len(ids)), st.move_segments_z, ids, action)

    def accept_as(self, ids: list, class_id: int | None) -> None:
        """Y with an active class: label the segments with it and accept them, as ONE undo step."""
        st = self._store()
        if st is None or not ids:
            return
        name = next((c.name for c in st.classes() if c.id == class_id), str(class_id))
        self.mutate(f"Accepted {len(ids)} segment(s) as {name}",
                    partial(st.set_segments_state, ids, "accepted", class_id=class_id))

    def relabel(self, ids: list, class_id: int | None) -> None:
        st = self._store()
        if st is None or not ids:
            return
        name = "unlabelled" if class_id is None else next(
            (c.name for c in st.classes() if c.id == class_id), str(class_id))
        # choosing a class is a curation decision: the store accepts relabelled proposals; say so
        proposed = sum(str(getattr(st.segment(i).state, "value", st.segment(i).state)) == "proposed" for i in ids)
        note = f" ({proposed} proposed → accepted)" if proposed else ""
        self.mutate(f"Relabelled {len(ids)} segment(s) as {name}{note}", st.set_segments_class, ids, class_id)

    # -- requests from the canvas tools --------------------------------------------------------

    def stroke(self, target: int | None, mask: np.ndarray, erase: bool, class_id: int | None = None) -> None:
        """A finished brush / erase stroke: into ``target``'s mask, or a new segment (of ``class_id``,
        the window's active class) when None."""
        st, image_id = self._store(), self._image_id()
        if st is None or image_id is None:
            return
        if target is None:
            if erase or not mask.any():
                return
            rec = self.mutate("Painted a new segment", st.add_segment, image_id, mask, class_id)
            if rec is not None:
                self.selectRequested.emit([rec.id])
            return
        self.mutate("Erased from segment" if erase else "Painted into segment", st.update_segment_mask, target, mask)

    def commit_mask(self, mask: np.ndarray, target: int | None, class_id: int | None, source: str,
                    score: float) -> None:
        """A prompted mask: the new mask of ``target`` (refining it), or a new accepted segment."""
        st, image_id = self._store(), self._image_id()
        if st is None or image_id is None or not mask.any():
            return
        if target is not None:
            kwargs = {} if class_id is None else {"class_id": class_id}
            self.mutate("Refined segment with prompts", partial(st.update_segment_mask, target, mask, **kwargs))
            return
        rec = self.mutate("Added a prompted segment",
                          partial(st.add_segment, image_id, mask, class_id, source, score=score))
        if rec is not None:
            self.selectRequested.emit([rec.id])
