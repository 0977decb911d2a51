"""Status-bar progress for the jobs a person waits for: one bar, one Cancel button.

Only jobs handed to :meth:`JobsIndicator.track` show here (prefetches do not). A job that is part of
a larger whole (a chunk of "Analyse all") maps its own fraction to the whole's with ``to_overall``;
the bar never goes backwards while the same set of jobs runs.
"""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QProgressBar, QPushButton

from .bridge import JobHandle


class JobsIndicator(QObject):
    message = Signal(str)  # a tracked job's progress / message text, for the status line
    cancelRequested = Signal()  # Cancel pressed (after the tracked jobs were asked to stop)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setFixedWidth(220)
        self.bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.jobs: dict[int, JobHandle] = {}

    def track(self, handle: JobHandle, to_overall: Callable[[float], float] | None = None) -> JobHandle:
        self.jobs[handle.rid] = handle
        monotonic = to_overall is not None
        to_overall = to_overall or (lambda f: f)

        def on_progress(frac: float, msg: str) -> None:
            value = int(min(max(to_overall(frac), 0.0), 1.0) * 100)
            self.bar.setValue(max(self.bar.value(), value) if monotonic else value)
            if msg:
                self.message.emit(msg)

        handle.progress.connect(on_progress)
        handle.message.connect(self.message.emit)
        handle.finished.connect(lambda rid=handle.rid: self._forget(rid))
        self._update()
        return handle

    def busy(self) -> bool:
        return bool(self.jobs)

    def cancel(self) -> None:
        """Stops every tracked job (queued ones are dropped)."""
        for handle in list(self.jobs.values()):
            handle.cancel()
        self.cancelRequested.emit()

    def _forget(self, rid: int) -> None:
        self.jobs.pop(rid, None)
        self._update()

    def _update(self) -> None:
        busy = self.busy()
        self.bar.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.bar.setValue(0)
