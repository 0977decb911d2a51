"""Screenshots of the review workflow and the import dialog: 24 COCO photos (a few accepted / rejected),
File → Import annotations… on the real COCO annotations of 12 of them (8 of its classes, so the class
palette stays short) with the mapping preview (18_import_dialog.png), imported (source ``import``), then
the filmstrip filtered to "To do" with "Proposals: import" under the "N of M reviewed" counter
(17_filtered_filmstrip.png).

    QT_QPA_PLATFORM=offscreen python scripts/screenshot_filtered_filmstrip.py [out_dir]

The analysis is stubbed out (the picture is about the filmstrip; the canvas shows the imported
segments of the current image).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
DATA = REPO.parent / "shared" / "data" / "coco_val_subset"


def main(out: Path) -> int:
    work = Path(tempfile.mkdtemp(prefix="mc_filmstrip_"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["MASKCURATOR_SETTINGS"] = str(work / "settings.ini")
    os.environ["MASKCURATOR_NO_DIALOGS"] = "1"
    folder = work / "coco_photos"
    folder.mkdir()
    names = sorted(p.name for p in (DATA / "images").glob("*.jpg"))[:24]
    for n in names:
        (folder / n).symlink_to(DATA / "images" / n)
    data = json.loads((DATA / "annotations" / "instances_val2017.json").read_text())
    keep = {im["id"]: im for im in data["images"] if im["file_name"] in names[::2]}
    wanted = {"person", "dog", "cat", "car", "pizza", "bus", "bird", "train"}  # a short class palette
    cats = [c for c in data["categories"] if c["name"] in wanted]
    subset = {"images": list(keep.values()), "categories": cats,
              "annotations": [a for a in data["annotations"] if a["image_id"] in keep
                              and a["category_id"] in {c["id"] for c in cats}]}
    (work / "annotations.json").write_text(json.dumps(subset))

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QPixmap
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.resources import style_sheet
    from engine.curation.project import open_project

    store, _paths = open_project(folder)
    ids = {Path(r.path).name: r.id for r in store.images()}
    for n in names[0:4:2]:
        store.set_image_status(ids[n], "accepted")
    store.set_image_status(ids[names[4]], "rejected")
    store.set_image_status(ids[names[1]], "accepted")
    store.add_class("person", (230, 120, 60))  # an existing class: the preview reuses it
    store.close()

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(style_sheet())
    win = MainWindow(None, device="cpu")
    win.analysis.request = lambda *a, **k: None
    win.analysis.prefetch = lambda *a, **k: None
    win.resize(1400, 860)
    win.show()
    win.open_folder(folder)
    dlg = win.open_import_dialog()
    planned = []
    dlg.planned.connect(planned.append)
    dlg.set_source("coco", work / "annotations.json")
    _wait(app, lambda: bool(planned))
    dlg.resize(640, 480)
    _wait(app, lambda: False, 0.3)
    out.mkdir(parents=True, exist_ok=True)
    dlg.grab().save(str(out / "18_import_dialog.png"))
    print(f"18: {dlg.summary.text()}")
    imported = []
    dlg.imported.connect(imported.append)
    dlg.start_import()
    _wait(app, lambda: bool(imported))
    win.review_bar.set_view("todo", "import", "name")
    first = win.filmstrip.model_.record(0).id
    win.show_image(first)
    strip = win.filmstrip
    t0 = time.time()
    while time.time() - t0 < 60:
        app.processEvents()
        rows = range(min(strip.model_.rowCount(), 9))
        if all(isinstance(strip.model_.data(strip.model_.index(r), Qt.ItemDataRole.DecorationRole), QPixmap)
               for r in rows) and win._displayed_id == first:
            break
        time.sleep(0.02)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    win.grab().save(str(out / "17_filtered_filmstrip.png"))
    print(f"17: {win.review_bar.counter.text()}, {strip.model_.rowCount()} shown, "
          f"status: {win.status_label.text()!r}")
    win.close()
    return 0


def _wait(app, cond, timeout: float = 60.0) -> None:
    t0 = time.time()
    while not cond() and time.time() - t0 < timeout:
        app.processEvents()
        time.sleep(0.02)


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "screenshots"))
