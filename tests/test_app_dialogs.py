"""GUI tests of the dialogs and whole-dataset jobs: export, training, preferences, backbone errors,
"Analyse all". Same setup as tests/test_app.py (offscreen, random ViT-S/16, small images)."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from test_app import TIMEOUT, _app_env, folder, key, open_window  # noqa: E402,F401  (fixtures)


def test_export_dialog_writes_coco_and_reports_errors(qtbot, folder, tmp_path):
    from pycocotools.coco import COCO

    w = open_window(qtbot, folder)
    st = w.store
    w.class_manager.add_class("thing")
    thing = st.classes()[0].id
    seg = st.segments(w.current_id, source="dsm.object")[0]
    st.set_segment_class(seg.id, thing)
    w.refresh_segments()
    key(qtbot, w, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    dlg = w.export_dialog
    assert dlg.isVisible()
    out = tmp_path / "out" / "coco.json"
    dlg.out.setText(str(out))
    dlg.image_filter.setCurrentText("All images except rejected")  # the image is still to do
    dlg.polygons.setChecked(False)
    with qtbot.waitSignal(dlg.exported, timeout=30_000) as sig:
        dlg.export_btn.click()
    report = sig.args[0]
    assert report.n_annotations == 1 and out.exists()
    coco = COCO(str(out))
    assert len(coco.getAnnIds()) == 1 and coco.loadCats(coco.getCatIds())[0]["name"] == "thing"
    m = coco.annToMask(coco.loadAnns(coco.getAnnIds())[0])
    assert np.array_equal(m.astype(bool), st.segment_mask(seg.id))
    assert "1 annotations" in dlg.report_label.text()
    # an output path that is a folder: the ExportError message is shown, nothing crashes
    dlg.out.setText(str(tmp_path))
    dlg.export_btn.click()
    qtbot.waitUntil(lambda: dlg.last_error is not None, timeout=30_000)
    assert "folder" in dlg.last_error and "failed" in dlg.report_label.text().lower()
    # semantic PNGs
    dlg.format.setCurrentIndex(dlg.format.findData("semantic"))
    dlg.out.setText(str(tmp_path / "sem"))
    with qtbot.waitSignal(dlg.exported, timeout=30_000):
        dlg.export_btn.click()
    assert list((tmp_path / "sem").glob("*.png"))
    json.loads(out.read_text())  # the COCO file is still intact


def test_analyse_all_clusters_dataset(qtbot, folder):
    w = open_window(qtbot, folder, n_clusters=3)
    with qtbot.waitSignal(w.batchFinished, timeout=TIMEOUT) as sig:
        w.actions_["analyse_all"].trigger()
    summary = sig.args[0]
    assert summary.n_analysed == 3 and summary.n_clusters == 3
    semantic = [s for r in w.store.images() for s in w.store.segments(r.id, source="dsm.semantic")]
    assert semantic and {s.label for s in semantic} <= {0, 1, 2}
    assert "dsm.semantic" in [w.segment_panel.source_combo.itemText(i)
                              for i in range(w.segment_panel.source_combo.count())]
    w.segment_panel.set_source_filter("dsm.semantic")
    assert {r.source for r in w.segment_panel.records()} == {"dsm.semantic"}


def test_backbone_load_error_is_shown_not_raised(qtbot, folder, monkeypatch):
    # the default DINO backbone with the hub unreachable (conftest sets HF_HUB_OFFLINE=1)
    monkeypatch.setenv("MASKCURATOR_BACKBONE", "dino_vits16")
    w = open_window(qtbot, folder, wait=False)
    with qtbot.waitSignal(w.errorShown, timeout=TIMEOUT) as sig:
        pass
    assert sig.args[0] == "Backbone could not be loaded" and "Could not download" in sig.args[1]
    assert w.stack.currentWidget() is w.canvas  # the photo is still shown for manual curation
    # no retry storm: the next image does not submit another doomed analysis
    assert w.request_analysis(w.current_id) is None
    # a missing checkpoint file is reported the same way after changing the preference
    w.apply_settings(replace(w.settings, backbone=str(folder / "missing.pth")))
    qtbot.waitUntil(lambda: "Checkpoint not found" in (w.last_error or ("", ""))[1], timeout=TIMEOUT)


def test_settings_persist_and_preferences_dialog(qtbot, folder):
    from app.main_window import MainWindow
    from app.settings_dialog import SettingsDialog

    w = open_window(qtbot, folder)
    w.set_eigen_index(4)
    w.canvas.set_layer_opacity("eigen", 0.25)
    dlg = SettingsDialog(w.settings, "cpu", w)
    dlg.backbone.setCurrentText("random_vitt16")
    dlg.n_segments.setValue(3)
    new = dlg.result_settings()
    assert new.backbone == "random_vitt16" and new.n_segments == 3
    w.apply_settings(new)
    w.close()
    w2 = MainWindow(folder, device="cpu")
    qtbot.addWidget(w2)
    assert w2.eigen_index == 4 and w2.canvas.layer_opacity("eigen") == pytest.approx(0.25)
    assert w2.settings.n_segments == 3
    assert w2.settings.backbone == "random_vits16"  # the env override wins, the preference is kept
    assert w2.store.get_setting("analysis.backbone") == "random_vitt16"


# -- training dialog with a tiny registered method ---------------------------------------------------

@dataclass(frozen=True)
class _TinyConfig:
    steps: int = 3
    threshold: float = 0.5
    invert: bool = False


class _TinyPredictor:
    def __init__(self, threshold: float, invert: bool):
        self.threshold, self.invert = threshold, invert

    def predict(self, rgb, tags=()):
        from engine.proposals import Proposal

        grey = rgb.mean(axis=2) / 255.0
        mask = grey > self.threshold
        return [Proposal(~mask if self.invert else mask, "tiny", label=0, name="bright")]


def _tiny_train(dataset, cfg, ctx, workdir):
    import torch

    for i in range(cfg.steps):
        ctx.progress((i + 1) / cfg.steps, f"step {i + 1}")
    path = Path(workdir) / "tiny.pt"
    torch.save({"state_dict": {}, "config": {"threshold": cfg.threshold, "invert": cfg.invert},
                "n_images": len(dataset.images)}, path)
    return path


def _tiny_load(path, device):
    import torch

    ck = torch.load(path, weights_only=True)
    return _TinyPredictor(ck["config"]["threshold"], ck["config"]["invert"])


def test_train_dialog_trains_and_runs_on_dataset(qtbot, folder):
    from engine.methods.base import MethodInfo

    w = open_window(qtbot, folder)
    info = MethodInfo("tiny", "Tiny threshold", _TinyConfig, _tiny_train, _tiny_load, "test method")
    dlg = w.open_train_dialog(methods={"tiny": info})
    assert set(dlg.editors) == {"steps", "threshold", "invert"}
    dlg.set_value("threshold", 0.4)
    dlg.set_value("invert", True)
    cfg = dlg.build_config()
    assert cfg == _TinyConfig(steps=3, threshold=0.4, invert=True)
    dlg.set_value("steps", "not-a-number")
    assert dlg.start_training() is None and "steps" in dlg.last_error
    dlg.set_value("steps", 4)
    with qtbot.waitSignal(dlg.trained, timeout=30_000) as sig:
        dlg.train_btn.click()
    ckpt = sig.args[1]
    assert ckpt.exists() and ckpt.parent.parent == folder / ".maskcurator" / "models"
    assert dlg.run_btn.isEnabled()
    with qtbot.waitSignal(dlg.proposalsUpdated, timeout=30_000):
        dlg.run_btn.click()
    assert dlg.last_result.n_images == 3 and dlg.last_result.n_proposals == 3
    props = w.store.segments(w.current_id, source="tiny")
    assert len(props) == 1
    rgb = w._load_rgb(w.store.image(w.current_id))
    assert np.array_equal(w.store.segment_mask(props[0].id), ~(rgb.mean(axis=2) / 255.0 > 0.4))
    assert "tiny" in [w.segment_panel.source_combo.itemText(i) for i in range(w.segment_panel.source_combo.count())]


def test_export_dialog_asks_before_replacing_a_foreign_file_and_never_an_image(qtbot, folder, tmp_path):
    w = open_window(qtbot, folder)
    st = w.store
    seg = st.segments(w.current_id, source="dsm.object")[0]
    st.set_segments_state([seg.id], "accepted")
    dlg = w.open_export_dialog()
    dlg.image_filter.setCurrentText("All images except rejected")
    dlg.include_unlabelled.setChecked(True)
    foreign = tmp_path / "notes.json"
    foreign.write_text("my notes")
    asked: list[str] = []
    dlg.confirm_replace = lambda msg: asked.append(msg) or False  # the user says No
    dlg.out.setText(str(foreign))
    assert dlg.start_export() is None
    assert asked and foreign.read_text() == "my notes" and dlg.last_error
    dlg.confirm_replace = lambda msg: asked.append(msg) or True  # … and then Yes
    with qtbot.waitSignal(dlg.exported, timeout=30_000):
        assert dlg.start_export() is not None
    assert foreign.read_text() != "my notes"
    # a photo of the project is never replaced, and the user is not even asked
    photo = next(folder.glob("*.png"))
    before, n = photo.read_bytes(), len(asked)
    dlg.out.setText(str(photo))
    assert dlg.start_export() is None
    assert len(asked) == n and photo.read_bytes() == before and dlg.last_error
