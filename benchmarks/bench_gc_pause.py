"""Longest pause of Python's cyclic garbage collector in the app's process, before and after
``app.main_window.freeze_startup_objects`` (what ``run_app`` calls once the window is up).

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_gc_pause.py

A full collection walks every tracked object; with torch, timm, OpenCV and the Qt app imported that
is ~450k objects, and Python runs one whenever enough long-lived objects accumulate — a GUI freeze
at a moment nobody chose. Prints the pause of a full collection (median of ``--repeat``) next to the
16 ms frame budget, for both states in the same run.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_MS = 16.0


def _full_collection_ms(repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)[len(times) // 2]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)

    import cv2  # noqa: F401  (what the app has loaded once an image is analysed)
    import timm  # noqa: F401
    import torch  # noqa: F401
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow, freeze_startup_objects

    app = QApplication.instance() or QApplication([])
    window = MainWindow(None)
    objects = len(gc.get_objects())
    before = _full_collection_ms(args.repeat)
    freeze_startup_objects()
    after = _full_collection_ms(args.repeat)
    print(f"tracked objects after start-up: {objects}")
    for label, ms in (("full collection, as started", before), ("full collection, after freeze", after)):
        print(f"{label:<32} {ms:8.1f} ms   (target < {TARGET_MS:.0f} ms: {'met' if ms < TARGET_MS else 'NOT met'})")
    gc.unfreeze()
    window.close()
    app.processEvents()


if __name__ == "__main__":
    main()
