"""Moving :class:`~engine.pipeline.AnalysisStore` entries between machines as bytes.

The entry format belongs to ``AnalysisStore``: a worker writes the entry with ``put`` into a private
temporary store and ships the file's bytes; the driver writes those bytes, atomically, where its own
store keeps that key. The on-disk location (``AnalysisStore._file``) is the one private detail used
here; a public ``AnalysisStore.entry_path(key)`` would remove it (see the issue-15 notes).
"""

from __future__ import annotations

from pathlib import Path

from ..fileio import atomic_write_bytes


def entry_path(cache, key: str) -> Path:
    return cache._file(key)  # noqa: SLF001 - the store's layout, kept in this one place


def known_keys(cache) -> set[str]:
    """Keys of every entry the driver's cache holds (a directory listing: no image is read)."""
    return {p.stem for p in Path(cache.root).glob("*/*.npz")}


def write_entry(cache, key: str, data: bytes) -> None:
    atomic_write_bytes(entry_path(cache, key), data)
