"""The background engine: one long-lived worker thread that owns the compute device.

Why one thread: CUDA contexts, model weights and the feature cache live in one place, so the GUI
thread never blocks on a model and two jobs never fight over GPU memory. The GUI (through
``app/bridge.py``) and the CLI both submit plain callables and receive callbacks.

Semantics the app relies on:

* **request ids** – every :meth:`Engine.submit` returns a monotonically increasing id; every callback
  carries it, so a receiver can ignore results of requests it no longer cares about.
* **channels (latest wins)** – submitting on a channel (e.g. ``"analyze-current"``) drops queued jobs
  of that channel and cancels the running one: clicking quickly through images never queues work.
* **priority** – lower runs first; prefetch jobs use a high number so user requests overtake them.
* **cancel** – cooperative: jobs call ``ctx.check_cancelled()`` between steps.
* **OOM fallback** – a job that raises a CUDA out-of-memory error is retried once on the CPU, and the
  user is told through ``on_message``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any, Callable

import torch

from .device import is_out_of_memory, pick_device, release_cuda_memory

log = logging.getLogger(__name__)


class JobCancelled(Exception):
    """Raised inside a job by :meth:`JobContext.check_cancelled` once cancel was requested."""


@dataclass
class JobContext:
    """Handed to every job: where to compute, how to report progress, and whether to stop."""

    request_id: int
    device: torch.device
    _cancel: threading.Event
    _progress: Callable[[int, float, str], None]
    _message: Callable[[int, str], None]
    _partial: Callable[[int, Any], None] = lambda rid, result: None

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()

    def progress(self, fraction: float, message: str = "") -> None:
        """Report progress in [0, 1]; also a cancellation point."""
        self._progress(self.request_id, float(min(max(fraction, 0.0), 1.0)), message)
        self.check_cancelled()

    def message(self, text: str) -> None:
        """A warning/info line for the user (status bar / log)."""
        self._message(self.request_id, text)

    def partial(self, result: Any) -> None:
        """An early, incomplete result a viewer can show while the job goes on (e.g. the first
        proposal of an analysis before its CRF and matting)."""
        self._partial(self.request_id, result)


JobFn = Callable[[JobContext], Any]


@dataclass(order=True)
class _Queued:
    priority: int
    request_id: int
    fn: JobFn = field(compare=False)
    name: str = field(compare=False)
    channel: str | None = field(compare=False)
    cancel: threading.Event = field(compare=False, default_factory=threading.Event)


@dataclass
class EngineCallbacks:
    """Plain callables invoked on the worker thread (the Qt bridge re-emits them as signals)."""

    on_started: Callable[[int, str], None] = lambda rid, name: None
    on_progress: Callable[[int, float, str], None] = lambda rid, frac, msg: None
    on_result: Callable[[int, Any], None] = lambda rid, result: None
    on_error: Callable[[int, str, str], None] = lambda rid, message, tb: None
    on_cancelled: Callable[[int], None] = lambda rid: None
    on_message: Callable[[int, str], None] = lambda rid, text: None
    on_partial: Callable[[int, Any], None] = lambda rid, result: None


class Engine:
    """A single worker thread draining a priority queue of jobs."""

    def __init__(self, device: str | torch.device = "auto", callbacks: EngineCallbacks | None = None):
        self.device = device if isinstance(device, torch.device) else pick_device(device)
        self.callbacks = callbacks or EngineCallbacks()
        self._ids = itertools.count(1)
        self._queue: list[_Queued] = []
        self._lock = threading.Condition()
        self._running: _Queued | None = None
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="maskcurator-engine", daemon=True)
        self._thread.start()

    # -- submission ----------------------------------------------------------------------------

    def submit(self, fn: JobFn, *, name: str = "job", channel: str | None = None, priority: int = 0) -> int:
        """Queue ``fn(ctx)``; returns its request id. See module docstring for channel semantics."""
        with self._lock:
            if self._stopping:
                raise RuntimeError("engine is shut down")
            rid = next(self._ids)
            if channel is not None:
                self._drop_channel_locked(channel)
            heapq.heappush(self._queue, _Queued(priority, rid, fn, name, channel))
            self._lock.notify()
        return rid

    def _drop_channel_locked(self, channel: str) -> None:
        dropped = [q for q in self._queue if q.channel == channel]
        if dropped:
            self._queue = [q for q in self._queue if q.channel != channel]
            heapq.heapify(self._queue)
            for q in dropped:
                self.callbacks.on_cancelled(q.request_id)
        if self._running is not None and self._running.channel == channel:
            self._running.cancel.set()

    def cancel(self, request_id: int) -> None:
        with self._lock:
            for q in self._queue:
                if q.request_id == request_id:
                    self._queue.remove(q)
                    heapq.heapify(self._queue)
                    self.callbacks.on_cancelled(request_id)
                    return
            if self._running is not None and self._running.request_id == request_id:
                self._running.cancel.set()

    def cancel_all(self) -> None:
        with self._lock:
            for q in self._queue:
                self.callbacks.on_cancelled(q.request_id)
            self._queue.clear()
            if self._running is not None:
                self._running.cancel.set()

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._running is not None or bool(self._queue)

    def pending(self) -> int:
        with self._lock:
            return len(self._queue) + (self._running is not None)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until the queue is empty and nothing runs (tests, CLI)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._queue and self._running is None, timeout)

    def shutdown(self, wait: bool = True, timeout: float = 10.0) -> None:
        self.cancel_all()
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        if wait:
            self._thread.join(timeout)

    # -- worker --------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._queue or self._stopping)
                if self._stopping and not self._queue:
                    return
                job = heapq.heappop(self._queue)
                self._running = job
            try:
                self._run(job)
            finally:
                with self._lock:
                    self._running = None
                    self._lock.notify_all()

    def _context(self, job: _Queued, device: torch.device) -> JobContext:
        return JobContext(job.request_id, device, job.cancel, self.callbacks.on_progress,
                          self.callbacks.on_message, self.callbacks.on_partial)

    def _run(self, job: _Queued) -> None:
        cb = self.callbacks
        cb.on_started(job.request_id, job.name)
        try:
            try:
                result = job.fn(self._context(job, self.device))
            except Exception as exc:
                if not (is_out_of_memory(exc) and self.device.type == "cuda"):
                    raise
                release_cuda_memory()
                cb.on_message(job.request_id, f"{job.name}: GPU out of memory, retrying on CPU (slower)")
                result = job.fn(self._context(job, torch.device("cpu")))
        except JobCancelled:
            cb.on_cancelled(job.request_id)
        except Exception as exc:  # reported, never kills the worker
            log.exception("job %s failed", job.name)
            cb.on_error(job.request_id, f"{job.name} failed: {exc}", traceback.format_exc())
        else:
            if job.cancel.is_set():
                cb.on_cancelled(job.request_id)
            else:
                cb.on_result(job.request_id, result)


def run_sync(fn: JobFn, device: str | torch.device = "auto",
             progress: Callable[[float, str], None] | None = None) -> Any:
    """Run a job function inline (CLI, tests) with the same context object the engine provides."""
    dev = device if isinstance(device, torch.device) else pick_device(device)
    ctx = JobContext(0, dev, threading.Event(),
                     (lambda _rid, f, m: progress(f, m)) if progress else (lambda *_: None),
                     lambda _rid, text: log.warning(text))
    return fn(ctx)
