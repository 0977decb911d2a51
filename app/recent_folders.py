"""File → Open recent: the last folders (user settings), newest first, and the start folder of the
Open dialog. Rebuilt whenever a project opens."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject
from PySide6.QtWidgets import QFileDialog, QMenu, QMenuBar, QWidget

from . import user_settings


class RecentFolders(QObject):
    def __init__(self, menubar: QMenuBar, before, open_folder: Callable[[str], object], parent: QWidget):
        super().__init__(parent)
        self.open_folder, self.parent_widget = open_folder, parent
        file_menu = next(a.menu() for a in menubar.actions() if a.menu() is not None)
        self.menu = QMenu("Open &recent", parent)
        self.menu.setObjectName("recentMenu")
        file_menu.insertMenu(before, self.menu)
        self.refresh()

    def refresh(self) -> None:
        self.menu.clear()
        folders = user_settings.recent_folders()
        for i, folder in enumerate(folders):
            act = self.menu.addAction(f"&{i + 1}  {folder}" if i < 9 else folder)
            act.setData(folder)
            act.triggered.connect(lambda _=False, f=folder: self.open_folder(f))
        if folders:
            self.menu.addSeparator()
            self.menu.addAction("Clear list", self._clear)
        self.menu.setEnabled(bool(folders))

    def actions(self) -> list:
        return [a for a in self.menu.actions() if a.data()]

    def remember(self, folder: str | Path) -> None:
        user_settings.add_recent_folder(folder)
        self.refresh()

    def _clear(self) -> None:
        user_settings.clear_recent_folders()
        self.refresh()

    def ask_folder(self) -> str:
        """The Open dialog, starting next to the last opened folder."""
        return QFileDialog.getExistingDirectory(self.parent_widget, "Open image folder", user_settings.last_folder())
