"""SQLite project store (WAL, RLE masks, persisted undo/redo); contract in docs/store_api.md."""

from .records import ClassRecord, ImageRecord, ImageStatus, SegmentRecord, SegmentState, StoreError
from .rle import Rle
from .store import ProjectStore

__all__ = ["ProjectStore", "ImageRecord", "SegmentRecord", "ClassRecord", "ImageStatus", "SegmentState",
           "StoreError", "Rle"]
