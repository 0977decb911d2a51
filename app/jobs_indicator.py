"""Status-bar progress for the work a person waits for or leaves running: a text, one bar, one Cancel.

Jobs handed to :meth:`JobsIndicator.track` are grouped into *tasks* (``task=`` key): "Analyse all" is
one task over many engine jobs, a training is one task, analysing the current image is one task.
Prefetches are never tracked. What is shown is honest:

* a task whose parts map to a whole (``to_overall``) shows that fraction, never going backwards, and
  an estimate of the time left once it has run a little;
* a task without a meaningful fraction (one image: a backbone load, then one forward pass) shows a
  busy bar (``busy=True``) instead of a percentage that sits at 5 % and jumps;
* the text comes from the task (``text(task)``) when it has one, so the engine's per-chunk
  messages ("features for images 1-4 of 4") never replace "Analyse all: 12/40 images".

Cancel stops the task at once as far as the window is concerned (the bar goes, ``cancelRequested``
fires) and asks the engine to stop its jobs; a job that cannot stop at once (a download) no longer
holds the window. With several tasks running, Cancel offers a menu.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QLabel, QMenu, QProgressBar, QPushButton

from .bridge import JobHandle


def eta_text(elapsed: float, fraction: float) -> str:
    """"about 40 s left" from the time spent so far (empty until there is something to go on)."""
    if fraction <= 0.0 or fraction >= 1.0 or elapsed < 0.5:
        return ""
    left = elapsed * (1.0 - fraction) / fraction
    if left < 60:
        return f"about {max(1, round(left))} s left"
    if left < 3600:
        return f"about {round(left / 60)} min left"
    return f"about {left / 3600:.1f} h left"


@dataclass
class Task:
    key: str
    title: str
    busy: bool = False
    text: Callable[["Task"], str] | None = None
    handles: dict[int, JobHandle] = field(default_factory=dict)
    fraction: float = 0.0
    message: str = ""
    started: float = field(default_factory=time.perf_counter)

    def eta(self) -> str:
        return "" if self.busy else eta_text(time.perf_counter() - self.started, self.fraction)

    def shown_text(self) -> str:
        if self.text is not None:
            return self.text(self)
        return self.message or self.title


class JobsIndicator(QObject):
    message = Signal(str)  # the shown task's text changed
    notice = Signal(str)  # a job's warning / info line (ctx.message) for the status line
    cancelRequested = Signal(str)  # task key, after its jobs were asked to stop
    taskFinished = Signal(str)  # task key: its last job ended (result, error or cancel)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.label = QLabel("")
        self.label.setObjectName("jobsLabel")
        self.bar = QProgressBar()
        self.bar.setRange(0, 100)
        self.bar.setFixedWidth(220)
        self.bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.tasks: dict[str, Task] = {}
        self._shown: str | None = None
        self._menu: QMenu | None = None

    # -- tracking --------------------------------------------------------------------------------

    def track(self, handle: JobHandle, to_overall: Callable[[float], float] | None = None, *,
              task: str | None = None, title: str | None = None, busy: bool = False,
              text: Callable[[Task], str] | None = None) -> JobHandle:
        key = task or f"job-{handle.rid}"
        t = self.tasks.get(key)
        if t is None:
            t = self.tasks[key] = Task(key, title or handle.name, busy=busy, text=text)
        t.handles[handle.rid] = handle
        monotonic = to_overall is not None
        to_overall = to_overall or (lambda f: f)

        def on_progress(frac: float, msg: str) -> None:
            value = min(max(float(to_overall(frac)), 0.0), 1.0)
            t.fraction = max(t.fraction, value) if monotonic else value
            t.message = msg or t.message
            if self._shown == t.key:
                self._show(t)

        handle.progress.connect(on_progress)
        handle.message.connect(self.notice.emit)
        handle.finished.connect(lambda k=key, rid=handle.rid: self._forget(k, rid))
        self._update()
        return handle

    def busy(self) -> bool:
        return bool(self.tasks)

    def task_of(self, handle: JobHandle) -> str | None:
        return next((k for k, t in self.tasks.items() if handle.rid in t.handles), None)

    # -- cancelling ------------------------------------------------------------------------------

    def cancel(self, key: str | None = None) -> None:
        """Stop one task (every task when ``key`` is None); queued jobs are dropped."""
        for k in [key] if key is not None else list(self.tasks):
            t = self.tasks.pop(k, None)
            if t is None:
                continue
            for handle in list(t.handles.values()):
                handle.cancel()
            self.cancelRequested.emit(k)
        self._update()

    def _on_cancel_clicked(self) -> None:
        if len(self.tasks) <= 1:
            self.cancel()
            return
        self._menu = menu = QMenu(self.cancel_button)
        for k, t in self.tasks.items():
            menu.addAction(f"Cancel {t.title}", lambda k=k: self.cancel(k))
        menu.addSeparator()
        menu.addAction("Cancel all", self.cancel)
        menu.popup(self.cancel_button.mapToGlobal(self.cancel_button.rect().topLeft()))

    # -- display ---------------------------------------------------------------------------------

    def _forget(self, key: str, rid: int) -> None:
        t = self.tasks.get(key)
        if t is None:
            return
        t.handles.pop(rid, None)
        if not t.handles:
            del self.tasks[key]
            self.taskFinished.emit(key)
        self._update()

    def _pick(self) -> Task | None:
        """The task on the bar: the latest with a real fraction (training, Analyse all), else the latest."""
        tasks = list(self.tasks.values())
        measured = [t for t in tasks if not t.busy]
        return (measured or tasks or [None])[-1]

    def _update(self) -> None:
        t = self._pick()
        self.bar.setVisible(t is not None)
        self.label.setVisible(t is not None)
        self.cancel_button.setEnabled(t is not None)
        if t is None:
            self._shown = None
            self.label.setText("")
            return
        if self._shown != t.key:
            self._shown = t.key
            self.bar.setRange(0, 0 if t.busy else 100)
            self.bar.setValue(0)
        self._show(t)

    def _show(self, t: Task) -> None:
        if not t.busy:
            self.bar.setValue(max(self.bar.value(), int(t.fraction * 100)))
        text = t.shown_text()
        others = [o.shown_text() for o in self.tasks.values() if o is not t]
        self.label.setText(text + (f"  (+{len(others)} more)" if others else ""))
        self.label.setToolTip("\n".join([text, *others]))
        self.cancel_button.setToolTip(f"Cancel {t.title}" if not others else "Cancel a running job…")
        self.message.emit(text)
