"""Segment list of the current image: accept, reject, merge, relabel, delete; filter by source;
show / hide each segment (the box in the first column, key H) and see the drawing order (the list is
topmost first; Bring to front / Send to back change it).

The panel only *requests* changes (signals); :class:`app.segment_editor.SegmentEditor` applies them to
the store – one undo step each – and the window hands the reloaded records of
:class:`app.current_segments.CurrentSegments` back with :meth:`SegmentPanel.set_segments`.
"""

from __future__ import annotations

from typing import NamedTuple

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGridLayout, QHBoxLayout, QHeaderView, QLabel, QMenu,
                               QPushButton, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from .key_scope import OWN_KEYS

ALL_SOURCES = "All sources"
STATE_COLOURS = {"proposed": "#9aa0aa", "accepted": "#51cf66", "rejected": "#ff6b9a"}
HIDDEN_TEXT = "#6b6f78"  # the name of a hidden segment


class _Row(NamedTuple):
    """What one row of the list shows."""

    id: int
    texts: tuple[str, ...]  # one per column
    colour: tuple[int, int, int]
    tooltip: str


def changed_columns(old: list[_Row], new: list[_Row], n: int) -> set[int]:
    """Columns whose texts changed as a whole (segments trading rows change no column's width)."""
    def texts(rows: list[_Row]) -> list[list[str]]:
        return [sorted(r.texts[c] for r in rows) for c in range(n)]

    return {c for c, (a, b) in enumerate(zip(texts(old), texts(new))) if a != b}


def swatch(rgb: tuple[int, int, int], size: int = 14) -> QIcon:
    pm = QPixmap(size, size)
    pm.fill(QColor(*rgb))
    return QIcon(pm)


class _SegmentTree(QTreeWidget):
    """Delete / Backspace delete the selected segments (``deleteRequested``); with ``ownKeys`` the
    window's "reject image" shortcut on the same keys stays out of the way (:mod:`app.key_scope`)."""

    deleteRequested = Signal()

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace):
            self.deleteRequested.emit()
            return
        super().keyPressEvent(event)


class SegmentPanel(QWidget):
    selectionChangedIds = Signal(list)
    actionRequested = Signal(str, list)  # "accept" | "reject" | "merge" | "delete" | "front" | "back", ids
    visibilityRequested = Signal(list, bool)  # segment ids, shown
    relabelRequested = Signal(list, object)  # segment ids, class id or None
    sourceFilterChanged = Signal(object)  # source name or None for all

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("segmentPanel")
        self.source_combo = QComboBox()
        self.source_combo.addItem(ALL_SOURCES)
        self.source_combo.currentTextChanged.connect(self._on_source)
        self.tree = _SegmentTree()
        self.tree.setHeaderLabels(["Segment", "Class", "State", "Source", "Score", "Area"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setAlternatingRowColors(True)
        self.tree.itemSelectionChanged.connect(lambda: self.selectionChangedIds.emit(self.selected_ids()))
        self.tree.headerItem().setToolTip(0, "Topmost first (the drawing order; Ctrl+] / Ctrl+[ bring to front "
                                             "/ send to back). The box shows or hides a segment (H).")
        self.tree.itemChanged.connect(self._on_item_changed)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._popup_menu)
        # every column as wide as its content (scrolls sideways if need be), measured by _fit_columns only
        # where texts changed: ResizeToContents re-measured every cell of every column, and uneven row
        # heights every row, after each edit (a few ms per brush stroke)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)  # sized here; not by dragging either
        header.setMinimumSectionSize(40)
        self.tree.setUniformRowHeights(True)
        # Delete / Backspace in the list delete the selected segments (not the window's "reject image")
        self.tree.setProperty(OWN_KEYS, [int(Qt.Key.Key_Delete), int(Qt.Key.Key_Backspace)])
        self.tree.deleteRequested.connect(lambda: self.request("delete"))

        self.accept_btn = QPushButton("Accept")
        self.reject_btn = QPushButton("Reject")
        self.merge_btn = QPushButton("Merge")
        self.delete_btn = QPushButton("Delete")
        self.accept_btn.setObjectName("acceptButton")
        self.reject_btn.setObjectName("rejectButton")
        self.accept_btn.setToolTip("Accept the selected segments (Y)")
        self.reject_btn.setToolTip("Reject the selected segments (X)")
        self.merge_btn.setToolTip("Merge the selected segments into one accepted segment (M)")
        self.delete_btn.setToolTip("Delete the selected segments (Delete in this list)")
        for btn, action in ((self.accept_btn, "accept"), (self.reject_btn, "reject"),
                            (self.merge_btn, "merge"), (self.delete_btn, "delete")):
            btn.clicked.connect(lambda _=False, a=action: self.request(a))
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("Relabel the selected segments")
        self.relabel_btn = QPushButton("Relabel")
        self.relabel_btn.clicked.connect(self._on_relabel)

        buttons = QGridLayout()
        buttons.addWidget(self.accept_btn, 0, 0)
        buttons.addWidget(self.reject_btn, 0, 1)
        buttons.addWidget(self.merge_btn, 1, 0)
        buttons.addWidget(self.delete_btn, 1, 1)
        relabel = QHBoxLayout()
        relabel.addWidget(self.class_combo, 1)
        relabel.addWidget(self.relabel_btn)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        top.addWidget(QLabel("Show:"))
        top.addWidget(self.source_combo, 1)
        lay.addLayout(top)
        lay.addWidget(self.tree, 1)
        lay.addLayout(relabel)
        lay.addLayout(buttons)
        self._records: list = []
        self._hidden: set[int] = set()
        self._rows: list[_Row] = []  # what each row shows
        self._swatches: dict[tuple[int, int, int], QIcon] = {}
        self._fit_columns(range(self.tree.columnCount()))
        self._update_buttons()
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.selectionChangedIds.connect(lambda _ids: self._sync_class_box())

    # -- content ---------------------------------------------------------------------------------

    def set_classes(self, classes: list) -> None:
        current = self.class_combo.currentData()
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        self.class_combo.addItem("(unlabelled)", None)
        for c in classes:
            self.class_combo.addItem(swatch(tuple(c.color)), c.name, c.id)
        idx = self.class_combo.findData(current)
        self.class_combo.setCurrentIndex(max(idx, 0))
        self.class_combo.blockSignals(False)
        self._class_names = {c.id: c.name for c in classes}

    def set_sources(self, sources: list[str]) -> None:
        """The sources of the current image; the chosen filter stays even where this image has none of
        it (an empty list), so paging through images filtered to e.g. "ial" never silently falls back
        to showing every source."""
        current = self.source_combo.currentText()
        items = [ALL_SOURCES, *sorted(set(sources) | ({current} - {"", ALL_SOURCES}))]
        if items == [self.source_combo.itemText(i) for i in range(self.source_combo.count())]:
            return  # as after every edit: refilling it would repaint (and re-lay out) the whole panel
        self.source_combo.blockSignals(True)
        self.source_combo.clear()
        self.source_combo.addItems(items)
        idx = self.source_combo.findText(current)
        self.source_combo.setCurrentIndex(max(idx, 0))
        self.source_combo.blockSignals(False)

    def set_segments(self, records: list, colors: dict[int, tuple[int, int, int]], keep_selection=True) -> None:
        """Show ``records`` (SegmentRecord); ``colors`` maps segment id → display colour.

        Row i shows ``records[i]`` and only cells that change are set: after a brush stroke one
        segment's area changes and, as the drawing order follows the area, it may trade places with
        its neighbours. Rewriting those few rows keeps Qt from laying out and repainting the whole list
        (rebuilding it after each stroke cost more than the 16 ms a person feels)."""
        selected = set(self.selected_ids()) if keep_selection else set()
        rows = [self._row(rec, colors.get(rec.id, (128, 128, 128))) for rec in records]
        self.tree.blockSignals(True)
        if not {r.id for r in rows} & {r.id for r in self._rows}:  # another image: a new list, from the top
            self.tree.clear()
            self._rows = []
        self._set_row_count(len(rows))
        for i, row in enumerate(rows):
            item = self.tree.topLevelItem(i)
            self._fill_row(item, row, self._rows[i] if i < len(self._rows) else None)
            self._show_visibility(item, row.id in self._hidden)
            if item.isSelected() != (row.id in selected):
                item.setSelected(row.id in selected)
        self._fit_columns(changed_columns(self._rows, rows, self.tree.columnCount()))
        self._records, self._rows = records, rows  # the caller's list (CurrentSegments owns it): not copied
        self.tree.blockSignals(False)
        self._update_buttons()
        if selected != set(self.selected_ids()):
            self.selectionChangedIds.emit(self.selected_ids())
        else:  # same selection, maybe a new class (Y with the active class): the class box follows
            self._sync_class_box()

    def _row(self, rec, colour: tuple[int, int, int]) -> _Row:
        """What ``rec``'s row shows."""
        label = rec.name or (f"{rec.source} #{rec.label}" if rec.label is not None else rec.source)
        names = getattr(self, "_class_names", {})
        cls = names.get(rec.class_id, "—") if rec.class_id is not None else "—"
        state = str(getattr(rec.state, "value", rec.state))
        tip = f"segment {rec.id}  bbox {rec.bbox}  z {getattr(rec, 'z', 0)} — untick to hide it on the image (H)"
        return _Row(rec.id, (label, cls, state, rec.source, f"{rec.score:.2f}", str(rec.area)), colour, tip)

    def _set_row_count(self, n: int) -> None:
        """Add or drop rows at the end (what they show is set by :meth:`_fill_row`)."""
        tree = self.tree
        while tree.topLevelItemCount() > n:
            tree.takeTopLevelItem(tree.topLevelItemCount() - 1)
        new = []
        for _ in range(n - tree.topLevelItemCount()):
            item = QTreeWidgetItem()
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(0, Qt.CheckState.Checked)
            new.append(item)
        tree.addTopLevelItems(new)

    def _fill_row(self, item: QTreeWidgetItem, row: _Row, old: _Row | None) -> None:
        """Make ``item`` (showing ``old``) show ``row``: only what differs is set."""
        if row == old:
            return
        if old is None or old.id != row.id:
            item.setData(0, Qt.ItemDataRole.UserRole, row.id)
        for col, text in enumerate(row.texts):
            if old is None or old.texts[col] != text:
                item.setText(col, text)
        if old is None or old.colour != row.colour:
            item.setIcon(0, self._swatch(row.colour))
        if old is None or old.texts[2] != row.texts[2]:
            item.setForeground(2, QColor(STATE_COLOURS.get(row.texts[2], "#9aa0aa")))
        if old is None or old.tooltip != row.tooltip:
            item.setToolTip(0, row.tooltip)

    def _swatch(self, rgb: tuple[int, int, int]) -> QIcon:
        if rgb not in self._swatches:  # rows trade colours as segments change places
            self._swatches[rgb] = swatch(rgb)
        return self._swatches[rgb]

    def _fit_columns(self, columns) -> None:
        """Make these columns as wide as their widest cell (or header)."""
        for col in sorted(columns):
            self.tree.resizeColumnToContents(col)

    @staticmethod
    def _show_visibility(item: QTreeWidgetItem, hidden: bool) -> None:
        """Untick and grey a hidden segment's row, tick a shown one's (only if it is not so already)."""
        check = Qt.CheckState.Unchecked if hidden else Qt.CheckState.Checked
        if item.checkState(0) != check:
            item.setCheckState(0, check)
        if (item.data(0, Qt.ItemDataRole.ForegroundRole) is not None) != hidden:
            item.setData(0, Qt.ItemDataRole.ForegroundRole, QColor(HIDDEN_TEXT) if hidden else None)

    def records(self) -> list:
        return list(self._records)

    def set_hidden(self, hidden) -> None:
        """Tick the shown segments, untick (and grey) the hidden ones; emits nothing."""
        self._hidden = set(hidden)
        self.tree.blockSignals(True)
        for i, row in enumerate(self._rows):
            self._show_visibility(self.tree.topLevelItem(i), row.id in self._hidden)
        self.tree.blockSignals(False)

    def shown_ids(self) -> list[int]:
        """Ids in list order (topmost first) whose box is ticked."""
        return [it.data(0, Qt.ItemDataRole.UserRole) for it in
                (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
                if it.checkState(0) == Qt.CheckState.Checked]

    def context_menu(self) -> QMenu:
        """Right-click in the list: what the keys do to the selection (shown with their keys)."""
        menu = QMenu(self)
        ids = self.selected_ids()
        hidden = bool(ids) and all(i in self._hidden for i in ids)
        for text, fn in (("Accept\tY", lambda: self.request("accept")), ("Reject\tX", lambda: self.request("reject")),
                         ("Show\tH" if hidden else "Hide\tH", lambda: self.visibilityRequested.emit(ids, hidden)),
                         ("Bring to front\tCtrl+]", lambda: self.request("front")),
                         ("Send to back\tCtrl+[", lambda: self.request("back")),
                         ("Edit as polygon\tShift+G", lambda: self.request("polygon"))):
            act = menu.addAction(text)
            act.setObjectName(text.split("\t")[0])
            act.setEnabled(bool(ids))
            act.triggered.connect(fn)
        return menu

    def _popup_menu(self, pos) -> None:
        menu = self.context_menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    def _on_item_changed(self, item, column: int) -> None:
        if column == 0:
            self.visibilityRequested.emit([item.data(0, Qt.ItemDataRole.UserRole)],
                                          item.checkState(0) == Qt.CheckState.Checked)

    def _sync_class_box(self) -> None:
        """The class box shows the class of the selection (when the selected segments share one), so
        Relabel starts from what the segment is — also right after a merge."""
        ids = set(self.selected_ids())
        classes = {r.class_id for r in self._records if r.id in ids}
        if len(classes) != 1:
            return
        cid = classes.pop()
        idx = 0 if cid is None else self.class_combo.findData(cid)
        if idx >= 0:
            self.class_combo.blockSignals(True)
            self.class_combo.setCurrentIndex(idx)
            self.class_combo.blockSignals(False)

    def source_filter(self) -> str | None:
        text = self.source_combo.currentText()
        return None if text in ("", ALL_SOURCES) else text

    def set_source_filter(self, source: str | None) -> None:
        idx = self.source_combo.findText(source or ALL_SOURCES)
        if idx < 0:
            self.source_combo.addItem(source)
            idx = self.source_combo.count() - 1
        self.source_combo.setCurrentIndex(idx)

    # -- selection -------------------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        return [it.data(0, Qt.ItemDataRole.UserRole) for it in self.tree.selectedItems()]

    def select_ids(self, ids: list[int]) -> None:
        wanted = set(ids)
        self.tree.blockSignals(True)
        self.tree.clearSelection()
        first = None
        for i in range(self.tree.topLevelItemCount()):
            it = self.tree.topLevelItem(i)
            if it.data(0, Qt.ItemDataRole.UserRole) in wanted:
                it.setSelected(True)
                first = first or it
        self.tree.blockSignals(False)
        if first is not None:
            self.tree.scrollToItem(first)
        self._update_buttons()
        self.selectionChangedIds.emit(self.selected_ids())

    # -- requests --------------------------------------------------------------------------------

    def request(self, action: str) -> bool:
        ids = self.selected_ids()
        if action == "merge" and len(ids) < 2:
            return False
        if not ids:
            return False
        self.actionRequested.emit(action, ids)
        return True

    def relabel_selected(self, class_id: int | None) -> bool:
        ids = self.selected_ids()
        if not ids:
            return False
        self.relabelRequested.emit(ids, class_id)
        return True

    def _on_relabel(self) -> None:
        self.relabel_selected(self.class_combo.currentData())

    def _on_source(self, _text: str) -> None:
        self.sourceFilterChanged.emit(self.source_filter())

    def _update_buttons(self) -> None:
        n = len(self.tree.selectedItems())
        for b in (self.accept_btn, self.reject_btn, self.delete_btn, self.relabel_btn):
            b.setEnabled(n > 0)
        self.merge_btn.setEnabled(n > 1)
