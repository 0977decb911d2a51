"""Class list of the project (the export's categories): add, rename, recolour, delete.

Edits go straight to the store (cheap single-row transactions, each one undo step); the widget then
emits ``classesChanged`` so the segment panel, tags panel and overlays refresh. Problems (duplicate
or empty names) are shown inline, not in a modal box, so curation is never interrupted.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QColorDialog, QHBoxLayout, QInputDialog, QLabel, QListWidget,
                               QListWidgetItem, QPushButton, QVBoxLayout, QWidget)

from .segment_panel import swatch


class ClassManager(QWidget):
    classesChanged = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("classManager")
        self.store = None
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(lambda _it: self._rename_clicked())
        self.add_btn = QPushButton("Add…")
        self.rename_btn = QPushButton("Rename…")
        self.color_btn = QPushButton("Colour…")
        self.delete_btn = QPushButton("Delete")
        self.add_btn.clicked.connect(self._add_clicked)
        self.rename_btn.clicked.connect(self._rename_clicked)
        self.color_btn.clicked.connect(self._color_clicked)
        self.delete_btn.clicked.connect(self._delete_clicked)
        self.status = QLabel("")
        self.status.setObjectName("inlineError")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        for b in (self.add_btn, self.rename_btn, self.color_btn, self.delete_btn):
            row.addWidget(b)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.list, 1)
        lay.addLayout(row)
        lay.addWidget(self.status)

    def set_store(self, store) -> None:
        self.store = store
        self.refresh()

    def refresh(self) -> None:
        self.list.clear()
        if self.store is None:
            return
        for i, c in enumerate(self.store.classes()):
            it = QListWidgetItem(swatch(tuple(c.color)), c.name)
            it.setData(Qt.ItemDataRole.UserRole, c.id)
            if i < 9:  # the palette's hotkeys follow this order (the export's category order)
                it.setToolTip(f"Key {i + 1} makes {c.name} the active class")
            self.list.addItem(it)

    def selected_class_id(self) -> int | None:
        it = self.list.currentItem()
        return None if it is None else it.data(Qt.ItemDataRole.UserRole)

    # -- operations (used by the buttons and by tests) -------------------------------------------------

    def _run(self, fn, *args) -> bool:
        if self.store is None:
            return False
        try:
            fn(*args)
        except Exception as exc:  # StoreError / ValueError: duplicate or unknown names, shown inline
            self.status.setText(str(exc))
            return False
        self.status.setText("")
        self.refresh()
        self.classesChanged.emit()
        return True

    def add_class(self, name: str, color: tuple[int, int, int] | None = None) -> bool:
        name = name.strip()
        if not name:
            self.status.setText("A class needs a name.")
            return False
        return self._run(self.store.add_class, name, color) if self.store else False

    def rename_class(self, class_id: int, name: str) -> bool:
        name = name.strip()
        if not name:
            self.status.setText("A class needs a name.")
            return False
        return self._run(self.store.rename_class, class_id, name) if self.store else False

    def recolor_class(self, class_id: int, rgb: tuple[int, int, int]) -> bool:
        return self._run(self.store.set_class_color, class_id, tuple(int(v) for v in rgb)) if self.store else False

    def delete_class(self, class_id: int) -> bool:
        return self._run(self.store.delete_class, class_id) if self.store else False

    # -- interactive -----------------------------------------------------------------------------------

    def _add_clicked(self) -> None:
        name, ok = QInputDialog.getText(self, "Add class", "Class name:")
        if ok:
            self.add_class(name)

    def _rename_clicked(self) -> None:
        cid = self.selected_class_id()
        if cid is None:
            return
        name, ok = QInputDialog.getText(self, "Rename class", "New name:", text=self.list.currentItem().text())
        if ok:
            self.rename_class(cid, name)

    def _color_clicked(self) -> None:
        cid = self.selected_class_id()
        if cid is None:
            return
        color = QColorDialog.getColor(parent=self, title="Class colour")
        if color.isValid():
            self.recolor_class(cid, (color.red(), color.green(), color.blue()))

    def _delete_clicked(self) -> None:
        cid = self.selected_class_id()
        if cid is not None:
            self.delete_class(cid)


class TagsPanel(QWidget):
    """Image-level class tags of the current image (IAL's weak labels), as a checklist."""

    tagsChanged = Signal(int, list)  # image id, class ids

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("tagsPanel")
        self.store = None
        self.image_id: int | None = None
        self.list = QListWidget()
        self.list.itemChanged.connect(self._on_changed)
        hint = QLabel("Classes present in this image (used by IAL training).")
        hint.setWordWrap(True)
        hint.setObjectName("hint")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(hint)
        lay.addWidget(self.list, 1)

    def set_store(self, store) -> None:
        self.store = store
        self.image_id = None  # an id of the previous project means nothing in this one
        self.refresh()

    def set_image(self, image_id: int | None) -> None:
        self.image_id = image_id
        self.refresh()

    def refresh(self) -> None:
        self.list.blockSignals(True)
        self.list.clear()
        if self.store is not None and self.image_id is not None:
            tags = set(self.store.image_tags(self.image_id))
            for c in self.store.classes():
                it = QListWidgetItem(swatch(tuple(c.color)), c.name)
                it.setData(Qt.ItemDataRole.UserRole, c.id)
                it.setFlags(it.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                it.setCheckState(Qt.CheckState.Checked if c.id in tags else Qt.CheckState.Unchecked)
                self.list.addItem(it)
        self.list.blockSignals(False)

    def checked_ids(self) -> list[int]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())
                if self.list.item(i).checkState() == Qt.CheckState.Checked]

    def set_checked(self, class_id: int, checked: bool) -> None:
        for i in range(self.list.count()):
            it = self.list.item(i)
            if it.data(Qt.ItemDataRole.UserRole) == class_id:
                it.setCheckState(Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked)

    def _on_changed(self, _item) -> None:
        if self.store is None or self.image_id is None:
            return
        ids = self.checked_ids()
        self.store.set_image_tags(self.image_id, ids)
        self.tagsChanged.emit(self.image_id, ids)


__all__ = ["ClassManager", "TagsPanel", "QColor"]
