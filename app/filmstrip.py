"""Image list with thumbnails and a review-status badge (todo / accepted / rejected / error).

A :class:`QListView` over a model, so only visible rows are painted (large folders stay responsive).
The model holds every record once and shows an *order* of ids (the review bar's filter and sort, one
store query), so switching the filter never rebuilds records. Measured at 50,000 rows
(benchmarks/bench_filmstrip.py), two Qt costs shape it: the list's layout asks ``rowCount`` about twice
per row, so the model is a :class:`QStringListModel` (rowCount and index stay in C++; only ``data`` of
painted rows runs Python); and a ``dataChanged`` re-lays out every row, so a new thumbnail or status only
repaints its row (``rowsChanged`` → the view updates that rectangle). Thumbnails are requested when a row is
first painted and decoded by :class:`app.thumb_cache.ThumbLoader` off the GUI thread (newest first,
cached on disk); only the most recently shown thumbnails stay in memory.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

from PySide6.QtCore import QModelIndex, QObject, QRect, QSize, QStringListModel, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from .resources import icon
from .thumb_cache import ThumbCache, ThumbLoader

THUMB = 72
MAX_THUMBS_IN_MEMORY = 2000  # ~20 MB of 72 px pixmaps; older ones come back from the disk cache
STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2
ERROR_ROLE = Qt.ItemDataRole.UserRole + 3


class FilmstripModel(QStringListModel):
    """Rows = the shown images of the project (records with ``id, path, status, error``), in the order
    :meth:`set_order` gave (default: the order of :meth:`set_records`). ``rowsChanged(first, last)``:
    those rows look different (a thumbnail, a status), nothing about the layout changed."""

    rowsChanged = Signal(int, int)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._all: dict[int, object] = {}
        self._names: dict[int, str] = {}  # file names, computed once per project (50k basenames: ~50 ms)
        self._records: list = []
        self._ids: list[int] = []
        self._row_of_cache: dict[int, int] | None = {}
        self._thumbs: OrderedDict[int, QPixmap] = OrderedDict()
        self._requested: set[int] = set()
        self._errors: dict[int, str] = {}  # errors found after adding (decode failures)
        self.loader = ThumbLoader(parent=self)
        self.loader.done.connect(self._on_thumb)
        self.loader.failed.connect(self._on_thumb_failed)

    # -- content -------------------------------------------------------------------------------------

    def set_thumb_cache(self, folder: str | Path | None) -> None:
        """Where thumbnails are kept on disk (the project's data folder); None: memory only."""
        self.loader.cache = ThumbCache(folder) if folder is not None else None

    def set_records(self, records: list) -> None:
        """Every image of the project; all of them are shown until :meth:`set_order`."""
        self._all = {r.id: r for r in records}
        self._names = {r.id: os.path.basename(r.path) for r in records}
        self._thumbs = OrderedDict((k, v) for k, v in self._thumbs.items() if k in self._all)
        self._requested.clear()
        self._errors.clear()
        self.loader.clear()
        self._show(list(records))

    def set_order(self, image_ids: list[int]) -> None:
        """Show only these images, in this order (ids not in the project are ignored)."""
        self._show([self._all[i] for i in image_ids if i in self._all])

    def _show(self, records: list) -> None:
        self._records = records
        self._ids = [r.id for r in records]
        self._row_of_cache = None  # built when first needed often (a filter switch does not need it)
        self._requested.difference_update(self.loader.clear())  # rows of the old view: not decoded now
        names = self._names
        self.setStringList([names[r.id] for r in records])  # one model reset

    @property
    def _row_of(self) -> dict[int, int]:
        if self._row_of_cache is None:
            self._row_of_cache = {r.id: i for i, r in enumerate(self._records)}
        return self._row_of_cache

    def update_record(self, record) -> None:
        if record.id in self._all:
            self._all[record.id] = record
        row = self._row_of.get(record.id)
        if row is None:
            return
        self._records[row] = record
        self.rowsChanged.emit(row, row)

    def update_records(self, records: list) -> None:
        """New records for known images (after an undo that may touch any of them): one repaint."""
        for rec in records:
            if rec.id in self._all:
                self._all[rec.id] = rec
        self._records = [self._all[r.id] for r in self._records]
        if self._records:
            self.rowsChanged.emit(0, len(self._records) - 1)

    def set_error(self, image_id: int, reason: str) -> None:
        """Mark an image unreadable (found when decoding it for analysis or a thumbnail)."""
        self._errors[image_id] = reason
        row = self._row_of.get(image_id)
        if row is not None:
            self.rowsChanged.emit(row, row)

    def record(self, row: int):
        return self._records[row]

    def row_of(self, image_id: int) -> int | None:
        if self._row_of_cache is None:  # one look-up right after a filter switch: list.index runs in C
            try:
                return self._ids.index(image_id)
            except ValueError:
                return None
        return self._row_of_cache.get(image_id)

    def records(self) -> list:
        """The shown records, in row order."""
        return list(self._records)

    def total_count(self) -> int:
        """Images in the project (shown or not)."""
        return len(self._all)

    def status_of(self, image_id: int) -> str:
        rec = self._all[image_id]
        return "error" if self.error_of(image_id) else str(getattr(rec.status, "value", rec.status))

    def error_of(self, image_id: int) -> str | None:
        rec = self._all[image_id]
        return rec.error or self._errors.get(image_id)

    def next_todo_after(self, image_id: int | None) -> int | None:
        """The next readable to-do image after ``image_id`` in row order (wrapping), None if no other."""
        n = len(self._records)
        start = self._row_of.get(image_id, -1) if image_id is not None else -1
        for k in range(1, n + 1):
            rec = self._records[(start + k) % n]
            if rec.id != image_id and str(getattr(rec.status, "value", rec.status)) == "todo" \
                    and not (rec.error or self._errors.get(rec.id)):
                return rec.id
        return None

    # -- Qt model ------------------------------------------------------------------------------------

    def flags(self, index: QModelIndex) -> Qt.ItemFlag:
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable if index.isValid() else Qt.ItemFlag.NoItemFlags

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        rec = self._records[index.row()]
        error = rec.error or self._errors.get(rec.id)
        if role == Qt.ItemDataRole.DisplayRole:
            return self._names.get(rec.id) or os.path.basename(rec.path)
        if role == STATUS_ROLE:
            return "error" if error else str(getattr(rec.status, "value", rec.status))
        if role == ID_ROLE:
            return rec.id
        if role == ERROR_ROLE:
            return error
        if role == Qt.ItemDataRole.ToolTipRole:
            status = getattr(rec.status, "value", rec.status)
            tip = f"{rec.path}\n{rec.width}×{rec.height}  status: {status}"
            return f"{tip}\nCannot read: {error}" if error else tip
        if role == Qt.ItemDataRole.DecorationRole:
            pm = self._thumbs.get(rec.id)
            if pm is not None:
                self._thumbs.move_to_end(rec.id)
            elif not error and rec.id not in self._requested:
                self._requested.add(rec.id)
                self._requested.difference_update(self.loader.request(rec.id, rec.path))
            return pm
        return None

    def shutdown(self, timeout_ms: int = 1000) -> None:
        """Drop queued thumbnails (a big folder queues hundreds): closing must not decode them first."""
        self.loader.shutdown(timeout_ms)

    def _on_thumb(self, image_id: int, qimg: QImage) -> None:
        self._requested.discard(image_id)
        if image_id not in self._all:
            return
        self._thumbs[image_id] = QPixmap.fromImage(qimg.scaled(
            THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))
        while len(self._thumbs) > MAX_THUMBS_IN_MEMORY:
            self._thumbs.popitem(last=False)
        row = self._row_of.get(image_id)
        if row is not None:
            self.rowsChanged.emit(row, row)

    def _on_thumb_failed(self, image_id: int, reason: str) -> None:
        self._requested.discard(image_id)
        self.set_error(image_id, reason)


class FilmstripDelegate(QStyledItemDelegate):
    """Thumbnail on the left, file name and status on the right, status badge on the thumbnail."""

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        return QSize(200, THUMB + 10)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        painter.save()
        r = option.rect
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        painter.fillRect(r, QColor("#2d4f7c") if selected else QColor("#24262b"))
        thumb_rect = QRect(r.left() + 5, r.top() + 5, THUMB, THUMB)
        pm = index.data(Qt.ItemDataRole.DecorationRole)
        painter.fillRect(thumb_rect, QColor("#15161a"))
        if isinstance(pm, QPixmap) and not pm.isNull():
            scaled = pm if max(pm.width(), pm.height()) <= THUMB else pm.scaled(
                thumb_rect.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            x = thumb_rect.left() + (THUMB - scaled.width()) // 2
            y = thumb_rect.top() + (THUMB - scaled.height()) // 2
            painter.drawPixmap(x, y, scaled)
        status = index.data(STATUS_ROLE)
        icon(status).paint(painter, QRect(thumb_rect.right() - 21, thumb_rect.top() + 3, 18, 18))
        text_rect = QRect(thumb_rect.right() + 8, r.top() + 6, r.width() - THUMB - 18, r.height() - 12)
        painter.setPen(QColor("#e8e9ec"))
        name = painter.fontMetrics().elidedText(index.data(Qt.ItemDataRole.DisplayRole),
                                                Qt.TextElideMode.ElideMiddle, text_rect.width())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft, name)
        colours = {"todo": "#9aa0aa", "accepted": "#51cf66", "rejected": "#ff6b9a", "error": "#ffa94d"}
        painter.setPen(QColor(colours.get(status, "#9aa0aa")))
        detail = status
        if status == "error":
            detail = "error: " + (index.data(ERROR_ROLE) or "")
            detail = painter.fontMetrics().elidedText(detail, Qt.TextElideMode.ElideRight, text_rect.width())
        painter.drawText(text_rect.adjusted(0, 20, 0, 0), Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft,
                         detail)
        painter.restore()


class Filmstrip(QListView):
    """The list widget; ``imageActivated(image_id)`` fires when the user picks a row."""

    imageActivated = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("filmstrip")
        self.model_ = FilmstripModel(self)
        self.setModel(self.model_)
        self.setItemDelegate(FilmstripDelegate(self))
        self.setUniformItemSizes(True)
        self.setEditTriggers(QListView.EditTrigger.NoEditTriggers)
        self.model_.rowsChanged.connect(self._repaint_rows)
        self.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.setMinimumWidth(210)
        self.selectionModel().currentChanged.connect(self._on_current)
        self._silent = False

    def _repaint_rows(self, first: int, last: int) -> None:
        if first == last:
            self.viewport().update(self.visualRect(self.model_.index(first)))
        else:
            self.viewport().update()

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and not self._silent:
            self.imageActivated.emit(current.data(ID_ROLE))

    def select_image(self, image_id: int) -> None:
        """Highlight a row without re-emitting ``imageActivated`` (none when the image is filtered out:
        the old row must not stay highlighted)."""
        row = self.model_.row_of(image_id)
        self._silent = True
        try:
            if row is None:
                self.selectionModel().clear()
                return
            idx = self.model_.index(row)
            self.setCurrentIndex(idx)
            self.scrollTo(idx)
        finally:
            self._silent = False
