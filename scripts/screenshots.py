"""Screenshots of the real MaskCurator window (offscreen or under Xvfb) into docs/screenshots/.

Opens a temporary copy of resources/demo, runs the analysis on the engine with a backbone named by
MASKCURATOR_BACKBONE (default here: random_vits16, because no weights can be downloaded offline),
drives a few curation actions and grabs the window after each.

    QT_QPA_PLATFORM=offscreen python scripts/screenshots.py [--out docs/screenshots] [--backbone NAME]

Random weights give meaningless segments: the captions say so.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CAPTIONS: dict[str, str] = {}


def _wait(app, pred, timeout: float = 180.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        app.processEvents()
        if pred():
            return True
        time.sleep(0.02)
    return False


def _settle(app, seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.01)


def _shot(app, widget, out: Path, name: str, caption: str) -> None:
    _settle(app)
    widget.grab().save(str(out / name))
    CAPTIONS[name] = caption
    print(f"saved {out / name}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(REPO / "docs" / "screenshots"))
    ap.add_argument("--backbone", default=os.environ.get("MASKCURATOR_BACKBONE", "random_vits16"))
    ap.add_argument("--max-side", type=int, default=int(os.environ.get("MASKCURATOR_MAX_SIDE", "320")))
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ["MASKCURATOR_BACKBONE"] = args.backbone
    os.environ["MASKCURATOR_MAX_SIDE"] = str(args.max_side)
    os.environ["MASKCURATOR_NO_DIALOGS"] = "1"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    random_note = (" Backbone: randomly initialised ViT-S/16 (no weights can be downloaded here), so the "
                   "segments are meaningless; with DINO weights they follow objects."
                   if args.backbone.startswith("random_") else f" Backbone: {args.backbone}.")

    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.resources import style_sheet

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setStyleSheet(style_sheet())
    work = Path(tempfile.mkdtemp(prefix="maskcurator-shots-"))
    try:
        folder = work / "demo"
        shutil.copytree(REPO / "resources" / "demo", folder)
        win = MainWindow(folder)
        win.resize(1480, 900)
        win.show()
        if not _wait(app, lambda: win.canvas.layer_has_data("eigen")):
            print("analysis did not finish:", win.last_error, file=sys.stderr)
            return 1
        st = win.store
        cat = st.add_class("cat", (255, 140, 0))
        st.add_class("background", (90, 120, 160))
        win._on_classes_changed()
        _shot(app, win, out, "01_overview.png",
              "Main window: filmstrip with review status (left), the photo with the DSM proposals (one "
              "colour per segment, outlined: the single-object mask 'object' and the per-image "
              "eigenvector segments), the localisation box (yellow), and the segment list with "
              "accept/reject/merge/relabel (right)." + random_note)

        win.canvas.set_layer_visible("segments", False)
        win.set_eigen_index(2)
        win.layers_panel.sync(win.canvas, 2, "viridis")
        win.canvas.set_layer_opacity("eigen", 0.8)
        _shot(app, win, out, "02_eigenvector.png",
              "Eigenvector 2 of the feature-affinity Laplacian at 80 % opacity (key 2), segments layer "
              "hidden; the Layers tab shows the eigenvalues." + random_note)

        win.canvas.set_layer_visible("segments", True)
        win.canvas.set_layer_opacity("eigen", 0.35)
        win.set_eigen_index(1)
        win.layers_panel.sync(win.canvas, 1, "viridis")
        obj = st.segments(win.current_id, source="dsm.object")[0]
        win.segment_panel.select_ids([obj.id])
        win._on_relabel([obj.id], cat.id)
        win.canvas.set_mode("brush")
        win.canvas.set_brush_radius(14)
        h, w = win.canvas.image_shape
        win.canvas.begin_stroke(w * 0.15, h * 0.2)
        for t in range(1, 12):
            win.canvas.continue_stroke(w * (0.15 + 0.03 * t), h * (0.2 + 0.01 * t))
        win.canvas.end_stroke()
        from PySide6.QtCore import QPointF

        win.canvas._show_cursor(QPointF(w * 0.5, h * 0.35))
        _shot(app, win, out, "03_brush_relabel.png",
              "Curation: the object proposal relabelled as 'cat' (class colour, accepted) and extended "
              "with one brush stroke (B; one undo step); the dashed circle is the brush." + random_note)
        win.canvas.set_mode("view")

        win.canvas.set_layer_visible("eigen", False)
        win.canvas.set_layer_visible("alpha", True)
        win.canvas.set_layer_opacity("segments", 0.35)
        win.layers_panel.sync(win.canvas, 1, "viridis")
        _shot(app, win, out, "04_matting_alpha.png",
              "Matting-alpha layer (inferno) of the single-object mask over the photo, segments faded "
              "to 35 %." + random_note)
        win.canvas.set_layer_visible("alpha", False)
        win.canvas.set_layer_visible("eigen", True)
        win.canvas.set_layer_opacity("segments", 1.0)
        win.layers_panel.sync(win.canvas, 1, "viridis")

        done = []
        win.batchFinished.connect(done.append)
        win.analyse_all()
        _wait(app, lambda: win.progress_bar.isVisible() and win.progress_bar.value() > 0, 60)
        _shot(app, win, out, "05_analyse_all_progress.png",
              "'Analyse all' running on the engine thread: progress and Cancel in the status bar while "
              "the window stays responsive.")
        if not _wait(app, lambda: bool(done), 600):
            print("analyse all did not finish", file=sys.stderr)
            return 1
        ids = [r.id for r in st.images()]
        st.set_image_status(ids[0], "accepted")
        st.set_image_status(ids[1], "rejected")
        win._after_undo_redo("refresh", "status changes")
        win.show_image(ids[2])
        _wait(app, lambda: win.canvas.layer_has_data("eigen"), 120)
        win.segment_panel.set_source_filter("dsm.semantic")
        win.canvas.set_layer_visible("eigen", False)
        win.layers_panel.sync(win.canvas, 1, "viridis")
        _shot(app, win, out, "06_dataset_clusters.png",
              f"After 'Analyse all': dataset-wide clusters (source dsm.semantic, {win.settings.n_clusters} "
              "clusters) shown with the source filter; the filmstrip shows accepted / rejected / to-do "
              "badges." + random_note)

        win.segment_panel.set_source_filter(None)
        st.set_segments_state([s.id for s in st.segments(ids[2], source="dsm.segment")][:2], "accepted")
        dlg = win.open_export_dialog()
        dlg.out.setText(str(work / "export" / "annotations.json"))
        dlg.include_unlabelled.setChecked(True)
        dlg.start_export()
        _wait(app, lambda: dlg.last_report is not None or dlg.last_error is not None, 120)
        _shot(app, dlg, out, "07_export_dialog.png",
              "Export dialog after a COCO export (RLE masks, accepted segments, unlabelled ones as "
              "'object'); the report line comes from the exporter.")
        dlg.close()

        tdlg = win.open_train_dialog()
        _settle(app, 0.5)
        _shot(app, tdlg, out, "08_train_dialog.png",
              "Train dialog: the form is generated from the selected method's config dataclass; training "
              "runs as an engine job with progress and Cancel, then 'Run on dataset' stores proposals.")
        tdlg.close()
        win.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = ["# Screenshots", "", "Generated by `scripts/screenshots.py` from the real window (offscreen Qt).", ""]
    for name, caption in CAPTIONS.items():
        lines += [f"## {name}", "", f"![{name}]({name})", "", caption, ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
