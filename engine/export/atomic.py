"""Atomic file writes: a reader (or a crash) sees the old file or the complete new one, never half."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path

from .report import ExportError

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOENT: "the folder does not exist",
}


def describe_os_error(exc: OSError) -> str:
    reason = _REASONS.get(exc.errno or -1, exc.strerror or str(exc))
    return f"{reason} ({exc.strerror or exc})" if exc.strerror and reason != exc.strerror else reason


def ensure_dir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"Cannot create export folder {folder}: {describe_os_error(exc)}") from exc


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temp file next to ``path``, fsync it, then ``os.replace`` it into place.

    Any OSError becomes an ExportError naming the file and the reason; the temp file is removed and
    an existing ``path`` is left untouched.
    """
    path = Path(path)
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise ExportError(f"Cannot write {path}: {describe_os_error(exc)}. Nothing was written.") from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (best effort: not supported on every platform)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
