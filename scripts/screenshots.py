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


# Tiny trainings for screenshots 09-11: seconds on a CPU, so the masks are meaningless (the captions say so).
_STEGO = {"resolution": 96, "steps": 30, "batch_size": 8, "n_clusters": 5, "crf": False, "checkpoint_every": 0,
          "predict_resolution": 160, "max_side": 320}
_REDO = {"image_size": 64, "batch_size": 4, "steps": 40, "nf_mask": 16, "nf_generator": 16, "nf_discriminator": 16,
         "nf_encoder": 16, "mask_res_blocks": 1, "self_attention_g": False, "self_attention_d": False,
         "validate_every": 20, "checkpoint_every": 20, "val_fraction": 0.25}
_IAL = {"image_size": 128, "cam_steps": 60, "unary_steps": 30, "affinity_steps": 20, "rounds": 1,
        "rw_iterations": 16, "cam_scales": "1.0", "cam_flip": False, "use_crf": False, "unary_dim": 32,
        "affinity_dim": 16, "affinity_radius": 3, "batch_size": 4, "slic_segments": 40}
# image-level tags of the demo photos (IAL's weak labels)
_DEMO_TAGS = {"astronaut.png": "person", "chelsea.png": "cat", "coffee.png": "cup",
              "motorcycle_left.png": "motorcycle", "rocket.jpg": "rocket"}


def _train_and_run(app, win, method: str, values: dict) -> bool:
    """Train ``method`` through the Train dialog with ``values`` typed into its form, then 'Run on dataset'."""
    dlg = win.open_train_dialog()
    dlg.method.setCurrentIndex(dlg.method.findData(method))
    for name, value in values.items():
        dlg.set_value(name, value)
    t0 = time.monotonic()
    if dlg.start_training() is None:
        print(f"{method}: could not start training: {dlg.last_error}", file=sys.stderr)
        return False
    if not _wait(app, lambda: dlg.checkpoint is not None or dlg.last_error is not None, 600) or dlg.last_error:
        print(f"{method}: training failed: {dlg.last_error}", file=sys.stderr)
        return False
    print(f"{method}: trained in {time.monotonic() - t0:.1f} s -> {dlg.checkpoint}")
    dlg.run_on_dataset()
    if not _wait(app, lambda: dlg.last_result is not None or dlg.last_error is not None, 600) or dlg.last_error:
        print(f"{method}: run on dataset failed: {dlg.last_error}", file=sys.stderr)
        return False
    print(f"{method}: {dlg.status.text()}")
    dlg.close()
    return True


def _show_source(app, win, image_name: str, source: str) -> bool:
    """Show one image with only ``source``'s segments (source filter), DSM layers hidden."""
    rec = next(r for r in win.store.images() if Path(r.path).name == image_name)
    win.show_image(rec.id)
    if not _wait(app, lambda: win._displayed_id == rec.id, 120):
        return False
    for layer in ("eigen", "alpha", "box"):
        win.canvas.set_layer_visible(layer, False)
    win.canvas.set_layer_opacity("segments", 0.8)
    win.segment_panel.set_source_filter(source)
    _settle(app)
    recs = win.segment_panel.records()
    return win.segment_panel.source_filter() == source and bool(recs) and {r.source for r in recs} == {source}


def _method_shots(app, win, out: Path, backbone: str) -> bool:
    """09-11: tiny trainings of the real STEGO, ReDO and IAL on the demo photos, proposals filtered by source."""
    st = win.store
    weights = ("randomly initialised " + backbone.removeprefix("random_") if backbone.startswith("random_")
               else backbone)
    stego = dict(_STEGO, backbone=backbone)
    if not _train_and_run(app, win, "stego", stego):
        return False
    if not _show_source(app, win, "astronaut.png", "stego"):
        print("no stego proposals on astronaut.png", file=sys.stderr)
        return False
    _shot(app, win, out, "09_stego_proposals.png",
          f"STEGO proposals after Train… → Run on dataset (segment list filtered to source 'stego': one "
          f"segment per cluster present, {_STEGO['n_clusters']} clusters). Tiny training: "
          f"{_STEGO['steps']} steps over a frozen {weights} backbone at {_STEGO['resolution']} px, no CRF. "
          "Random weights and a few seconds of training give meaningless clusters; this shows the "
          "workflow, not STEGO's quality.")

    if not _train_and_run(app, win, "redo", _REDO):
        return False
    if not _show_source(app, win, "motorcycle_left.png", "redo"):
        print("no redo proposals on motorcycle_left.png", file=sys.stderr)
        return False
    _shot(app, win, out, "10_redo_proposals.png",
          f"ReDO proposal (source 'redo', the 'object' region of the two-region mask network) after "
          f"{_REDO['steps']} GAN steps from scratch at {_REDO['image_size']} px on the demo photos. ReDO "
          "needs tens of thousands of steps on an object-centric image set; after this tiny training "
          "the mask is meaningless; this shows the workflow only.")

    names = {c.name: c.id for c in st.classes()}
    for cls in sorted(set(_DEMO_TAGS.values()) - set(names)):
        names[cls] = st.add_class(cls).id
    win._on_classes_changed()
    for rec in st.images():
        tag = _DEMO_TAGS.get(Path(rec.path).name)
        if tag:
            st.set_image_tags(rec.id, [names[tag]])
    if not _train_and_run(app, win, "ial", dict(_IAL, backbone=backbone)):
        return False
    if not _show_source(app, win, "coffee.png", "ial"):
        print("no ial proposals on coffee.png", file=sys.stderr)
        return False
    win.docks["tags"].raise_()
    win.tags_panel.refresh()
    _shot(app, win, out, "11_ial_tags_and_proposals.png",
          "IAL: the 'Image tags' tab (right) holds the image-level tags, here 'cup' ticked for this "
          "photo (each demo photo got one tag; the rejected photo is left out of training); IAL "
          "trained from them and 'Run on dataset' stored one proposal per tagged class (source 'ial', "
          "segment list filtered). Tiny training: "
          f"{_IAL['cam_steps']} CAM steps, {_IAL['rounds']} round of unary/affinity learning over a frozen "
          f"{weights} backbone at {_IAL['image_size']} px. Random weights and tiny training give a "
          "meaningless mask; this shows the workflow only.")
    return True


def _prompt_shots(app, win, out: Path, work: Path) -> bool:
    """12-14: the Prompt tool on a real horse photo, clicks placed by the standard click simulator
    (RITM protocol) from its ground-truth mask; skipped when ../shared/data is not there."""
    import numpy as np
    from PIL import Image

    from engine.prompts.clicks import next_click

    src = REPO.parent / "shared" / "data" / "weizmann_horse"
    if not src.is_dir():
        print("no ../shared/data/weizmann_horse: prompt screenshots skipped", file=sys.stderr)
        return True
    folder = work / "horses"
    folder.mkdir()
    shutil.copy(src / "images" / "horse012.jpg", folder / "horse012.jpg")
    gt = np.asarray(Image.open(src / "masks" / "horse012.png").convert("L")) > 127
    if not win.open_folder(folder) or not _wait(app, lambda: win.canvas.layer_has_data("eigen"), 180):
        return False
    for layer in ("eigen", "alpha", "box"):
        win.canvas.set_layer_visible(layer, False)
    win.canvas.set_layer_opacity("segments", 0.25)
    win.canvas.set_mode("prompt")
    pred = np.zeros_like(gt)
    for n in (1, 2, 3):
        c = next_click(pred, gt)
        done: list = []
        win.prompt.previewed.connect(done.append)
        win.prompt.click(c.x + 0.5, c.y + 0.5, c.positive)
        if not _wait(app, lambda: bool(done), 120):
            return False
        win.prompt.previewed.disconnect(done.append)
        pred = done[0].mask
        iou = float((pred & gt).sum() / max((pred | gt).sum(), 1))
        kind = "positive (green)" if c.positive else "negative (red)"
        _shot(app, win, out, f"{11 + n:02d}_prompt_{n}_click{'s' if n > 1 else ''}.png",
              f"Prompt tool (P), click {n}: a {kind} click placed by the standard click simulator on the "
              f"larger error region; the cyan preview is the engine's mask ({done[0].seconds * 1000:.0f} ms "
              f"for this click, graph built once per image), IoU {iou:.2f} with the ground truth. "
              "Weight-free graph (colour + KNN colour-position affinity); no ViT term with random weights. "
              "Enter commits it as a segment, Esc discards.")
    return True


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
        win.canvas.set_layer_opacity("eigen", 0.8)
        _shot(app, win, out, "02_eigenvector.png",
              "Eigenvector 2 of the feature-affinity Laplacian at 80 % opacity (key 2), segments layer "
              "hidden; the Layers tab shows the eigenvalues." + random_note)

        win.canvas.set_layer_visible("segments", True)
        win.canvas.set_layer_opacity("eigen", 0.35)
        win.set_eigen_index(1)
        obj = st.segments(win.current_id, source="dsm.object")[0]
        win.segment_panel.select_ids([obj.id])
        win.editor.relabel([obj.id], cat.id)
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
        _shot(app, win, out, "04_matting_alpha.png",
              "Matting-alpha layer (inferno) of the single-object mask over the photo, segments faded "
              "to 35 %." + random_note)
        win.canvas.set_layer_visible("alpha", False)
        win.canvas.set_layer_visible("eigen", True)
        win.canvas.set_layer_opacity("segments", 1.0)

        done = []
        win.batchFinished.connect(done.append)
        win.analyse_all()
        _wait(app, lambda: win.jobs.bar.isVisible() and win.jobs.bar.value() > 0, 60)
        _shot(app, win, out, "05_analyse_all_progress.png",
              "'Analyse all' running on the engine thread: progress and Cancel in the status bar while "
              "the window stays responsive.")
        if not _wait(app, lambda: bool(done), 600):
            print("analyse all did not finish", file=sys.stderr)
            return 1
        ids = [r.id for r in st.images()]
        st.set_image_status(ids[0], "accepted")
        st.set_image_status(ids[1], "rejected")
        win.reload_all("status changes")
        win.show_image(ids[2])
        _wait(app, lambda: win.canvas.layer_has_data("eigen"), 120)
        win.segment_panel.set_source_filter("dsm.semantic")
        win.canvas.set_layer_visible("eigen", False)
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

        if not _method_shots(app, win, out, args.backbone):
            return 1
        if not _prompt_shots(app, win, out, work):
            return 1
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
