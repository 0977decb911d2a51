"""Above the filmstrip: "N of M reviewed", filter (status, open proposals of a source), sort, jump to image.

Why a bar of its own: reviewing a 50,000-image folder is "show me what is left, least certain first";
the bar turns that into one :class:`engine.curation.review.ReviewView`, asks the store for the ids in
that order (one query) and gives them to the filmstrip model, which only re-orders records it already
holds. Rows stay while the person reviews (an accepted image does not jump out of "To do" under the
cursor); changing the filter or sort, or reopening, re-queries. The project remembers the view.
"""

from __future__ import annotations

import time
from typing import Callable

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QLineEdit, QSizePolicy, QVBoxLayout, QWidget

from engine.curation.review import (SORT_ORDERS, STATUS_FILTERS, ReviewView, find_images, ordered_ids,
                                    review_progress)

from .filmstrip import Filmstrip

ANY_SOURCE = "Any proposals"
VIEW_SETTING = "review.view"  # the project remembers its filmstrip view (filter, source, sort)


class _SourceCombo(QComboBox):
    """Lists the proposal sources when opened (a DISTINCT over every segment: not on every edit)."""

    aboutToShow = Signal()

    def showPopup(self) -> None:
        self.aboutToShow.emit()
        super().showPopup()


class ReviewBar(QWidget):
    """``imageRequested(id)``: jump to an image; ``status(text)``: what the bar did, for the status line."""

    imageRequested = Signal(int)
    status = Signal(str)
    viewApplied = Signal(object)  # ReviewView, after the filmstrip shows it

    def __init__(self, filmstrip: Filmstrip, current_id: Callable[[], int | None] = lambda: None,
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("reviewBar")
        self.filmstrip, self.current_id = filmstrip, current_id
        self.store = None
        self.last_apply_ms = 0.0
        self._jump_text, self._jump_hits, self._jump_pos = "", [], 0
        self.counter = QLabel("")
        self.counter.setObjectName("reviewCounter")
        self.shown = QLabel("")
        self.shown.setObjectName("hint")
        self.filter = QComboBox()
        self.filter.setObjectName("reviewFilter")
        for name, (title, _cond) in STATUS_FILTERS.items():
            self.filter.addItem(title, name)
        self.filter.setToolTip("Show only images with this review status (To do: readable images not yet "
                               "accepted or rejected)")
        self.source = _SourceCombo()
        self.source.setObjectName("reviewSource")
        self.source.addItem(ANY_SOURCE, None)
        self.source.setToolTip("Show only images with open (not yet accepted / rejected) proposals from a source")
        self.source.aboutToShow.connect(self.refresh_sources)
        self.sort = QComboBox()
        self.sort.setObjectName("reviewSort")
        for name, (title, _order) in SORT_ORDERS.items():
            self.sort.addItem(title, name)
        self.sort.setToolTip("Least certain first: images whose lowest open-proposal score is lowest come first")
        self.jump = QLineEdit()
        self.jump.setObjectName("jumpToImage")
        self.jump.setPlaceholderText("Jump to image… (Ctrl+G)")
        self.jump.setClearButtonEnabled(True)
        self.jump.setToolTip("Type part of a file name and press Enter (again: the next match)")
        self.jump.returnPressed.connect(self.jump_to_text)
        self._save_timer = QTimer(self)
        self._save_timer.setSingleShot(True)
        self._save_timer.setInterval(1000)
        self._save_timer.timeout.connect(self.save_view)
        for combo in (self.filter, self.source, self.sort):
            combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            combo.setMinimumContentsLength(6)
            combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.currentIndexChanged.connect(lambda _i: self.apply())
        top = QHBoxLayout()
        top.addWidget(self.counter)
        top.addStretch(1)
        top.addWidget(self.shown)
        filters = QHBoxLayout()
        filters.addWidget(self.filter)
        filters.addWidget(self.sort)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 2)
        lay.setSpacing(3)
        lay.addLayout(top)
        lay.addLayout(filters)
        lay.addWidget(self.source)
        lay.addWidget(self.jump)
        self.setEnabled(False)

    # -- project ---------------------------------------------------------------------------------

    def save_view(self) -> None:
        """Remember the view in the project (a read-only or closed project: it just forgets)."""
        self._save_timer.stop()
        if self.store is None:
            return
        view = self.view()
        saved = {"filter": view.filter, "source": view.source, "sort": view.sort}
        try:
            if self.store.get_setting(VIEW_SETTING, None) != saved:
                self.store.set_setting(VIEW_SETTING, saved)
        except Exception:  # noqa: BLE001 - StoreError, closed store
            pass

    def set_store(self, store) -> None:
        """A project was opened (None: closed): the view it had last time (default: all, by name)."""
        if self._save_timer.isActive():
            self.save_view()
        self.store = store
        self.setEnabled(store is not None)
        self._jump_text, self._jump_hits = "", []
        for combo in (self.filter, self.source, self.sort):
            combo.blockSignals(True)
        self.filter.setCurrentIndex(0)
        self.source.clear()
        self.source.addItem(ANY_SOURCE, None)
        self.sort.setCurrentIndex(0)
        for combo in (self.filter, self.source, self.sort):
            combo.blockSignals(False)
        if store is None:
            self.counter.setText("")
            self.shown.setText("")
            return
        self.refresh_sources()
        saved = store.get_setting(VIEW_SETTING, None)
        try:
            view = ReviewView(**saved) if isinstance(saved, dict) else ReviewView()
        except (TypeError, ValueError):  # written by another version: start from all images
            view = ReviewView()
        self.set_view(view.filter, view.source, view.sort)

    def refresh_sources(self) -> None:
        if self.store is None:
            return
        keep = self.source.currentData()
        sources = self.store.proposal_sources()
        if keep is not None and keep not in sources:
            sources.append(keep)  # still chosen: stays until the person picks another
        self.source.blockSignals(True)
        self.source.clear()
        self.source.addItem(ANY_SOURCE, None)
        for s in sources:
            self.source.addItem(f"Proposals: {s}", s)
        self.source.setCurrentIndex(max(0, self.source.findData(keep)) if keep is not None else 0)
        self.source.blockSignals(False)

    # -- view ------------------------------------------------------------------------------------

    def view(self) -> ReviewView:
        return ReviewView(self.filter.currentData(), self.source.currentData(), self.sort.currentData())

    def set_view(self, filter: str = "all", source: str | None = None, sort: str | None = None) -> None:
        """Choose a view from code (tests, jump): the combos change, then one query."""
        for combo in (self.filter, self.source, self.sort):
            combo.blockSignals(True)
        self.filter.setCurrentIndex(self.filter.findData(filter))
        if source is not None and self.source.findData(source) < 0:
            self.source.addItem(f"Proposals: {source}", source)
        self.source.setCurrentIndex(self.source.findData(source) if source is not None else 0)
        if sort is not None:
            self.sort.setCurrentIndex(self.sort.findData(sort))
        for combo in (self.filter, self.source, self.sort):
            combo.blockSignals(False)
        self.apply()

    def apply(self) -> None:
        """Query the ids of the current view and show them; the current image stays selected."""
        if self.store is None:
            return
        t0 = time.perf_counter()
        view = self.view()
        ids = ordered_ids(self.store, view)
        self.filmstrip.model_.set_order(ids)
        current = self.current_id()
        if current is not None:
            self.filmstrip.select_image(current)
        self.last_apply_ms = (time.perf_counter() - t0) * 1000
        self._save_timer.start()  # remembered a moment later: a commit (fsync) is not part of a switch
        self.refresh_counts()
        self.viewApplied.emit(view)

    def refresh_counts(self) -> None:
        """The "N of M reviewed" line (one GROUP BY): after every review decision and undo."""
        if self.store is None:
            return
        progress = review_progress(self.store)
        self.counter.setText(progress.text)
        self.counter.setToolTip(progress.detail)
        shown, total = self.filmstrip.model_.rowCount(), self.filmstrip.model_.total_count()
        self.shown.setText(f"{shown:,} shown" if shown != total else "")

    # -- jump ------------------------------------------------------------------------------------

    def focus_jump(self) -> None:
        self.jump.setFocus()
        self.jump.selectAll()

    def jump_to_text(self, text: str | None = None) -> int | None:
        """Go to the best match of ``text`` (Enter again: the next match). An image hidden by the filter
        shows all images first. Returns the image id or None (said in the status line)."""
        if self.store is None:
            return None
        text = self.jump.text() if text is None else text
        if text != self._jump_text or not self._jump_hits:
            self._jump_text, self._jump_hits, self._jump_pos = text, find_images(self.store, text), 0
        else:
            self._jump_pos = (self._jump_pos + 1) % len(self._jump_hits)
        if not self._jump_hits:
            self.status.emit(f"No image name contains {text.strip()!r}." if text.strip() else "Type a file name.")
            return None
        image_id = self._jump_hits[self._jump_pos]
        if self.filmstrip.model_.row_of(image_id) is None:
            self.set_view("all", None, self.sort.currentData())
        self.imageRequested.emit(image_id)
        n = len(self._jump_hits)
        if n > 1:
            self.status.emit(f"Match {self._jump_pos + 1} of {n}{'+' if n >= 20 else ''} for {text.strip()!r} "
                             f"(Enter: next)")
        return image_id
