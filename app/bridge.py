"""Engine callbacks → per-job Qt signals delivered on the GUI thread.

Why a bridge: :class:`engine.jobs.Engine` calls its callbacks on its own worker thread, and Qt widgets
must only be touched from the GUI thread. The bridge owns the engine (one worker thread, which owns the
device) and re-emits every callback through a *private* signal connected with an explicit
``QueuedConnection``, so slots always run later on the GUI thread's event loop.

Why handles: each submitted job gets its own :class:`JobHandle` with its own signals (napari's worker
pattern), so a dialog connects to *its* job's ``progress`` / ``result`` instead of filtering a global
signal by request id, and a result for a handle nobody holds any more simply goes nowhere.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal

from engine.jobs import Engine, EngineCallbacks, JobFn

log = logging.getLogger(__name__)


class JobHandle(QObject):
    """One submitted engine job. Exactly one of ``result`` / ``error`` / ``cancelled`` is emitted,
    then ``finished``."""

    started = Signal()
    progress = Signal(float, str)  # fraction, message
    message = Signal(str)
    partial = Signal(object)  # an early result (JobContext.partial) before ``result``
    result = Signal(object)
    error = Signal(str, str)  # message, traceback
    cancelled = Signal()
    finished = Signal()

    def __init__(self, bridge: "EngineBridge", rid: int, name: str):
        super().__init__()  # owned by Python: freed once neither the bridge nor a caller holds it
        self.bridge, self.rid, self.name = bridge, rid, name
        self.done = False

    def cancel(self) -> None:
        if not self.done:
            self.bridge.engine.cancel(self.rid)


class EngineBridge(QObject):
    """Owns an :class:`Engine`; :meth:`submit` returns the job's :class:`JobHandle`."""

    jobStarted = Signal(object)  # JobHandle — for app-wide views (status bar) that list running jobs
    jobFinished = Signal(object)  # JobHandle

    _started = Signal(int)
    _progress = Signal(int, float, str)
    _result = Signal(int, object)
    _error = Signal(int, str, str)
    _cancelled = Signal(int)
    _message = Signal(int, str)
    _partial = Signal(int, object)

    def __init__(self, device: str = "auto", parent: QObject | None = None):
        super().__init__(parent)
        q = Qt.ConnectionType.QueuedConnection
        self._started.connect(self._deliver_started, q)
        self._progress.connect(lambda rid, f, m: self._emit(rid, "progress", f, m), q)
        self._message.connect(lambda rid, text: self._emit(rid, "message", text), q)
        self._partial.connect(lambda rid, res: self._emit(rid, "partial", res), q)
        self._result.connect(lambda rid, res: self._end(rid, "result", res), q)
        self._error.connect(lambda rid, msg, tb: self._end(rid, "error", msg, tb), q)
        self._cancelled.connect(lambda rid: self._end(rid, "cancelled"), q)
        self._handles: dict[int, JobHandle] = {}
        self._closed = False
        emit = self._emit_safely
        callbacks = EngineCallbacks(
            on_started=lambda rid, _name: emit(self._started, rid),
            on_progress=lambda rid, frac, msg: emit(self._progress, rid, frac, msg),
            on_result=lambda rid, res: emit(self._result, rid, res),
            on_error=lambda rid, msg, tb: emit(self._error, rid, msg, tb),
            on_cancelled=lambda rid: emit(self._cancelled, rid),
            on_message=lambda rid, text: emit(self._message, rid, text),
            on_partial=lambda rid, res: emit(self._partial, rid, res),
        )
        self.engine = Engine(device, callbacks)

    def _emit_safely(self, signal, *args) -> None:
        """Engine thread → GUI. The window closes without waiting for a job that cannot stop (a
        download); when that job ends later, the bridge may be gone: its result goes nowhere."""
        if self._closed:
            return
        try:
            signal.emit(*args)
        except RuntimeError:  # "Signal source has been deleted"
            pass

    # -- submission ----------------------------------------------------------------------------

    def submit(self, fn: JobFn, *, name: str = "job", channel: str | None = None, priority: int = 0) -> JobHandle:
        """Queue ``fn(ctx)`` on the engine thread. Connect to the handle's signals right away: results
        are delivered through the event loop, so nothing can arrive before control returns to it."""
        rid = self.engine.submit(fn, name=name, channel=channel, priority=priority)
        handle = JobHandle(self, rid, name)
        self._handles[rid] = handle
        return handle

    def cancel_all(self) -> None:
        self.engine.cancel_all()

    @property
    def device(self):
        return self.engine.device

    def shutdown(self, timeout: float = 10.0) -> None:
        if not self._closed:
            self._closed = True
            self.engine.shutdown(wait=True, timeout=timeout)

    # -- delivery (GUI thread) -----------------------------------------------------------------

    def _deliver_started(self, rid: int) -> None:
        handle = self._handles.get(rid)
        if handle is not None:
            handle.started.emit()
            self.jobStarted.emit(handle)

    def _emit(self, rid: int, signal: str, *args: Any) -> None:
        handle = self._handles.get(rid)
        if handle is None:
            return
        try:
            getattr(handle, signal).emit(*args)
        except Exception:  # a broken slot must not kill the event loop
            log.exception("slot for job %s (%s) failed", rid, signal)

    def _end(self, rid: int, signal: str, *args: Any) -> None:
        handle = self._handles.pop(rid, None)
        if handle is None:
            return
        handle.done = True
        try:
            getattr(handle, signal).emit(*args)
        finally:
            handle.finished.emit()
            self.jobFinished.emit(handle)
