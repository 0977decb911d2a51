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
