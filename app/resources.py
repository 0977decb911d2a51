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


#: Check boxes (widgets and checkable list rows) on the dark style: the native indicator draws a dark
#: outline on a dark background, so an unchecked box was nearly invisible.
INDICATORS = """
QCheckBox::indicator, QListView::indicator, QTreeView::indicator, QGroupBox::indicator {
    width: 13px; height: 13px; border: 1px solid #aeb3bd; border-radius: 3px; background: #2a2c31; }
QCheckBox::indicator:hover, QListView::indicator:hover, QTreeView::indicator:hover { border-color: #e8e9ec; }
QCheckBox::indicator:checked, QListView::indicator:checked, QTreeView::indicator:checked,
QGroupBox::indicator:checked {
    background: #4c8bf5; border-color: #4c8bf5; image: url(%CHECK%); }
QCheckBox::indicator:disabled, QListView::indicator:disabled { border-color: #5a5e66; background: #24262b; }
QCheckBox:disabled { color: #6b6f78; }
QLabel#warningLabel { color: #ffd43b; }
"""


def style_sheet() -> str:
    try:
        base = STYLE.read_text(encoding="utf-8")
    except OSError:
        base = ""
    return base + INDICATORS.replace("%CHECK%", (ICONS / "check.svg").as_posix())
