"""GUI tests of the REAL trainable methods (STEGO, ReDO, IAL) through the Train dialog.

Each test opens the main window on three demo photos shrunk to ~128 px, types tiny settings into the
dialog's generated form, trains on the engine thread, waits for the checkpoint, clicks "Run on
dataset" and checks that the proposals reach the segment panel (source filter), the canvas overlay
and the store (accepting one). Random ViT-Ti/16 weights and a few steps give meaningless masks, so
only behaviour is checked, never quality.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QCheckBox, QStyle, QStyleOptionButton  # noqa: E402

from test_app import open_window  # noqa: E402

DEMO = ("chelsea.png", "coffee.png", "rocket.jpg")
THUMB = 128
TIMEOUT = 90_000  # ms; the 2-core machine is shared, training loads timm + a backbone

# Tiny settings, typed into the form as text (the dialog parses them like the CLI's --set).
STEGO = {"backbone": "random_vitt16", "resolution": "64", "steps": "10", "batch_size": "4", "n_clusters": "4",
         "feature_batch": "8", "checkpoint_every": "0", "crf": False, "flip_tta": False,
         "predict_resolution": "96", "max_side": "128"}
REDO = {"image_size": "32", "batch_size": "4", "steps": "10", "nf_mask": "8", "nf_generator": "8",
        "nf_discriminator": "8", "nf_encoder": "8", "mask_res_blocks": "1", "self_attention_g": False,
        "self_attention_d": False, "validate_every": "5", "checkpoint_every": "5", "val_fraction": "0.34",
        "collapse_check_every": "5"}
IAL = {"backbone": "random_vitt16", "image_size": "96", "cam_steps": "10", "unary_steps": "5",
       "affinity_steps": "5", "rounds": "1", "rw_iterations": "8", "cam_scales": "1.0", "cam_flip": False,
       "use_crf": False, "unary_dim": "16", "affinity_dim": "8", "affinity_radius": "3", "batch_size": "3",
       "slic_segments": "20"}


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKCURATOR_SETTINGS", str(tmp_path / "user-settings.ini"))
    monkeypatch.setenv("MASKCURATOR_BACKBONE", "random_vitt16")
    monkeypatch.setenv("MASKCURATOR_MAX_SIDE", "128")
    monkeypatch.setenv("MASKCURATOR_NO_DIALOGS", "1")
    monkeypatch.setenv("MASKCURATOR_DEVICE", "cpu")


@pytest.fixture
def small_folder(tmp_path, demo_dir) -> Path:
    """The demo photos shrunk to a ~128 px longer side (keeps every method's CPU run to seconds)."""
    import cv2

    d = tmp_path / "photos"
    d.mkdir()
    for name in DEMO:
        bgr = cv2.imread(str(demo_dir / name), cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        s = THUMB / max(h, w)
        small = cv2.resize(bgr, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(d / (Path(name).stem + ".png")), small)
    return d


def fill_form(qtbot, dlg, values: dict) -> None:
    """Type each value into its editor like a user (clear + key clicks; click a checkbox to toggle)."""
    for name, value in values.items():
        w = dlg.editors[name]
        if isinstance(w, QCheckBox):
            if w.isChecked() != bool(value):  # click the indicator (the row has no text to click)
                opt = QStyleOptionButton()
                w.initStyleOption(opt)
                box = w.style().subElementRect(QStyle.SubElement.SE_CheckBoxIndicator, opt, w)
                qtbot.mouseClick(w, Qt.MouseButton.LeftButton, pos=box.center())
            assert w.isChecked() == bool(value), name
        else:
            w.clear()
            qtbot.keyClicks(w, str(value))
            assert w.text() == str(value), f"{name}: the form rejected {value!r}"


def open_method(qtbot, w, method: str, values: dict):
    dlg = w.open_train_dialog()
    assert method in dlg.methods, f"{method} is not registered: {sorted(dlg.methods)}"
    dlg.method.setCurrentIndex(dlg.method.findData(method))
    assert dlg.current_info().name == method
    fill_form(qtbot, dlg, values)
    return dlg


def train_and_run(qtbot, w, dlg) -> Path:
    """Start training, wait for the checkpoint, run on the dataset; returns the checkpoint path."""
    qtbot.mouseClick(dlg.train_btn, Qt.MouseButton.LeftButton)
    assert dlg.job is not None, dlg.last_error
    qtbot.waitUntil(lambda: dlg.checkpoint is not None or dlg.last_error is not None, timeout=TIMEOUT)
    assert dlg.last_error is None, dlg.last_error
    ckpt = dlg.checkpoint
    assert ckpt.exists() and ckpt.is_relative_to(w.paths.models)
    assert dlg.status.text().startswith("Trained:") and dlg.run_btn.isEnabled()
    with qtbot.waitSignal(dlg.proposalsUpdated, timeout=TIMEOUT) as sig:
        qtbot.mouseClick(dlg.run_btn, Qt.MouseButton.LeftButton)
    assert sig.args == [dlg.current_info().name]
    assert dlg.last_error is None, dlg.last_error
    assert dlg.last_result.n_images == len(DEMO) and not dlg.last_result.failures
    assert "proposals stored" in dlg.status.text()
    return ckpt


def check_shown_and_accept(qtbot, w, source: str) -> None:
    """Proposals of ``source`` are listed (filtered), drawn on the canvas and can be accepted."""
    st = w.store
    stored = st.segments(w.current_id, source=source)
    assert stored, f"no {source} proposals on the current image"
    combo = w.segment_panel.source_combo
    assert source in [combo.itemText(i) for i in range(combo.count())]
    w.segment_panel.set_source_filter(source)
    recs = w.segment_panel.records()
    assert recs and {r.source for r in recs} == {source}
    assert {r.id for r in recs} == {s.id for s in stored}
    assert w.segment_panel.tree.topLevelItemCount() == len(stored)
    # drawn: the canvas maps a pixel inside the first proposal back to a segment of this source, and
    # the overlay is not transparent there
    target = stored[0]
    mask = st.segment_mask(target.id)
    ys, xs = np.nonzero(mask)
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    hit = w.canvas.segment_at(x + 0.5, y + 0.5)
    assert hit in {s.id for s in stored}
    rgba = w.canvas.segments_rgba()
    dh, dw = w.canvas.display_shape
    assert rgba[min(dh - 1, y * dh // mask.shape[0]), min(dw - 1, x * dw // mask.shape[1]), 3] > 0
    # accept through the panel's button: one store update, shown in the list
    w.segment_panel.select_ids([target.id])
    qtbot.mouseClick(w.segment_panel.accept_btn, Qt.MouseButton.LeftButton)
    assert str(getattr(st.segment(target.id).state, "value", st.segment(target.id).state)) == "accepted"
    row = next(r for r in w.segment_panel.records() if r.id == target.id)
    assert str(getattr(row.state, "value", row.state)) == "accepted"
    assert st.undo_description() is not None


def test_stego_train_and_run_on_dataset(qtbot, small_folder):
    w = open_window(qtbot, small_folder)
    dlg = open_method(qtbot, w, "stego", STEGO)
    cfg = dlg.build_config()
    assert (cfg.backbone, cfg.steps, cfg.n_clusters, cfg.crf) == ("random_vitt16", 10, 4, False)
    train_and_run(qtbot, w, dlg)
    labels = {s.label for s in w.store.segments(w.current_id, source="stego")}
    assert labels <= set(range(4))
    check_shown_and_accept(qtbot, w, "stego")
    # the filter is sticky: paging on keeps "stego"; a source the image lacks shows nothing, not everything
    first = w.current_id
    w.next_image()
    qtbot.waitUntil(lambda: w.current_id != first and w._displayed_id == w.current_id, timeout=TIMEOUT)
    assert w.segment_panel.source_filter() == "stego"
    assert {r.source for r in w.segment_panel.records()} == {"stego"}
    w.segment_panel.set_source_filter("ial")
    assert w.segment_panel.source_filter() == "ial" and w.segment_panel.records() == []
    assert not w.canvas.layer_has_data("segments")


def test_redo_train_and_run_on_dataset(qtbot, small_folder):
    w = open_window(qtbot, small_folder)
    dlg = open_method(qtbot, w, "redo", REDO)
    cfg = dlg.build_config()
    assert (cfg.image_size, cfg.steps, cfg.nf_mask, cfg.self_attention_g) == (32, 10, 8, False)
    train_and_run(qtbot, w, dlg)
    check_shown_and_accept(qtbot, w, "redo")


def test_ial_train_with_tags_and_run_on_dataset(qtbot, small_folder):
    w = open_window(qtbot, small_folder)
    st = w.store
    w.class_manager.add_class("cat")
    w.class_manager.add_class("cup")
    cat, cup = (c.id for c in st.classes())
    first = w.current_id
    by_name = {Path(r.path).name: r.id for r in st.images()}
    # tag through the "Image tags" panel, image by image, as a user would
    for name, cls in (("chelsea.png", cat), ("coffee.png", cup)):
        w.show_image(by_name[name])
        assert w.tags_panel.image_id == by_name[name] and w.tags_panel.list.count() == 2
        w.tags_panel.set_checked(cls, True)
        assert list(st.image_tags(by_name[name])) == [cls]
    w.show_image(first)
    qtbot.waitUntil(lambda: w._displayed_id == first, timeout=TIMEOUT)
    dlg = open_method(qtbot, w, "ial", IAL)
    assert "tags" in dlg.description.text()
    assert [im.tags for im in dlg.training_set().images if im.tags]  # what the job will see
    train_and_run(qtbot, w, dlg)
    tagged = {by_name["chelsea.png"]: "cat", by_name["coffee.png"]: "cup"}
    for image_id, name in tagged.items():  # prediction is restricted to the image's tags
        assert {s.name for s in st.segments(image_id, source="ial")} <= {name}
    w.show_image(by_name["chelsea.png"])
    qtbot.waitUntil(lambda: w._displayed_id == by_name["chelsea.png"], timeout=TIMEOUT)
    check_shown_and_accept(qtbot, w, "ial")


def test_dialog_locks_method_while_training_close_keeps_it_and_status_bar_cancels(qtbot, small_folder):
    w = open_window(qtbot, small_folder)
    dlg = open_method(qtbot, w, "stego", {**STEGO, "steps": "100000"})
    qtbot.mouseClick(dlg.train_btn, Qt.MouseButton.LeftButton)
    assert dlg.job is not None
    rid = dlg.job.rid
    qtbot.waitUntil(lambda: dlg.progress.value() > 0 or dlg.last_error is not None, timeout=TIMEOUT)
    assert dlg.last_error is None, dlg.last_error
    # switching the method now would pair STEGO's checkpoint with another predictor
    assert not dlg.method.isEnabled() and not dlg.form_host.isEnabled() and dlg.cancel_btn.isEnabled()
    dlg.close()  # the dialog is non-modal and only hides: the training goes on in the background
    qtbot.wait(300)
    assert dlg.job is not None and not dlg.job.done and w.jobs.busy()
    assert "background" in w.status_label.text()
    with qtbot.waitSignal(w.bridge.jobFinished, timeout=TIMEOUT, check_params_cb=lambda h: h.rid == rid):
        w.jobs.cancel()  # the status bar's Cancel stops it
    assert w.bridge.engine.wait_idle(timeout=10)
    assert w.request_analysis(w.current_id, replace=True) is not None  # the engine serves analysis again


def test_ial_without_tags_says_so_in_the_dialog(qtbot, small_folder):
    w = open_window(qtbot, small_folder)
    w.class_manager.add_class("cat")  # a class list but no image tagged with it
    dlg = open_method(qtbot, w, "ial", IAL)
    qtbot.mouseClick(dlg.train_btn, Qt.MouseButton.LeftButton)
    assert dlg.job is None  # nothing was submitted to the engine
    assert dlg.last_error is not None and "needs image-level tags" in dlg.last_error
    assert "needs image-level tags" in dlg.status.text() and dlg.status.text().startswith("Error:")
    assert dlg.train_btn.isEnabled() and not dlg.run_btn.isEnabled() and dlg.isVisible()
    assert not list(w.paths.models.glob("ial-*"))
    assert not [s for r in w.store.images() for s in w.store.segments(r.id, source="ial")]
