"""Image list with thumbnails and a review-status badge (todo / accepted / rejected / error).

A :class:`QListView` over a model, so only visible rows are painted (large folders stay responsive).
Thumbnails are decoded lazily – when a row is first painted – on a one-thread pool: file decoding is
I/O, not a model, but it must still never stall the GUI thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import (QAbstractListModel, QModelIndex, QObject, QRect, QRunnable, QSize, Qt,
                            QThreadPool, Signal)
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from engine.imageio import ImageLoadError, load_image, resize_max_side

from .resources import icon

THUMB = 72
STATUS_ROLE = Qt.ItemDataRole.UserRole + 1
ID_ROLE = Qt.ItemDataRole.UserRole + 2
ERROR_ROLE = Qt.ItemDataRole.UserRole + 3


class _ThumbSignals(QObject):
    done = Signal(int, QImage)
    failed = Signal(int, str)


class _ThumbJob(QRunnable):
    def __init__(self, image_id: int, path: str, signals: _ThumbSignals):
        super().__init__()
        self.image_id, self.path, self.signals = image_id, path, signals

    def run(self) -> None:  # worker thread: numpy + QImage only (QPixmap is GUI-thread only)
        try:
            rgb = np.ascontiguousarray(resize_max_side(load_image(self.path), THUMB * 2))
        except ImageLoadError as exc:
            self.signals.failed.emit(self.image_id, exc.reason)
            return
        except Exception as exc:  # anything else: still a readable message, never a crash
            self.signals.failed.emit(self.image_id, f"{type(exc).__name__}: {exc}")
            return
        h, w = rgb.shape[:2]
        qimg = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
        self.signals.done.emit(self.image_id, qimg)


class FilmstripModel(QAbstractListModel):
    """Rows = images of the project (records with ``id, path, status, error``)."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._records: list = []
        self._row_of: dict[int, int] = {}
        self._thumbs: dict[int, QPixmap] = {}
        self._requested: set[int] = set()
        self._errors: dict[int, str] = {}  # errors found after adding (decode failures)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._signals = _ThumbSignals()
        self._signals.done.connect(self._on_thumb)
        self._signals.failed.connect(self._on_thumb_failed)

    # -- content -------------------------------------------------------------------------------------

    def set_records(self, records: list) -> None:
        self.beginResetModel()
        self._records = list(records)
        self._row_of = {r.id: i for i, r in enumerate(self._records)}
        self._thumbs = {k: v for k, v in self._thumbs.items() if k in self._row_of}
        self._requested &= set(self._row_of)
        self.endResetModel()

    def update_record(self, record) -> None:
        row = self._row_of.get(record.id)
        if row is None:
            return
        self._records[row] = record
        idx = self.index(row)
        self.dataChanged.emit(idx, idx)

    def set_error(self, image_id: int, reason: str) -> None:
        """Mark an image unreadable (found when decoding it for analysis or a thumbnail)."""
        self._errors[image_id] = reason
        row = self._row_of.get(image_id)
        if row is not None:
            idx = self.index(row)
            self.dataChanged.emit(idx, idx)

    def record(self, row: int):
        return self._records[row]

    def row_of(self, image_id: int) -> int | None:
        return self._row_of.get(image_id)

    def records(self) -> list:
        return list(self._records)

    def status_of(self, image_id: int) -> str:
        row = self._row_of[image_id]
        return self.data(self.index(row), STATUS_ROLE)

    def error_of(self, image_id: int) -> str | None:
        rec = self._records[self._row_of[image_id]]
        return rec.error or self._errors.get(image_id)

    # -- Qt model ------------------------------------------------------------------------------------

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        rec = self._records[index.row()]
        error = rec.error or self._errors.get(rec.id)
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(rec.path).name
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
            if pm is None and not error and rec.id not in self._requested:
                self._requested.add(rec.id)
                self._pool.start(_ThumbJob(rec.id, rec.path, self._signals))
            return pm
        return None

    def shutdown(self, timeout_ms: int = 1000) -> None:
        """Drop queued thumbnails (a big folder queues hundreds): closing must not decode them first."""
        self._pool.clear()
        self._pool.waitForDone(timeout_ms)

    def _on_thumb(self, image_id: int, qimg: QImage) -> None:
        if image_id not in self._row_of:
            return
        self._thumbs[image_id] = QPixmap.fromImage(qimg)
        idx = self.index(self._row_of[image_id])
        self.dataChanged.emit(idx, idx)

    def _on_thumb_failed(self, image_id: int, reason: str) -> None:
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
            scaled = pm.scaled(thumb_rect.size(), Qt.AspectRatioMode.KeepAspectRatio,
                               Qt.TransformationMode.SmoothTransformation)
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
        self.setSelectionMode(QListView.SelectionMode.SingleSelection)
        self.setMinimumWidth(210)
        self.selectionModel().currentChanged.connect(self._on_current)
        self._silent = False

    def _on_current(self, current: QModelIndex, _previous: QModelIndex) -> None:
        if current.isValid() and not self._silent:
            self.imageActivated.emit(current.data(ID_ROLE))

    def select_image(self, image_id: int) -> None:
        """Highlight a row without re-emitting ``imageActivated``."""
        row = self.model_.row_of(image_id)
        if row is None:
            return
        self._silent = True
        try:
            idx = self.model_.index(row)
            self.setCurrentIndex(idx)
            self.scrollTo(idx)
        finally:
            self._silent = False
