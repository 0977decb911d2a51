"""Image paths relative to the project folder, so a moved or copied project folder keeps working."""

from __future__ import annotations

import os
from pathlib import Path


def to_stored(path: str | Path, project_dir: Path) -> str:
    """Key stored in the database: POSIX path relative to ``project_dir`` when inside it, else absolute."""
    absolute = Path(os.path.abspath(path))
    for base, target in ((Path(os.path.abspath(project_dir)), absolute),
                         (project_dir.resolve(), absolute.resolve())):
        try:
            return target.relative_to(base).as_posix()
        except ValueError:
            continue
    return str(absolute)


def to_absolute(stored: str, project_dir: Path) -> str:
    """Absolute path of a stored key (relative keys are resolved against the current project folder)."""
    p = Path(stored)
    if p.is_absolute():
        return str(p)
    return os.path.normpath(os.path.join(os.path.abspath(project_dir), *p.parts))


def relative_to_project(path: str | Path, project_dir: Path) -> str:
    """POSIX path of ``path`` relative to ``project_dir`` (with ``..`` when outside); absolute when impossible
    (e.g. another drive on Windows). Used for COCO ``file_name``."""
    try:
        return Path(os.path.relpath(os.path.abspath(path), os.path.abspath(project_dir))).as_posix()
    except ValueError:
        return Path(os.path.abspath(path)).as_posix()
