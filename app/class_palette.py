"""The class palette: the project's classes as a strip of swatches with their hotkeys, and the one
*active class* of the window.

Why one active class: the Prompt tool, the polygon tool, new brush segments and "apply class on
accept" (Y) all label what they create or accept with the same class, picked once with keys 1–9 (the
first nine classes in export order), 0 or ` (no class), or a click on a swatch — CVAT / labelme's
"pick a label, then draw" flow. :class:`ActiveClass` holds the choice (tools read ``class_id`` or
listen to ``changed``); :class:`ClassPalette` shows it and forwards clicks; combo boxes that choose a
class (the Prompt class box) follow it through :meth:`ActiveClass.bind_combo`.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QSize, Qt, Signal
from PySide6.QtWidgets import QButtonGroup, QComboBox, QHBoxLayout, QLabel, QToolButton, QWidget

from .segment_panel import swatch

#: Classes beyond this many have no hotkey (keys 1–9); they are still in the palette and clickable.
HOTKEYS = 9


class ActiveClass(QObject):
    """The class new or accepted segments get (None = none); ``changed`` is emitted on every change."""

    changed = Signal(object)  # class id or None
    classesChanged = Signal()  # the list of classes changed (the palette rebuilds)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.class_id: int | None = None
        self.classes: list = []  # ClassRecord, export order

    def set(self, class_id: int | None) -> None:
        if class_id is not None and class_id not in {c.id for c in self.classes}:
            class_id = None  # a deleted class, or one of another project
        if class_id != self.class_id:
            self.class_id = class_id
            self.changed.emit(class_id)

    def set_classes(self, classes) -> None:
        """The project's classes changed (or another project opened): the active one stays when it
        still exists, otherwise nothing is active."""
        self.classes = list(classes)
        self.classesChanged.emit()
        self.set(self.class_id)

    def pick(self, number: int) -> bool:
        """Hotkey ``number``: 1–9 = that class in the list, 0 = no class; False if there is no such class."""
        if number == 0:
            self.set(None)
            return True
        if 1 <= number <= min(HOTKEYS, len(self.classes)):
            self.set(self.classes[number - 1].id)
            return True
        return False

    def name(self) -> str:
        return next((c.name for c in self.classes if c.id == self.class_id), "no class")

    def bind_combo(self, combo: QComboBox) -> None:
        """Keep ``combo`` (item data = class id, None = unlabelled) in step: the user's choice there
        becomes the active class, and the active class is shown there."""

        def show(class_id) -> None:
            idx = combo.findData(class_id)
            combo.blockSignals(True)
            combo.setCurrentIndex(max(idx, 0))
            combo.blockSignals(False)

        combo.activated.connect(lambda _i: self.set(combo.currentData()))  # user choices only
        self.changed.connect(show)
        show(self.class_id)


class ClassPalette(QWidget):
    """One checkable swatch button per class ("1 cat", …) plus "0 none"; the active one is checked.
    Rebuilt from :class:`ActiveClass` whenever the classes change."""

    def __init__(self, active: ActiveClass, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("classPalette")
        self.setStyleSheet("QToolButton#classSwatch { padding: 2px 6px; }"
                           "QToolButton#classSwatch:checked { background: #2d4f7c; color: #ffffff;"
                           " border: 1px solid #4c8bf5; font-weight: bold; }")
        self.active = active
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[int | None, QToolButton] = {}
        self.hint = QLabel("No classes yet — add them in the Classes tab")
        self.hint.setObjectName("hint")
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(4, 0, 4, 0)
        self._lay.setSpacing(2)
        self._lay.addWidget(QLabel("Class:"))
        active.changed.connect(self._show_active)
        active.classesChanged.connect(self.rebuild)
        self.rebuild()

    def rebuild(self) -> None:
        for b in self.buttons.values():
            self.group.removeButton(b)
            self._lay.removeWidget(b)
            b.hide()  # at once: deleteLater waits for the event loop, and a stale button would cover the strip
            b.deleteLater()
        self._lay.removeWidget(self.hint)
        self.buttons = {}
        entries = [(None, "0", "none", None)]
        entries += [(c.id, str(i + 1) if i < HOTKEYS else "", c.name, tuple(c.color))
                    for i, c in enumerate(self.active.classes)]
        for cid, key, name, rgb in entries:
            b = QToolButton()
            b.setCheckable(True)
            b.setAutoRaise(True)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            if cid is not None:
                b.setIcon(swatch(rgb, 12))
                b.setIconSize(QSize(12, 12))
            b.setText(f"{key} {name}" if key else name)
            b.setObjectName("classSwatch")
            b.setProperty("class_id", cid)
            tip = "No class: new segments stay unlabelled, Y only accepts" if cid is None else \
                f"Make {name} the active class" + (f" (key {key})" if key else "")
            b.setToolTip(tip + (" (keys 0, `)" if cid is None else ""))
            b.clicked.connect(lambda _=False, c=cid: self.active.set(c))
            self.group.addButton(b)
            self._lay.addWidget(b)
            self.buttons[cid] = b
        self._lay.addWidget(self.hint)
        self.hint.setVisible(not self.active.classes)
        self._show_active(self.active.class_id)

    def _show_active(self, class_id) -> None:
        b = self.buttons.get(class_id)
        if b is not None and not b.isChecked():
            b.setChecked(True)

    def active_button(self) -> QToolButton | None:
        return next((b for b in self.buttons.values() if b.isChecked()), None)
