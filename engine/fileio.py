"""Crash-safe file writes and checkpoint reads shared by the exporters, caches and trainable methods.

Every file MaskCurator writes (exports, checkpoints, logs, caches) goes through :func:`atomic_write`:
a temp file in the same folder, fsync, then ``os.replace`` — a reader, a crash or a full disk leaves
either the old file or the complete new one, never half of one, and no temp file behind.
"""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Any, Callable, Sequence

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


#: Temp files are named ``.<name>.tmp-<pid>-<random>``: the pid tells a later run whether the writer is
#: still alive (a killed writer's file is removed by :func:`clean_stale_temporaries`).
_TMP_MARK = ".tmp-"


def current_umask() -> int:
    """The process umask without changing it (Linux: /proc; elsewhere a set-and-restore)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists but not ours (EPERM)
        return True
    return True


def clean_stale_temporaries(path: str | Path, max_age_s: float = 3600.0) -> list[Path]:
    """Remove temp files (or folders) that a killed writer of ``path`` left next to it.

    A temp whose writer process is gone is stale at once; an older-style temp without a pid (or one
    from another machine's pid space) only when older than ``max_age_s``. Returns what was removed.
    """
    import shutil
    import time

    path = Path(path)
    removed: list[Path] = []
    try:
        entries = list(path.parent.iterdir())
    except OSError:
        return removed
    prefix = f".{path.name}."
    for entry in entries:
        name = entry.name
        if not name.startswith(prefix) or not (name.endswith(".tmp") or _TMP_MARK in name):
            continue
        rest = name[len(prefix):]
        stale = False
        if rest.startswith(_TMP_MARK[1:]):
            pid_text = rest[len(_TMP_MARK) - 1:].split("-", 1)[0]
            stale = pid_text.isdigit() and not _pid_alive(int(pid_text))
        if not stale:
            try:
                stale = time.time() - entry.lstat().st_mtime > max_age_s
            except OSError:
                continue
        if not stale:
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            pass
    return removed


def temp_name(path: str | Path) -> str:
    """Prefix of a temp file/folder for ``path`` (``tempfile`` adds the random part)."""
    return f".{Path(path).name}{_TMP_MARK}{os.getpid()}-"


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(binary_file)`` on a temp file next to ``path`` and move it into place when complete.

    OSError (disk full, permission, ...) propagates after the temp file is removed; ``path`` keeps its
    previous content. The new file gets the mode of the file it replaces, else ``0666 & ~umask`` (like
    ``open()``; mkstemp's private 0600 would make exports unreadable to the user's group).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_name(path), suffix=".tmp", dir=path.parent)
    try:
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = 0o666 & ~current_umask()
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
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


def _unsafe_load_reason(exc: Exception) -> str:
    """torch's weights-only refusal, reduced to what the file holds.

    torch's own message advises re-running with ``weights_only=False``; for a file of unknown origin
    that advice means "run whatever code it contains", so it is never passed on to the user.
    """
    text = str(exc)
    m = re.search(r"GLOBAL ([\w.]+)", text)
    if m:
        return f"it contains Python objects that are not weights ({m.group(1)})"
    m = re.search(r"WeightsUnpickler error: ([^\n]*)", text)
    detail = m.group(1) if m else "it contains Python objects that are not weights"
    detail = re.split(r"\.\s*(Please use|Check the documentation|To load|Re-running)", detail)[0]
    return detail.strip()


def _is_weights_only_refusal(exc: Exception) -> bool:
    import pickle

    text = str(exc)
    return isinstance(exc, pickle.UnpicklingError) and ("Weights only load failed" in text
                                                       or "WeightsUnpickler" in text)


def torch_load_weights(path: str | Path, allowed_globals: Sequence[type] = ()) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU trusting exactly ``allowed_globals`` in addition.

    The allowance is scoped to this call (``torch.serialization.safe_globals``), never added
    process-wide. Raises :class:`UnsafeCheckpointError` when the file needs anything else (arbitrary
    pickled objects are never executed); other exceptions (truncated/corrupt files) propagate.
    """
    import torch

    try:
        if allowed_globals:
            with torch.serialization.safe_globals(list(allowed_globals)):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        if _is_weights_only_refusal(exc):
            raise UnsafeCheckpointError(_unsafe_load_reason(exc)) from None
        raise


class UnsafeCheckpointError(Exception):
    """A checkpoint that holds pickled Python objects other than weights; the message says which."""


def describe_load_error(exc: Exception) -> str:
    """One line for a failed checkpoint read, without torch's advice to disable ``weights_only``."""
    if isinstance(exc, UnsafeCheckpointError):
        return (f"{exc}; MaskCurator only reads plain weights and never runs code stored in a "
                "checkpoint. Save the weights alone (a state dict of tensors) and load that file")
    text = str(exc).split("\n")[0]
    return f"corrupt, truncated or not a PyTorch file: {type(exc).__name__}: {text}"


def read_checkpoint(path: str | Path, title: str, error: type[Exception] = ValueError) -> dict:
    """``torch.load(weights_only=True)`` of a dict checkpoint, with one clear message per failure.

    ``title`` names the method ("STEGO"); ``error`` is the method's checkpoint error type. Callers
    then check their own format/version keys.
    """
    path = Path(path)
    if not path.is_file():
        raise error(f"{title} checkpoint not found: {path}")
    try:
        obj = torch_load_weights(path)
    except Exception as exc:
        raise error(f"{path.name} is not a readable {title} checkpoint ({describe_load_error(exc)})") from None
    if not isinstance(obj, dict):
        raise error(f"{path.name} is not a {title} checkpoint (it holds a {type(obj).__name__})")
    return obj
