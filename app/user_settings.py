"""What the app remembers for the *user* (not for one project), in QSettings: recent folders, the last
folder, the default backbone new projects start with, and how many images to analyse ahead.

Why apart from :mod:`app.project_settings`: those live in a project's store and travel with the
folder; these belong to the person at this machine. ``MASKCURATOR_SETTINGS`` points QSettings at an
ini file (tests, screenshots) so a run never touches the user's real settings.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings

SETTINGS_ENV = "MASKCURATOR_SETTINGS"
MAX_RECENT = 8
DEFAULT_PREFETCH = 3


def _qsettings() -> QSettings:
    path = os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(path, QSettings.Format.IniFormat)
    return QSettings("MaskCurator", "MaskCurator")


def recent_folders() -> list[str]:
    value = _qsettings().value("recent/folders", [])
    if isinstance(value, str):  # QSettings returns a lone string for a one-element list
        value = [value]
    return [str(v) for v in (value or []) if v]


def add_recent_folder(folder: str | Path) -> list[str]:
    folder = str(Path(folder).resolve())
    folders = [folder] + [f for f in recent_folders() if f != folder]
    s = _qsettings()
    s.setValue("recent/folders", folders[:MAX_RECENT])
    s.setValue("recent/last_folder", folder)
    return folders[:MAX_RECENT]


def clear_recent_folders() -> None:
    _qsettings().remove("recent/folders")


def last_folder() -> str:
    """Where the folder dialog starts: the last opened folder's parent (so its siblings show)."""
    folder = str(_qsettings().value("recent/last_folder", "") or "")
    return str(Path(folder).parent) if folder else ""


def default_backbone(fallback: str) -> str:
    return str(_qsettings().value("analysis/backbone", fallback) or fallback)


def set_default_backbone(name: str) -> None:
    _qsettings().setValue("analysis/backbone", name)


def prefetch_count() -> int:
    try:
        return max(0, int(_qsettings().value("analysis/prefetch", DEFAULT_PREFETCH)))
    except (TypeError, ValueError):
        return DEFAULT_PREFETCH


def set_prefetch_count(n: int) -> None:
    _qsettings().setValue("analysis/prefetch", max(0, int(n)))


def include_subfolders() -> bool:
    """Open folders with their subfolders (File → Open folder…; a project also remembers its choice)."""
    return str(_qsettings().value("open/include_subfolders", "false")).lower() in ("true", "1")


def set_include_subfolders(on: bool) -> None:
    _qsettings().setValue("open/include_subfolders", "true" if on else "false")
