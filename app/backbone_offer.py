"""When the backbone cannot be loaded (hub unreachable, bad checkpoint): say so once, and offer the
offline choice right there instead of leaving a new user with a dead app.

The offline choice is the weight-free ``filters`` backbone when the engine has it, else
``random_vits16`` with the warning that its segments are meaningless. Picking it is the same as
choosing it in Preferences (it becomes the project's and the user's backbone).
"""

from __future__ import annotations

import os
from typing import Callable

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QMessageBox, QWidget

OFFLINE_PREFERRED = "filters"
OFFLINE_FALLBACK = "random_vits16"
NO_DIALOGS_ENV = "MASKCURATOR_NO_DIALOGS"


def offline_backbone() -> str:
    from engine.backbone import available_backbones

    return OFFLINE_PREFERRED if OFFLINE_PREFERRED in available_backbones() else OFFLINE_FALLBACK


def offline_note(name: str) -> str:
    if name == OFFLINE_PREFERRED:
        return (f"Work offline: the '{name}' backbone needs no download (hand-made image filters; "
                "coarser segments than DINO, but real ones).")
    return (f"Work offline: '{name}' needs no download, but its weights are random, so its segments are "
            "meaningless — only for trying the app out, not for labels.")


class BackboneOffer(QObject):
    """``on_failed(name, message)`` from the analysis controller; ``use_offline()`` applies the offer."""

    TITLE = "Backbone could not be loaded"

    def __init__(self, *, window: QWidget, report: Callable[[str, str], None],
                 current_settings: Callable[[], object], apply: Callable[[object], None],
                 open_preferences: Callable[[], None]):
        super().__init__(window)
        self.window, self.report, self.current_settings = window, report, current_settings
        self.apply, self.open_preferences = apply, open_preferences
        self.offline: str | None = None
        self.box: QMessageBox | None = None

    def on_failed(self, name: str, message: str) -> None:
        self.offline = offline_backbone() if name != offline_backbone() else None
        text = message if self.offline is None else f"{message}\n\n{offline_note(self.offline)}"
        self.report(self.TITLE, text)  # status line, last_error, errorShown — no box of its own
        if os.environ.get(NO_DIALOGS_ENV):
            return
        if self.box is not None:
            self.box.close()
        box = self.box = QMessageBox(QMessageBox.Icon.Warning, self.TITLE, text, parent=self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        if self.offline is not None:
            use = box.addButton(f"Use {self.offline}", QMessageBox.ButtonRole.AcceptRole)
            use.clicked.connect(self.use_offline)
        prefs = box.addButton("Preferences…", QMessageBox.ButtonRole.ActionRole)
        prefs.clicked.connect(self.open_preferences)
        box.addButton(QMessageBox.StandardButton.Close)
        box.finished.connect(lambda _r: setattr(self, "box", None))
        box.open()

    def use_offline(self) -> None:
        from dataclasses import replace

        if self.offline is not None:
            self.apply(replace(self.current_settings(), backbone=self.offline))
