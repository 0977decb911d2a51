"""Engine callbacks → Qt signals delivered on the GUI thread.

Why a bridge: :class:`engine.jobs.Engine` calls its callbacks on its own worker thread, and Qt widgets
must only be touched from the GUI thread. The bridge owns the engine and re-emits every callback
through a *private* signal connected to the *public* one with an explicit ``QueuedConnection``, so
slots always run later on the GUI thread's event loop – whatever thread emitted.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal

from engine.jobs import Engine, EngineCallbacks, JobFn

log = logging.getLogger(__name__)


class EngineBridge(QObject):
    """Owns an :class:`Engine`; its signals carry the request id of the job they belong to."""

    started = Signal(int, str)  # request id, job name
    progress = Signal(int, float, str)  # request id, fraction, message
    result = Signal(int, object)  # request id, job return value
    error = Signal(int, str, str)  # request id, message, traceback
    cancelled = Signal(int)
    message = Signal(int, str)
    finished = Signal(int)  # after result / error / cancelled: the job is over

    _started = Signal(int, str)
    _progress = Signal(int, float, str)
    _result = Signal(int, object)
    _error = Signal(int, str, str)
    _cancelled = Signal(int)
    _message = Signal(int, str)

    def __init__(self, device: str = "auto", parent: QObject | None = None):
        super().__init__(parent)
        q = Qt.ConnectionType.QueuedConnection
        self._started.connect(self.started.emit, q)
        self._progress.connect(self.progress.emit, q)
        self._result.connect(self._deliver_result, q)
        self._error.connect(self._deliver_error, q)
        self._cancelled.connect(self._deliver_cancelled, q)
        self._message.connect(self.message.emit, q)
        self._names: dict[int, str] = {}
        callbacks = EngineCallbacks(
            on_started=lambda rid, name: self._started.emit(rid, name),
            on_progress=lambda rid, frac, msg: self._progress.emit(rid, frac, msg),
            on_result=lambda rid, res: self._result.emit(rid, res),
            on_error=lambda rid, msg, tb: self._error.emit(rid, msg, tb),
            on_cancelled=lambda rid: self._cancelled.emit(rid),
            on_message=lambda rid, text: self._message.emit(rid, text),
        )
        self.engine = Engine(device, callbacks)
        self._closed = False

    # -- submission ----------------------------------------------------------------------------

    def submit(self, fn: JobFn, *, name: str = "job", channel: str | None = None, priority: int = 0) -> int:
        rid = self.engine.submit(fn, name=name, channel=channel, priority=priority)
        self._names[rid] = name
        return rid

    def cancel(self, request_id: int) -> None:
        self.engine.cancel(request_id)

    def cancel_all(self) -> None:
        self.engine.cancel_all()

    def name_of(self, request_id: int) -> str:
        return self._names.get(request_id, "job")

    @property
    def device(self):
        return self.engine.device

    def pending(self) -> int:
        return self.engine.pending()

    def shutdown(self, timeout: float = 10.0) -> None:
        if not self._closed:
            self._closed = True
            self.engine.shutdown(wait=True, timeout=timeout)

    # -- delivery (GUI thread) -----------------------------------------------------------------

    def _deliver_result(self, rid: int, res: Any) -> None:
        self.result.emit(rid, res)
        self._done(rid)

    def _deliver_error(self, rid: int, msg: str, tb: str) -> None:
        self.error.emit(rid, msg, tb)
        self._done(rid)

    def _deliver_cancelled(self, rid: int) -> None:
        self.cancelled.emit(rid)
        self._done(rid)

    def _done(self, rid: int) -> None:
        self.finished.emit(rid)
        self._names.pop(rid, None)


class RequestRouter(QObject):
    """Routes bridge signals for one request id to per-request handlers (then forgets them).

    Why: the main window submits many kinds of jobs; keeping one ``{rid: handlers}`` table avoids
    every widget filtering every signal, and stale results (request superseded) simply find no entry.
    """

    def __init__(self, bridge: EngineBridge, parent: QObject | None = None):
        super().__init__(parent)
        self._handlers: dict[int, dict[str, Callable]] = {}
        bridge.result.connect(lambda rid, res: self._call(rid, "result", res))
        bridge.error.connect(lambda rid, msg, tb: self._call(rid, "error", msg, tb))
        bridge.cancelled.connect(lambda rid: self._call(rid, "cancelled"))
        bridge.finished.connect(lambda rid: self._handlers.pop(rid, None))

    def on(self, rid: int, *, result: Callable | None = None, error: Callable | None = None,
           cancelled: Callable | None = None) -> int:
        self._handlers[rid] = {k: v for k, v in
                               (("result", result), ("error", error), ("cancelled", cancelled)) if v}
        return rid

    def forget(self, rid: int) -> None:
        self._handlers.pop(rid, None)

    def _call(self, rid: int, kind: str, *args) -> None:
        fn = self._handlers.get(rid, {}).get(kind)
        if fn is not None:
            try:
                fn(*args)
            except Exception:  # a broken handler must not kill the event loop
                log.exception("handler for request %s (%s) failed", rid, kind)
