"""Image paths relative to the image folder, so a moved or copied image folder keeps working.

Keys are POSIX paths relative to the store's ``image_root`` (the image folder; the folder holding the
database file when the store is opened on its own) when the image is inside it, absolute otherwise.
A file name that is not valid UTF-8 (Linux allows any bytes) cannot be SQLite TEXT: its key is the
raw file-system bytes (a BLOB in the same column), decoded back with ``os.fsdecode`` — the surrogate-
escaped ``str`` Python itself uses for such names, so ``Path(record.path)`` opens the right file.
"""

from __future__ import annotations

import os
from pathlib import Path

StoredKey = str | bytes


def _utf8_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _key(text: str) -> StoredKey:
    """TEXT when the name is valid UTF-8, else the file-system bytes (lossless)."""
    return text if _utf8_ok(text) else os.fsencode(text)


def to_stored(path: str | Path, image_root: Path) -> StoredKey:
    """Key stored in the database: POSIX path relative to ``image_root`` when inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    for base, target in ((Path(os.path.abspath(image_root)), absolute),  # realpath: no error on a loop
                         (Path(os.path.realpath(image_root)), Path(os.path.realpath(absolute)))):
        try:
            return _key(target.relative_to(base).as_posix())
        except ValueError:
            continue
    return _key(str(absolute))


def key_text(stored: StoredKey) -> str:
    """The stored key as a path string (surrogate-escaped for non-UTF-8 names)."""
    return os.fsdecode(bytes(stored)) if isinstance(stored, (bytes, bytearray, memoryview)) else str(stored)


def to_absolute(stored: StoredKey, image_root: Path) -> str:
    """Absolute path of a stored key (relative keys are resolved against the current image folder).
    String functions, no Path: called for every image when a project opens (50,000 rows: Path parsing
    took seconds); ``normpath`` folds the same ``.`` / ``//`` that Path did."""
    text = key_text(stored)
    if os.path.isabs(text):
        return str(Path(text))
    root = str(image_root)
    return os.path.normpath(os.path.join(root if os.path.isabs(root) else os.path.abspath(root), text))


def relative_to_project(path: str | Path, image_root: Path) -> str:
    """POSIX path of ``path`` relative to ``image_root`` (with ``..`` when outside); absolute when impossible
    (e.g. another drive on Windows). Used for COCO ``file_name``."""
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(image_root))).as_posix()
    except ValueError:
        return Path(os.path.abspath(path)).as_posix()


def printable(text: str | Path) -> str:
    """``text`` safe to print or store as UTF-8 on one line (see :func:`engine.imageio.printable_name`)."""
    from engine.imageio import printable_name

    return printable_name(text)
