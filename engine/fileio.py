"""Crash-safe file writes and checkpoint reads shared by the exporters, caches and trainable methods.

Every file MaskCurator writes (exports, checkpoints, logs, caches) goes through :func:`atomic_write`:
a temp file in the same folder, fsync, then ``os.replace`` — a reader, a crash or a full disk leaves
either the old file or the complete new one, never half of one, and no temp file behind.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, IO

_REASONS = {
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOENT: "the folder does not exist",
}


def describe_os_error(exc: OSError) -> str:
    """A short human reason for an OSError ("the disk is full (No space left on device)")."""
    reason = _REASONS.get(exc.errno or -1, exc.strerror or str(exc))
    return f"{reason} ({exc.strerror or exc})" if exc.strerror and reason != exc.strerror else reason


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(binary_file)`` on a temp file next to ``path`` and move it into place when complete.

    OSError (disk full, permission, ...) propagates after the temp file is removed; ``path`` keeps its
    previous content.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = ""
        _fsync_dir(path.parent)
    finally:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_json(path: str | Path, data: Any, indent: int | None = 1) -> Path:
    return atomic_write_bytes(path, json.dumps(data, indent=indent).encode())


def atomic_torch_save(obj: Any, path: str | Path) -> Path:
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


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


def read_checkpoint(path: str | Path, title: str, error: type[Exception] = ValueError) -> dict:
    """``torch.load(weights_only=True)`` of a dict checkpoint, with one clear message per failure.

    ``title`` names the method ("STEGO"); ``error`` is the method's checkpoint error type. Callers
    then check their own format/version keys.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise error(f"{title} checkpoint not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise error(f"{path.name} is not a readable {title} checkpoint (corrupt, truncated or not a PyTorch "
                    f"file): {type(exc).__name__}: {exc}") from exc
    if not isinstance(obj, dict):
        raise error(f"{path.name} is not a {title} checkpoint (it holds a {type(obj).__name__})")
    return obj
