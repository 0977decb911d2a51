"""Paths of the bundled icons and style sheet (resources/ next to the package)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PySide6.QtGui import QIcon

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
ICONS = RESOURCES / "icons"
STYLE = RESOURCES / "styles" / "app.qss"

@lru_cache(maxsize=None)
def icon(name: str) -> QIcon:
    """QIcon for ``resources/icons/<name>.svg`` (empty icon when missing, never an exception)."""
    path = ICONS / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()


def style_sheet() -> str:
    try:
        return STYLE.read_text(encoding="utf-8")
    except OSError:
        return ""
