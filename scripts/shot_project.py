"""Shared set-up of the one-screenshot scripts: an offscreen Qt environment and a throw-away project
over copies of demo photos (analysis without CRF / matting, some classes), so each script only says
what it shows."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def demo_project(prefix: str, classes: list[tuple[str, tuple[int, int, int]]],
                 photos: tuple[str, ...] = ("chelsea.png", "coffee.png")) -> tuple[Path, Path]:
    """(work dir, photo folder) of a new project with ``classes`` (name, rgb); the weight-free backbone."""
    from engine.project import project_paths
    from engine.store import ProjectStore

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["MASKCURATOR_SETTINGS"] = str(work / "settings.ini")
    os.environ["MASKCURATOR_BACKBONE"] = "filters"
    os.environ["MASKCURATOR_NO_DIALOGS"] = "1"
    folder = work / "photos"
    folder.mkdir()
    for name in photos:
        shutil.copy(REPO / "resources" / "demo" / name, folder / name)
    paths = project_paths(folder).ensure()
    with ProjectStore.open(paths.database, image_root=folder) as st:
        for k, v in {"crf": False, "matting": False}.items():
            st.set_setting(f"analysis.{k}", v)
        for name, rgb in classes:
            st.add_class(name, rgb)
    return work, folder


def open_window(folder: Path, timeout_s: float = 300.0):
    """(QApplication, MainWindow) on ``folder`` once its first analysis is drawn; None if it is not
    drawn within ``timeout_s`` (the reason goes to stderr)."""
    import sys
    import time

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.resources import style_sheet

    app = QApplication.instance() or QApplication([])
    app.setStyleSheet(style_sheet())
    win = MainWindow(folder, device="cpu")
    win.resize(1400, 860)
    win.show()
    done = {"ok": False}
    win.analysisApplied.connect(lambda _i: done.update(ok=True))
    t0 = time.time()
    while not done["ok"] and time.time() - t0 < timeout_s:
        app.processEvents()
        time.sleep(0.02)
    if not done["ok"]:
        print("analysis did not finish", file=sys.stderr)
        return None
    win.activateWindow()
    return app, win


HORSE_DATA = REPO.parent / "shared" / "data" / "weizmann_horse"


def large_horse_folder(prefix: str, size: tuple[int, int] = (6000, 4000)):
    """(photo folder, ground truth) of a throw-away folder holding one Weizmann horse photo upscaled to
    ``size`` (w, h) as ``horse_24mp.jpg``, its mask upscaled alike (bool (h, w)); None without the data."""
    import cv2

    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["MASKCURATOR_SETTINGS"] = str(work / "settings.ini")
    os.environ["MASKCURATOR_NO_DIALOGS"] = "1"
    os.environ.setdefault("MASKCURATOR_BACKBONE", "filters")
    folder = work / "photos"
    folder.mkdir()
    rgb = cv2.imread(str(HORSE_DATA / "images" / "horse005.jpg"))
    gt = cv2.imread(str(HORSE_DATA / "masks" / "horse005.png"), cv2.IMREAD_GRAYSCALE)
    if rgb is None or gt is None:
        print(f"missing {HORSE_DATA}/images|masks/horse005", file=sys.stderr)
        return None
    big = cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(folder / "horse_24mp.jpg"), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return folder, cv2.resize(gt, size, interpolation=cv2.INTER_NEAREST) > 127
