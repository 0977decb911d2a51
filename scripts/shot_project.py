"""Shared set-up of the one-screenshot scripts: an offscreen Qt environment and a throw-away project
over copies of demo photos (analysis without CRF / matting, some classes), so each script only says
what it shows."""

from __future__ import annotations

import os
import shutil
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
