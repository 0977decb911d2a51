"""Filmstrip thumbnails: decoded off the GUI thread, newest request first, cached on disk.

Why: a 50,000-image folder is scrolled through in seconds. Rows request a thumbnail when first
painted; rows that scrolled by before their turn must not keep the workers busy, so the queue is a
bounded stack (the most recent request is decoded first, the oldest are dropped and asked for again
when painted again). Decoding a 12-megapixel JPEG costs ~100 ms even with DCT scaling, so every
thumbnail is also written to ``<project data>/thumbs/`` keyed by path + mtime + size: a reopened
project shows its thumbnails from small JPEGs, and an edited photo gets a new key.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal
from PySide6.QtGui import QImage

from engine.imageio import ImageLoadError, load_image, resize_max_side

THUMB_SIDE = 144  # stored size: 2x the 72 px row, sharp on high-DPI screens
_LOADERS: "weakref.WeakSet[ThumbLoader]" = weakref.WeakSet()


@atexit.register
def _stop_workers() -> None:
    """A pool thread still running Python while the interpreter finalises aborts the process
    ("terminate called without an active exception"): stop every loader's workers before that."""
    for loader in list(_LOADERS):
        try:
            loader.shutdown(timeout_ms=5000)
        except RuntimeError:  # its Qt object is already gone: so are its threads
            pass


class ThumbCache:
    """Thumbnails on disk under ``folder`` (None: no disk cache). Failures to write are ignored: a
    read-only or full disk only costs decoding again next time."""

    def __init__(self, folder: str | Path | None):
        self.folder = Path(folder) if folder is not None else None

    def path_for(self, image_path: str) -> Path | None:
        if self.folder is None:
            return None
        try:
            st = os.stat(image_path)
        except OSError:
            return None
        key = hashlib.sha1(f"{image_path}\0{st.st_mtime_ns}\0{st.st_size}".encode("utf-8", "surrogateescape"))
        digest = key.hexdigest()
        return self.folder / digest[:2] / f"{digest}.jpg"

    def load(self, image_path: str) -> QImage | None:
        p = self.path_for(image_path)
        if p is None or not p.is_file():
            return None
        img = QImage(str(p))
        return None if img.isNull() else img

    def save(self, image_path: str, image: QImage) -> None:
        p = self.path_for(image_path)
        if p is None:
            return
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            tmp = p.with_name(f".{p.name}.{threading.get_ident()}.tmp")
            if image.save(str(tmp), "JPG", 85):
                os.replace(tmp, p)
            else:
                tmp.unlink(missing_ok=True)
        except OSError:
            pass


def make_thumbnail(image_path: str, cache: ThumbCache | None = None) -> QImage:
    """The thumbnail of one image (worker threads: numpy + QImage only). Raises ImageLoadError."""
    if cache is not None:
        cached = cache.load(image_path)
        if cached is not None:
            return cached
    rgb = np.ascontiguousarray(resize_max_side(load_image(image_path, max_side=THUMB_SIDE), THUMB_SIDE))
    h, w = rgb.shape[:2]
    qimg = QImage(rgb.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()
    if cache is not None:
        cache.save(image_path, qimg)
    return qimg


class _Worker(QRunnable):
    def __init__(self, loader: "ThumbLoader"):
        super().__init__()
        self.loader = loader

    def run(self) -> None:
        while True:
            item = self.loader._take()
            if item is None:
                return
            image_id, path, cache = item
            try:
                qimg = make_thumbnail(path, cache)
            except ImageLoadError as exc:
                self.loader._emit(self.loader.failed, image_id, exc.reason)
                continue
            except Exception as exc:  # noqa: BLE001 - anything else: a readable message, never a crash
                self.loader._emit(self.loader.failed, image_id, f"{type(exc).__name__}: {exc}")
                continue
            self.loader._emit(self.loader.done, image_id, qimg)


class ThumbLoader(QObject):
    """``request(id, path)`` → ``done(id, QImage)`` or ``failed(id, reason)`` on the GUI thread."""

    done = Signal(int, QImage)
    failed = Signal(int, str)

    def __init__(self, workers: int = 2, max_pending: int = 64, parent: QObject | None = None):
        super().__init__(parent)
        self.cache: ThumbCache | None = None
        self._pending: OrderedDict[int, str] = OrderedDict()
        self._lock = threading.Lock()
        self._workers, self._running, self._max_pending = max(1, workers), 0, max_pending
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(self._workers)
        self._closed = False
        _LOADERS.add(self)

    def request(self, image_id: int, path: str) -> list[int]:
        """Queue (or move to the front) one thumbnail; returns the ids dropped from the queue (too old:
        scrolled past) so that the caller asks again when they are painted again."""
        with self._lock:
            self._pending[image_id] = path
            self._pending.move_to_end(image_id)
            dropped = []
            while len(self._pending) > self._max_pending:
                dropped.append(self._pending.popitem(last=False)[0])
            start = self._running < self._workers and not self._closed
            if start:
                self._running += 1
        if start:
            self._pool.start(_Worker(self))
        return dropped

    def _take(self):
        with self._lock:
            if not self._pending or self._closed:
                self._running -= 1
                return None
            image_id, path = self._pending.popitem(last=True)  # newest first: what is on screen now
            return image_id, path, self.cache

    def _emit(self, signal, *args) -> None:
        if self._closed:
            return
        try:
            signal.emit(*args)
        except RuntimeError:  # the loader is being deleted
            pass

    def clear(self) -> list[int]:
        """Forget queued requests (a new project); returns their ids."""
        with self._lock:
            ids = list(self._pending)
            self._pending.clear()
        return ids

    def shutdown(self, timeout_ms: int = 1000) -> None:
        """Drop queued thumbnails: closing must not decode them first."""
        self.clear()
        self._closed = True
        self._pool.waitForDone(timeout_ms)
