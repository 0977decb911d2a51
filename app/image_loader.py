"""Decodes the photo under review off the GUI thread and keeps the last few in memory.

Why not an engine job: the engine has one worker that may be busy for minutes ("Analyse all",
training); showing the next photo must never wait behind that. Decoding is I/O + libjpeg/libpng work,
not a model, so a private one-thread ``QThreadPool`` does it. Latest wins: every :meth:`request` bumps
a generation number and a queued decode that is no longer the latest is skipped before it starts.

Huge photos (e.g. 12000x9000) are downscaled *for display only* to ``max_side`` on the long side; masks
stay at full resolution and :class:`app.canvas.ImageCanvas` maps coordinates with the scale.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from engine.imageio import ImageLoadError, load_image

log = logging.getLogger(__name__)

DISPLAY_MAX_SIDE_ENV = "MASKCURATOR_DISPLAY_MAX_SIDE"
DEFAULT_DISPLAY_MAX_SIDE = 4096
CACHE_SIZE = 4


@dataclass(frozen=True)
class DisplayImage:
    """A decoded photo ready to draw: ``rgb`` may be smaller than the image (``full_hw``)."""

    image_id: int
    rgb: np.ndarray  # uint8 (h, w, 3) at display resolution
    full_hw: tuple[int, int]  # upright full-resolution size: the size of every mask
    seconds: float  # decode (+ downscale) time, for the status bar / measurements

    @property
    def downscaled(self) -> bool:
        return tuple(self.rgb.shape[:2]) != tuple(self.full_hw)


def display_size(full_hw: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(h, w) to display an image of ``full_hw`` with at most ``max_side`` pixels on its long side."""
    h, w = full_hw
    long = max(h, w)
    if max_side <= 0 or long <= max_side:
        return h, w
    s = max_side / long
    return max(1, int(round(h * s))), max(1, int(round(w * s)))


def decode_for_display(image_id: int, path: Path, max_side: int) -> DisplayImage:
    """Decode (EXIF-upright) and, if needed, area-downscale for display. Raises ImageLoadError."""
    t0 = time.perf_counter()
    rgb = load_image(path)
    full_hw = (int(rgb.shape[0]), int(rgb.shape[1]))
    dh, dw = display_size(full_hw, max_side)
    if (dh, dw) != full_hw:
        rgb = cv2.resize(rgb, (dw, dh), interpolation=cv2.INTER_AREA)
    return DisplayImage(image_id, np.ascontiguousarray(rgb), full_hw, time.perf_counter() - t0)


class _Relay(QObject):
    """Lives on the GUI thread; signals emitted from the pool thread arrive queued."""

    done = Signal(int, int, object)  # epoch, generation, DisplayImage
    failed = Signal(int, int, str)  # generation, image id, reason


class _DecodeTask(QRunnable):
    def __init__(self, loader: "ImageLoader", epoch: int, generation: int, image_id: int, path: Path):
        super().__init__()
        self.setAutoDelete(True)
        self._loader, self._epoch, self._gen, self._id, self._path = loader, epoch, generation, image_id, path

    def run(self) -> None:
        if not self._loader._is_current(self._gen):
            return  # superseded before it started: latest wins
        try:
            img = decode_for_display(self._id, self._path, self._loader.max_side)
        except ImageLoadError as exc:
            self._loader._relay.failed.emit(self._gen, self._id, exc.reason)
        except Exception as exc:  # noqa: BLE001 - any decoder failure is shown, never raised on a thread
            log.exception("decoding %s failed", self._path)
            self._loader._relay.failed.emit(self._gen, self._id, f"{type(exc).__name__}: {exc}")
        else:
            self._loader._relay.done.emit(self._epoch, self._gen, img)


class ImageLoader(QObject):
    """Asynchronous, latest-wins photo decoder with a small LRU cache (GUI-thread API)."""

    loaded = Signal(object)  # DisplayImage of the latest request
    failed = Signal(int, str)  # image id, reason (latest request only)

    def __init__(self, max_side: int | None = None, cache_size: int = CACHE_SIZE, parent: QObject | None = None):
        super().__init__(parent)
        if max_side is None:
            max_side = int(os.environ.get(DISPLAY_MAX_SIDE_ENV, DEFAULT_DISPLAY_MAX_SIDE))
        self.max_side = int(max_side)
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[int, DisplayImage] = OrderedDict()
        self._gen = 0
        self._epoch = 0  # bumped by clear(): results of a closed project never enter the cache
        self._gen_lock = threading.Lock()
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._relay = _Relay(self)
        self._relay.done.connect(self._on_done)
        self._relay.failed.connect(self._on_failed)

    def _is_current(self, generation: int) -> bool:
        with self._gen_lock:
            return generation == self._gen

    def cached(self, image_id: int) -> DisplayImage | None:
        img = self._cache.get(image_id)
        if img is not None:
            self._cache.move_to_end(image_id)
        return img

    def cache_ids(self) -> list[int]:
        return list(self._cache)

    def clear(self) -> None:
        with self._gen_lock:
            self._gen += 1  # results in flight are dropped
            self._epoch += 1
        self._cache.clear()

    def request(self, image_id: int, path: Path) -> None:
        """Decode ``path`` on the pool thread; ``loaded``/``failed`` fire only if still the latest."""
        with self._gen_lock:
            self._gen += 1
            gen, epoch = self._gen, self._epoch
        self._pool.start(_DecodeTask(self, epoch, gen, image_id, Path(path)))

    def cancel(self) -> None:
        """Forget the pending request (e.g. the user went to an already cached image)."""
        with self._gen_lock:
            self._gen += 1

    def _on_done(self, epoch: int, gen: int, img: DisplayImage) -> None:
        if epoch != self._epoch:
            return
        self._cache[img.image_id] = img  # a superseded decode still fills the cache (cheap to keep)
        self._cache.move_to_end(img.image_id)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        if self._is_current(gen):
            self.loaded.emit(img)

    def _on_failed(self, gen: int, image_id: int, reason: str) -> None:
        if self._is_current(gen):
            self.failed.emit(image_id, reason)

    def wait(self, timeout_ms: int = 30_000) -> bool:
        """Block until the pool is idle (shutdown, tests)."""
        return self._pool.waitForDone(timeout_ms)

    def shutdown(self, timeout_ms: int = 2000) -> None:
        self.cancel()
        self._pool.clear()
        self._pool.waitForDone(timeout_ms)


__all__ = ["DisplayImage", "ImageLoader", "decode_for_display", "display_size", "DISPLAY_MAX_SIDE_ENV"]
