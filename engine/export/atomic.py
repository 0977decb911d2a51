"""Export writes: :mod:`engine.fileio`'s atomic writes, with OS errors turned into an ExportError, and
whole-folder exports written into a sibling temporary folder that is swapped in when complete."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ..fileio import atomic_write_bytes as _atomic_write_bytes
from ..fileio import _pid_alive, clean_stale_temporaries, current_umask, describe_os_error, temp_name
from .report import ExportError

#: Written by run_export into folder exports of formats without a ``recognise`` function: lets a later
#: export recognise the folder as its own.
MARKER = ".maskcurator-export.json"


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


def marker_format(folder: Path) -> str | None:
    """The format named by a folder export's marker file (None: no readable marker)."""
    try:
        data = json.loads((Path(folder) / MARKER).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("format") if isinstance(data, dict) else None


def _restore_interrupted_swap(out_dir: Path) -> None:
    """A kill between the two renames of a swap leaves ``out_dir`` missing and the previous export
    under its ``.old`` name: put it back before anything else looks at the folder."""
    if os.path.lexists(out_dir):  # swapped, killed before the old folder was removed: remove it now
        for old in out_dir.parent.glob(f".{out_dir.name}.old-*"):
            pid = old.name[len(f".{out_dir.name}.old-"):].split("-", 1)[0]
            if pid.isdigit() and not _pid_alive(int(pid)):
                shutil.rmtree(old, ignore_errors=True)
        return
    for old in sorted(out_dir.parent.glob(f".{out_dir.name}.old-*")):
        try:
            os.rename(old, out_dir)
            return
        except OSError:
            continue


@contextmanager
def atomic_folder(out_dir: Path, format_name: str,
                  is_previous: Callable[[Path], bool] = lambda p: False) -> Iterator[Path]:
    """Yield an empty temporary folder next to ``out_dir``; when the block completes, the folder
    replaces ``out_dir`` with two renames. On any failure the temporary folder
    is removed and ``out_dir`` is exactly as before. A previous export (marker of this format or
    ``is_previous``) that is replaced is deleted; any other folder (replaced because the caller was told
    to force it) is kept as ``<name>.replaced-<time>`` next to it, never deleted. ``format_name`` is the
    registered format's name; an OSError in the block becomes an ExportError ("Nothing was written").
    Whether replacing ``out_dir`` is allowed at all is checked before, by ``run_export``."""
    out_dir = Path(out_dir)
    ensure_dir(out_dir.parent)
    _restore_interrupted_swap(out_dir)
    clean_stale_temporaries(out_dir)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=temp_name(out_dir), dir=out_dir.parent))
        os.chmod(tmp, 0o777 & ~current_umask())
    except OSError as exc:
        raise ExportError(f"Cannot create export folder next to {out_dir}: {describe_os_error(exc)}. "
                          "Nothing was written.") from exc
    try:
        try:
            yield tmp
        except OSError as exc:
            raise ExportError(f"Cannot write the export {out_dir}: {describe_os_error(exc)}. "
                              "Nothing was written.") from exc
        _swap(tmp, out_dir, lambda p: marker_format(p) == format_name or is_previous(p))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _swap(tmp: Path, out_dir: Path, is_previous: Callable[[Path], bool]) -> None:
    if not os.path.lexists(out_dir):
        try:
            os.rename(tmp, out_dir)
            return
        except OSError as exc:
            raise ExportError(f"Cannot create {out_dir}: {describe_os_error(exc)}. Nothing was written.") from exc
    previous = out_dir.is_dir() and is_previous(out_dir)
    empty = out_dir.is_dir() and not any(out_dir.iterdir())
    if previous or empty:
        old = Path(tempfile.mktemp(prefix=f".{out_dir.name}.old-{os.getpid()}-", dir=out_dir.parent))
    else:
        old = out_dir.with_name(f"{out_dir.name}.replaced-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.rename(out_dir, old)
    except OSError as exc:
        raise ExportError(f"Cannot replace {out_dir}: {describe_os_error(exc)}. Nothing was written.") from exc
    try:
        os.rename(tmp, out_dir)
    except OSError as exc:
        os.rename(old, out_dir)
        raise ExportError(f"Cannot replace {out_dir}: {describe_os_error(exc)}. Nothing was written.") from exc
    if previous or empty:
        shutil.rmtree(old, ignore_errors=True)
