"""Typed records the store hands out: frozen, so the GUI can cache them without aliasing bugs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class StoreError(Exception):
    """Anything the user must be told about the project file: corrupt, too new, unknown id, bad input."""


class ImageStatus(str, Enum):
    """Curation status of a whole image (compares equal to its plain string value)."""

    TODO = "todo"
    ACCEPTED = "accepted"
    REJECTED = "rejected"

    def __str__(self) -> str:
        return self.value


class SegmentState(str, Enum):
    """Curation state of one segment (compares equal to its plain string value)."""

    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"

    def __str__(self) -> str:
        return self.value


def image_status(value: ImageStatus | str) -> ImageStatus:
    try:
        return ImageStatus(value)
    except ValueError:
        raise StoreError(f"unknown image status {value!r}; expected one of "
                         f"{[s.value for s in ImageStatus]}") from None


def segment_state(value: SegmentState | str) -> SegmentState:
    try:
        return SegmentState(value)
    except ValueError:
        raise StoreError(f"unknown segment state {value!r}; expected one of "
                         f"{[s.value for s in SegmentState]}") from None


@dataclass(frozen=True)
class ImageRecord:
    """One image of the project. ``path`` is absolute (resolved against the project folder);
    ``width``/``height`` are post-EXIF; unreadable files have ``error`` set and a 0x0 size."""

    id: int
    path: str
    width: int
    height: int
    status: ImageStatus
    error: str | None


@dataclass(frozen=True)
class ClassRecord:
    """One export category; the class list order (by id) is the category order of every export."""

    id: int
    name: str
    color: tuple[int, int, int]


@dataclass(frozen=True)
class SegmentRecord:
    """Metadata of one segment; the mask itself is fetched lazily (``store.segment_mask``). ``z``: drawing
    order within its image (higher on top; equal z: smaller segments on top)."""

    id: int
    image_id: int
    source: str
    state: SegmentState
    class_id: int | None
    label: int | None
    score: float
    name: str
    bbox: tuple[int, int, int, int]  # (x, y, w, h)
    area: int
    z: int = 0
