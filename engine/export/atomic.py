"""Export writes: :mod:`engine.fileio`'s atomic writes, with OS errors turned into an ExportError."""

from __future__ import annotations

from pathlib import Path

from ..fileio import atomic_write_bytes as _atomic_write_bytes
from ..fileio import describe_os_error
from .report import ExportError


def ensure_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"Cannot create export folder {folder}: {describe_os_error(exc)}") from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` atomically; any OSError becomes an ExportError naming the file and the reason,
    the temp file is removed and an existing ``path`` is left untouched."""
    try:
        _atomic_write_bytes(path, data)
    except OSError as exc:
        raise ExportError(f"Cannot write {path}: {describe_os_error(exc)}. Nothing was written.") from exc
