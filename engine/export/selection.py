"""Which images and segments an export contains: shared by every exporter so they always agree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.store import ImageRecord, ProjectStore, SegmentRecord, StoreError
from engine.store.records import ImageStatus, image_status, segment_state

from .report import ExportError


@dataclass(frozen=True)
class ExportItem:
    """One image to export with the segments that go into it."""

    image: ImageRecord
    segments: tuple[SegmentRecord, ...]


@dataclass(frozen=True)
class Selection:
    items: tuple[ExportItem, ...]
    skipped: tuple[str, ...]
    n_unlabelled: int


def select(store: ProjectStore, states: Iterable[str], image_statuses: Iterable[str] | None,
           include_unlabelled: bool) -> Selection:
    """Images and segments to export.

    * ``image_statuses`` None: every readable image that has at least one exported segment, plus
      images marked "accepted" (curated, possibly empty = negatives). A tuple: exactly the readable
      images with those statuses, empty ones included.
    * segments: those in ``states``, non-empty, matching the image size; unlabelled ones only when
      ``include_unlabelled``. Everything left out is explained in ``skipped``.
    """
    try:
        wanted_states = tuple(segment_state(s) for s in states)
        wanted_status = None if image_statuses is None else {image_status(s) for s in image_statuses}
    except StoreError as exc:
        raise ExportError(str(exc)) from None
    if not wanted_states:
        raise ExportError("no segment states selected for export")
    items, skipped, n_unlabelled = [], [], 0
    for img in store.images():
        if wanted_status is not None and img.status not in wanted_status:
            continue
        name = store.relative_path(img)
        if img.error is not None or img.width <= 0 or img.height <= 0:
            if wanted_status is not None or store.segments(img.id, states=wanted_states):
                skipped.append(f"{name}: unreadable image ({img.error})")
            continue
        keep = []
        for seg in store.segments(img.id, states=wanted_states):
            if seg.class_id is None and not include_unlabelled:
                n_unlabelled += 1
                continue
            if seg.area <= 0:
                skipped.append(f"{name}: segment {seg.id} has an empty mask")
                continue
            rle = store.segment_rle(seg.id)
            if (rle.height, rle.width) != (img.height, img.width):
                skipped.append(f"{name}: segment {seg.id} mask is {rle.height}x{rle.width}, image is "
                               f"{img.height}x{img.width}")
                continue
            keep.append(seg)
        if wanted_status is None and not keep and img.status != ImageStatus.ACCEPTED:
            continue
        items.append(ExportItem(img, tuple(keep)))
    if n_unlabelled:
        skipped.append(f"{n_unlabelled} unlabelled segment(s) skipped: give them a class or export with "
                       f"include_unlabelled")
    return Selection(tuple(items), tuple(skipped), n_unlabelled)
