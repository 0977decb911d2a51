"""Screenshot of the class palette: the window on a demo photo with four classes; with class 2 active
(key 2) Y labels and accepts the largest proposal, H hides the smallest, then with class 1 (key 1)
active Y labels and accepts the object proposal, which stays selected.

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_class_palette.py [out.png]

Weight-free ``filters`` backbone (no model download); the proposals are what it finds on the photo.
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.shot_project import demo_project, open_window  # noqa: E402


def main(out: Path) -> int:
    work, folder = demo_project("mc_palette_", [("cat", (230, 80, 60)), ("background", (90, 90, 200)),
                                                ("eye", (60, 200, 90)), ("whiskers", (230, 200, 40))])

    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    opened = open_window(folder)
    if opened is None:
        return 1
    app, win = opened
    recs = sorted(win.segments.records, key=lambda r: r.area)
    big = recs[-1]
    QTest.keyClick(win, Qt.Key.Key_2)  # "background" becomes the active class
    win.segment_panel.select_ids([big.id])
    QTest.keyClick(win, Qt.Key.Key_Y)  # labelled background and accepted, one undo step
    if len(recs) > 2:
        win.segment_panel.select_ids([recs[0].id])
        QTest.keyClick(win, Qt.Key.Key_H)  # the smallest proposal hidden
    QTest.keyClick(win, Qt.Key.Key_1)  # cat is the active class now
    obj = next((r for r in recs if r.source == "dsm.object"), recs[-2])
    win.segment_panel.select_ids([obj.id])
    QTest.keyClick(win, Qt.Key.Key_Y)  # the object: cat, accepted
    app.processEvents()
    time.sleep(0.3)
    app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out))
    print(f"wrote {out}: active class {win.active_class.name()}, status: {win.status_label.text()}")
    win.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots" / "16_class_palette.png"))
