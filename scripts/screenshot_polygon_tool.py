"""Screenshot of the Polygon tool: on the cat demo photo the nose is added with the Box tool (R, class
"nose"), then the left eye is drawn with the Polygon tool (G, class "eye": clicks, closed on the first
vertex), one vertex is dragged, one inserted on an edge and pulled out; the mouse rests on a vertex (red),
zoomed on the face; the DSM proposals are hidden (H) to keep the photo clear. Every step goes through
real mouse events on the canvas, as in the tests.

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_polygon_tool.py [out.png]

Weight-free ``filters`` backbone (no model download).
"""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from scripts.shot_project import demo_project, open_window  # noqa: E402

EYE = [(137, 113), (146, 95), (165, 86), (190, 88), (207, 103), (211, 124), (200, 140), (178, 147), (155, 141),
       (141, 129)]
NOSE = (232, 222, 296, 268)


def main(out: Path) -> int:
    work, folder = demo_project("mc_polygon_", [("eye", (60, 200, 90)), ("nose", (230, 120, 40))])

    from PySide6.QtCore import QPoint, QPointF, QRectF, Qt
    from PySide6.QtTest import QTest

    opened = open_window(folder)
    if opened is None:
        return 1
    app, win = opened
    canvas, tool = win.canvas, win.polygon
    vp = canvas.view_widget.viewport()

    def settle(s: float = 0.05) -> None:
        end = time.time() + s
        while time.time() < end:
            app.processEvents()
            time.sleep(0.005)

    def at(x: float, y: float) -> QPoint:
        return canvas.view_widget.mapFromScene(canvas.view.mapViewToScene(QPointF(x, y)))

    def move(x, y) -> QPoint:
        p = at(x, y)
        QTest.mouseMove(vp, p)
        settle()
        return p

    def click(x, y) -> None:
        QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, move(x, y))
        settle()

    def drag(x0, y0, x1, y1) -> None:
        a, b = move(x0, y0), at(x1, y1)
        QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
        for i in range(1, 7):
            QTest.mouseMove(vp, QPoint(round(a.x() + (b.x() - a.x()) * i / 6), round(a.y() + (b.y() - a.y()) * i / 6)))
            settle(0.01)
        QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
        settle()

    proposals = [r.id for r in win.segments.records if r.source.startswith("dsm")]
    win.segment_panel.select_ids(proposals)
    QTest.keyClick(win, Qt.Key.Key_H)  # the proposals hidden: only what the tools draw stays on the photo
    win.segment_panel.select_ids([])
    canvas.view.setRange(QRectF(95, 55, 225, 230), padding=0)  # the eye and the nose, large
    settle(0.2)
    QTest.keyClick(win, Qt.Key.Key_2)  # class "nose"
    QTest.keyClick(win, Qt.Key.Key_R)  # Box tool
    drag(*NOSE)
    QTest.keyClick(win, Qt.Key.Key_1)  # class "eye"
    QTest.keyClick(win, Qt.Key.Key_G)  # Polygon tool
    for x, y in EYE:
        click(x, y)
    click(EYE[0][0] + 0.5, EYE[0][1] + 0.5)  # on the first vertex: closes, stores, edits
    drag(*EYE[5], 214, 127)  # move a vertex
    a, b = tool.rings[0][2], tool.rings[0][3]
    click(*((a + b) / 2))  # insert a vertex on the top edge ...
    drag(*((a + b) / 2), (a[0] + b[0]) / 2, (a[1] + b[1]) / 2 - 4)  # ... and pull it up
    move(*tool.rings[0][7])  # the mouse on a vertex: drag moves it, right-click / Delete removes it
    settle(0.3)
    out.parent.mkdir(parents=True, exist_ok=True)
    win.grab().save(str(out))
    st = win.store
    segs = [s for s in st.segments(win.current_id) if s.source in ("polygon", "box")]
    print(f"wrote {out}: {[(s.source, s.class_id, s.area) for s in segs]}; {len(tool.rings[0])} vertices; "
          f"undo: {st.undo_description()}; status: {win.status_label.text()}")
    win.close()
    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots" / "15_polygon_tool.png"))
