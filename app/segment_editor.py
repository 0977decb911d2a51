"""Edits of the current image's segments, each one store transaction = one undo step.

The panel, the canvas tools and the prompt tool only *request* edits; this applies them to the store
and reports the outcome (status text, or an error message — never an exception into the event loop).
The window listens to ``edited`` and reloads what it shows.

Brush strokes arrive as polylines (:class:`engine.masks.Stroke`). On big photos (more than
:data:`ASYNC_STROKE_MIN_PIXELS`) the full-resolution work — read the stored mask, rasterise the
stroke on its bounding-box crop, RLE-encode, write — runs on one private worker thread, in order,
so releasing the mouse costs the GUI thread nothing (issue 16: 2–2.5 s per commit at 24 MP). Small
photos commit inline, where the whole commit is a few milliseconds and callers see the store
updated as soon as the stroke ends.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
from PySide6.QtCore import QObject, Signal

from engine.masks import CropMask, Stroke, apply_stroke, same_mask

#: strokes on images with more pixels than this are committed off the GUI thread
ASYNC_STROKE_MIN_PIXELS = 4_000_000


@dataclass(frozen=True)
class StrokeCommit:
    """What a committed stroke did: the segment (new or edited), its stored mask and the message."""

    segment_id: int | None  # None: nothing changed
    created: bool
    mask: CropMask | None
    counts: bytes | None  # the stored RLE counts (lets CurrentSegments skip decoding what was just written)
    description: str
    error: str | None = None


class NewSegmentSlot:
    """Strokes on "a new segment" queued before the first one is stored all go into the segment the
    first one creates (several strokes paint one new segment, as with an inline commit)."""

    def __init__(self, image_id: int):
        self.image_id, self.segment_id = image_id, None


def commit_stroke(st, image_id: int, target: int | None, stroke: Stroke, erase: bool, class_id: int | None = None,
                  slot: NewSegmentSlot | None = None, known=None) -> StrokeCommit:
    """Apply ``stroke`` to ``target``'s stored mask (or make a new segment of ``class_id``) as one undo
    step. Runs on any thread: the store opens one connection per thread. ``known(id)`` may return
    (RLE counts, CropMask) already decoded: used when the counts match the stored ones (decoding a
    24 MP RLE holds the GIL ~50 ms, which the GUI thread would feel)."""
    if target is None and slot is not None and slot.segment_id is not None:
        target = slot.segment_id
    img = st.image(image_id)
    hw = (int(img.height), int(img.width))
    base = CropMask.empty(hw)
    if target is not None:
        rle = st.segment_rle(target)
        hit = known(target) if known is not None else None
        base = hit[1] if hit is not None and hit[0] == rle.counts else CropMask.from_rle(rle)
    new = apply_stroke(base, stroke)
    if same_mask(base, new):
        return StrokeCommit(None, False, None, None, "")
    if target is None:
        rec = st.add_segment(image_id, new.to_full(), class_id)
        if slot is not None:
            slot.segment_id = rec.id
        return StrokeCommit(rec.id, True, new, st.segment_rle(rec.id).counts, "Painted a new segment")
    st.update_segment_mask(target, new.to_full())
    return StrokeCommit(target, False, new, st.segment_rle(target).counts,
                        "Erased from segment" if erase else "Painted into segment")


class _Relay(QObject):
    """Lives on the GUI thread; the worker's results arrive through a queued signal."""

    done = Signal(object, object)  # StrokeCommit, image id


class SegmentEditor(QObject):
    edited = Signal()  # the store changed: reload the current image's views and the undo actions
    selectRequested = Signal(list)  # segment ids to select after an edit (a merge result, a new segment)
    status = Signal(str)
    error = Signal(str, str)  # title, text
    maskCommitted = Signal(int, bytes, object)  # segment id, stored RLE counts, CropMask (a cache hint)

    def __init__(self, store: Callable[[], object], image_id: Callable[[], int | None], parent: QObject | None = None):
        super().__init__(parent)
        self._store, self._image_id = store, image_id
        self._pool: ThreadPoolExecutor | None = None
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_committed)
        self._pending = 0
        self._slot: NewSegmentSlot | None = None
        #: segment id -> (RLE counts, CropMask) already decoded (CurrentSegments.known_mask), or None
        self.known_mask: Callable[[int], tuple[bytes, CropMask] | None] | None = None
        #: called on the worker with each committed mask (the canvas resamples it for display there)
        self.warm_display: Callable[[CropMask], None] | None = None

    @property
    def commit_pending(self) -> bool:
        """A stroke is still being written (or its result not yet delivered)."""
        return self._pending > 0

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until queued stroke commits are written (undo, closing a project, tests); their
        results still arrive through the event loop. False if they did not finish in ``timeout``."""
        if self._pool is None:
            return True
        try:
            self._pool.submit(lambda: None).result(timeout)
        except Exception:  # a timeout: the caller goes on, the commit lands later
            return False
        return True

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
        if isinstance(mask, Stroke):
            self._stroke(st, image_id, target, mask, erase, class_id)
            return
        if target is None:
            if erase or not mask.any():
                return
            rec = self.mutate("Painted a new segment", st.add_segment, image_id, mask, class_id)
            if rec is not None:
                self.selectRequested.emit([rec.id])
            return
        self.mutate("Erased from segment" if erase else "Painted into segment", st.update_segment_mask, target, mask)

    def _stroke(self, st, image_id: int, target: int | None, stroke: Stroke, erase: bool,
                class_id: int | None) -> None:
        if target is None and erase:
            return
        if target is None:  # keep filling the new segment a queued stroke is creating
            if self._slot is None or self._slot.image_id != image_id or not self.commit_pending:
                self._slot = NewSegmentSlot(image_id)
        slot = self._slot if target is None else None
        img = st.image(image_id)
        self._pending += 1
        if img.width * img.height < ASYNC_STROKE_MIN_PIXELS:
            self._on_committed(self._run(st, image_id, target, stroke, erase, class_id, slot, self.known_mask),
                               image_id)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="stroke-commit")
        relay, known, warm = self._relay, self.known_mask, self.warm_display

        def job():
            res = self._run(st, image_id, target, stroke, erase, class_id, slot, known)
            if warm is not None and res.mask is not None:
                try:
                    warm(res.mask)
                except Exception:  # only a head start for the redraw
                    pass
            relay.done.emit(res, image_id)

        self._pool.submit(job)

    @staticmethod
    def _run(*args) -> StrokeCommit:
        try:
            return commit_stroke(*args)
        except Exception as exc:  # reported as a message on the GUI thread, never raised there
            return StrokeCommit(None, False, None, None, "", error=str(exc) or type(exc).__name__)

    def _on_committed(self, res: StrokeCommit, image_id: int) -> None:
        self._pending = max(self._pending - 1, 0)
        if res.error is not None:
            self.error.emit("Brush stroke failed", res.error)
            self.edited.emit()  # redraw from the store: the failed stroke's preview goes away
            return
        if res.segment_id is None:
            return
        if res.mask is not None and res.counts is not None:
            self.maskCommitted.emit(res.segment_id, res.counts, res.mask)
        self.status.emit(res.description)
        self.edited.emit()
        if res.created and image_id == self._image_id():
            self.selectRequested.emit([res.segment_id])

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
