"""Which widget a key belongs to: the window's single-key shortcuts (Enter accepts the image, Backspace
rejects it, letters pick tools) must not fire while the user types into a field.

Qt asks the focus widget first with a ``ShortcutOverride`` event; accepting it delivers the key to the
widget instead of the shortcut. Line edits accept printable keys themselves but not Enter, and item
views accept nothing, so this application-wide filter accepts, for the focus widget:

* text fields, spin boxes and editable combo boxes: every key without Ctrl / Alt / Meta except Esc
  (Esc still leaves a tool / clears the selection; Ctrl+Z etc. stay global);
* a widget that names its own keys in the ``ownKeys`` property (a list of ``Qt.Key`` ints), e.g. the
  segment list, whose Delete deletes the selected segments.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import (QAbstractSpinBox, QApplication, QComboBox, QLineEdit, QPlainTextEdit, QTextEdit,
                               QWidget)

OWN_KEYS = "ownKeys"
_GLOBAL_MODS = (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                | Qt.KeyboardModifier.MetaModifier)


def keeps_key(widget: QWidget | None, key: int, modifiers) -> bool:
    """Does ``widget`` (the focus widget) keep this key press instead of a window shortcut?"""
    w = widget
    while w is not None:  # a spin box's line edit, a combo box's line edit: ask the outer widget too
        own = w.property(OWN_KEYS)
        if own and int(key) in {int(k) for k in own} and not (modifiers & _GLOBAL_MODS):
            return True
        if _is_text_field(w):
            return key != Qt.Key.Key_Escape and not (modifiers & _GLOBAL_MODS)
        w = w.parentWidget() if isinstance(w, QLineEdit) else None
    return False


def _is_text_field(w: QWidget) -> bool:
    if isinstance(w, QComboBox):
        return w.isEditable()
    if isinstance(w, QLineEdit | QAbstractSpinBox | QPlainTextEdit):
        return not getattr(w, "isReadOnly", lambda: False)()
    if isinstance(w, QTextEdit):
        return not w.isReadOnly()
    return False


class KeyScope(QObject):
    """Installed on the main window and its docks (:func:`install`): a ``ShortcutOverride`` nobody
    below accepted propagates up to them. Not an application-wide filter: that would run Python for
    every event of the app and, holding the GIL, slow down the engine thread (training) noticeably."""

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if event.type() == QEvent.Type.ShortcutOverride:
            if keeps_key(QApplication.focusWidget(), event.key(), event.modifiers()):
                event.accept()
                return True
        return False


def install(window: QWidget) -> KeyScope:
    """Watch ``window`` and its dock widgets (a floating dock is a window of its own)."""
    from PySide6.QtWidgets import QDockWidget

    scope = KeyScope(window)
    window.installEventFilter(scope)
    for dock in window.findChildren(QDockWidget):
        dock.installEventFilter(scope)
    return scope
