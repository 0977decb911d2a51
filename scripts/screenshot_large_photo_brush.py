"""Screenshot of brushing on a 24 MP photo (issue 16): a Weizmann horse photo upscaled to 6000x4000,
its ground-truth mask stored as a segment, the brush half-way through a stroke (the display-resolution
preview, drawn per dirty rectangle) and, in the status bar, how long the last mouse move took.

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_large_photo_brush.py [out.png]

The analysis is not waited for (the picture is about the brush; the photo is big, analysing it takes a while).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))
W, H = 6000, 4000


def main(out: Path) -> int:
    import numpy as np
    from shot_project import large_horse_folder

    made = large_horse_folder("mc_bigbrush_", (W, H))
    if made is None:
        return 1
    folder, mask = made

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.resources import style_sheet
    from engine.curation.project import open_project

    store, _paths = open_project(folder)
    (rec,) = store.images()
    seg = store.add_segment(rec.id, mask)
    store.close()

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(style_sheet())
    win = MainWindow(folder, device="cpu")
    win.resize(1500, 950)
    win.show()
    end = time.time() + 120
    while win.canvas.image_shape is None and time.time() < end:
        app.processEvents()
        time.sleep(0.01)
    win.refresh_segments() if hasattr(win, "refresh_segments") else win.view.refresh_segments()
    app.processEvents()
    win.segment_panel.select_ids([seg.id])
    c = win.canvas
    c.set_mode("brush")
    c.set_brush_radius(70)
    path = [(W * (0.30 + 0.01 * t), H * (0.64 + 0.05 * np.sin(t / 4))) for t in range(30)]  # under the belly
    c.begin_stroke(*path[0])
    times = []
    for x, y in path[1:]:
        t0 = time.perf_counter()
        c.continue_stroke(x, y)
        app.processEvents()
        times.append((time.perf_counter() - t0) * 1000)
    from PySide6.QtCore import QPointF

    c._show_cursor(QPointF(*path[-1]))
    win.set_status(f"Brush on a {W}×{H} photo: mouse move p50 {np.percentile(times, 50):.1f} ms, "
                   f"max {max(times):.1f} ms (preview at {c.overlay_shape[1]}×{c.overlay_shape[0]}, stroke in progress)")
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out))
    print(f"saved {out}; moves p50 {np.percentile(times, 50):.1f} ms max {max(times):.1f} ms")
    c.end_stroke()
    win.editor.wait_idle()
    win.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots" / "19_large_photo_brush.png"))
