"""Reviewing images (accept / reject → next to-do) and undo / redo, with what the status line and the
Undo / Redo actions say about them.

Why apart from the window: these are the keys a person presses hundreds of times an hour; the rules
(an unreadable image is never "accepted", the status names the image the decision was about, every
view re-reads the store after an undo) live in one small place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal


class ReviewController(QObject):
    status = Signal(str)
    storeChanged = Signal()

    def __init__(self, *, store: Callable[[], object], view, editor, filmstrip, class_manager, segment_panel,
                 tags_panel, canvas, actions: dict, parent: QObject | None = None):
        super().__init__(parent)
        self._store, self.view, self.editor, self.filmstrip = store, view, editor, filmstrip
        self.class_manager, self.segment_panel, self.tags_panel = class_manager, segment_panel, tags_panel
        self.canvas, self.actions = canvas, actions

    # -- review ----------------------------------------------------------------------------------

    def _set_image_status(self, status: str) -> None:
        store, done = self._store(), self.view.current_id
        if store is None or done is None:
            return
        name = Path(store.image(done).path).name
        error = store.image(done).error or self.filmstrip.model_.error_of(done)
        if status == "accepted" and error:
            moved = self.view.next_todo()
            self.status.emit(f"{name} could not be read, so it was not accepted (Backspace rejects it)"
                             + (f"; now {self._current_name()}" if moved else ""))
            return
        self.editor.mutate(f"Image {status}", store.set_image_status, done, status)
        if str(getattr(store.image(done).status, "value", store.image(done).status)) != status:
            return  # the store refused (the editor showed why)
        self.filmstrip.model_.update_record(store.image(done))
        moved = self.view.next_todo()
        if not moved:
            self.view.show_image(done)
        nxt = f"; now {self._current_name()}" if moved else "; no images left to review"
        self.status.emit(f"{status.capitalize()} {name}{nxt}")

    def _current_name(self) -> str:
        store, cid = self._store(), self.view.current_id
        return Path(store.image(cid).path).name if store is not None and cid is not None else ""

    def accept(self) -> None:
        self._set_image_status("accepted")

    def reject(self) -> None:
        self._set_image_status("rejected")

    # -- undo / redo -----------------------------------------------------------------------------

    def reload_all(self, message: str) -> None:
        """After undo / redo (which may touch any image, class or tag): every view re-reads the store."""
        store = self._store()
        self.status.emit(message)
        self.filmstrip.model_.update_records(store.images())
        self.class_manager.refresh()
        self.segment_panel.set_classes(store.classes())
        self.tags_panel.refresh()
        self.view.refresh_segments()
        self.update_actions()
        self.storeChanged.emit()

    def undo(self) -> None:
        if self._store() is not None:
            self.canvas.cancel_stroke()
            self.editor.wait_idle()  # a stroke still being written (big photos) is the step to undo
            desc = self._store().undo()
            self.reload_all(f"Undo: {desc}" if desc else "Nothing to undo.")

    def redo(self) -> None:
        if self._store() is not None:
            self.editor.wait_idle()
            desc = self._store().redo()
            self.reload_all(f"Redo: {desc}" if desc else "Nothing to redo.")

    def update_actions(self) -> None:
        st, a = self._store(), self.actions
        u = st.undo_description() if st is not None else None
        r = st.redo_description() if st is not None else None
        a["undo"].setEnabled(u is not None)
        a["redo"].setEnabled(r is not None)
        a["undo"].setToolTip(f"Undo {u} (Ctrl+Z)" if u else "Nothing to undo")
        a["redo"].setToolTip(f"Redo {r} (Ctrl+Shift+Z)" if r else "Nothing to redo")
