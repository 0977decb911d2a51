"""A new user's first hour (issue 11): keys that stay in the field they are typed into, an offline
backbone offered once, background training, honest progress, fresh status text, canvas navigation,
recent folders. Real window, real demo photos, random ViT-S/16 (behaviour only, never quality).
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtGui import QWheelEvent  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from test_app import DEMO, TIMEOUT, _app_env, folder, key, open_window  # noqa: E402,F401  (fixtures)


def focus(qtbot, widget) -> None:
    widget.window().activateWindow()
    widget.setFocus(Qt.FocusReason.OtherFocusReason)
    qtbot.waitUntil(widget.hasFocus, timeout=5000)


def status_of(w, image_id) -> str:
    return str(getattr(w.store.image(image_id).status, "value", w.store.image(image_id).status))


@pytest.fixture
def broken_folder(folder) -> Path:
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    return folder


@pytest.fixture
def six_folder(tmp_path, demo_dir) -> Path:
    d = tmp_path / "six"
    d.mkdir()
    for i, name in enumerate(DEMO * 2):
        shutil.copy(demo_dir / name, d / f"{i}_{name}")
    return d


# -- 1. keys typed into a field stay there ---------------------------------------------------------

def test_enter_and_backspace_in_spin_boxes_do_not_review_the_image(qtbot, folder):
    w = open_window(qtbot, folder)
    first = w.current_id
    spin = w.layers_panel.brush_radius
    focus(qtbot, spin)
    spin.selectAll()
    QTest.keyClicks(spin, "20")
    QTest.keyClick(spin, Qt.Key.Key_Return)
    assert spin.value() == 20 and w.canvas.brush_radius == 20
    assert w.current_id == first and status_of(w, first) == "todo"
    QTest.keyClick(spin, Qt.Key.Key_Backspace)
    QTest.keyClick(spin, Qt.Key.Key_Delete)
    assert w.current_id == first and status_of(w, first) == "todo"
    eigen = w.layers_panel.controls["eigen"].index
    focus(qtbot, eigen)
    eigen.selectAll()
    QTest.keyClick(eigen, Qt.Key.Key_Backspace)
    QTest.keyClicks(eigen, "4")
    QTest.keyClick(eigen, Qt.Key.Key_Enter)
    assert w.eigen_index == 4
    assert w.current_id == first and status_of(w, first) == "todo"
    # with the focus back on the canvas the review keys work as before
    focus(qtbot, w.canvas.view_widget)
    QTest.keyClick(w.canvas.view_widget, Qt.Key.Key_Return)
    assert status_of(w, first) == "accepted" and w.current_id != first


def test_delete_in_the_segment_list_deletes_the_selected_segments(qtbot, folder):
    w = open_window(qtbot, folder)
    img, panel = w.current_id, w.segment_panel
    ids = [r.id for r in panel.records()][:2]
    panel.select_ids(ids)
    focus(qtbot, panel.tree)
    QTest.keyClick(panel.tree, Qt.Key.Key_Delete)
    assert w.current_id == img and status_of(w, img) == "todo"  # not "reject the whole image"
    assert not set(ids) & {s.id for s in w.store.segments(img)}
    assert "Delete" in (w.store.undo_description() or "")


# -- 3. backbone: command line, user preference, offline offer, cancel -----------------------------

def test_main_py_backbone_flag_reaches_the_app(qtbot, folder, monkeypatch):
    import app.main_window as mw
    import main

    monkeypatch.delenv("MASKCURATOR_BACKBONE")
    calls = []
    monkeypatch.setattr(mw, "run_app", lambda *a, **kw: calls.append((a, kw)) or 0)
    assert main.main(["--backbone", "random_vitt16", str(folder)]) == 0
    (args, kwargs), = calls
    assert Path(args[0]) == folder and kwargs["backbone"] == "random_vitt16"
    w = mw.MainWindow(folder, device="cpu", backbone="random_vitt16")
    qtbot.addWidget(w)
    assert w.settings.backbone == "random_vitt16"
    assert w.store.get_setting("analysis.backbone") != "random_vitt16"  # this run only, like the env


def test_backbone_preference_is_inherited_by_new_projects(qtbot, folder, tmp_path, demo_dir, monkeypatch):
    from dataclasses import replace

    from app import user_settings
    from app.main_window import MainWindow

    monkeypatch.delenv("MASKCURATOR_BACKBONE")
    user_settings.set_default_backbone("random_vits16")
    w = MainWindow(folder, device="cpu")
    qtbot.addWidget(w)
    assert w.settings.backbone == "random_vits16"
    w.apply_settings(replace(w.settings, backbone="random_vitt16"))  # Preferences → OK
    assert user_settings.default_backbone("x") == "random_vitt16"
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(demo_dir / "coffee.png", other / "coffee.png")
    assert w.open_folder(other)
    assert w.settings.backbone == "random_vitt16"


def test_unreachable_hub_is_said_once_and_offers_the_offline_backbone(qtbot, folder, monkeypatch):
    from engine.backbone import available_backbones

    from app import user_settings

    monkeypatch.delenv("MASKCURATOR_BACKBONE")
    user_settings.set_default_backbone("dino_vits16")  # HF_HUB_OFFLINE=1: fails at once
    w = open_window(qtbot, folder, wait=False)
    with qtbot.waitSignal(w.errorShown, timeout=TIMEOUT) as sig:
        pass
    title, text = sig.args
    offline = "filters" if "filters" in available_backbones() else "random_vits16"
    assert offline in text and w.backbone_offer.offline == offline
    if offline.startswith("random"):
        assert "meaningless" in text
    errors = []
    w.errorShown.connect(lambda *a: errors.append(a))
    key(qtbot, w, Qt.Key.Key_Right)  # another image: no second message
    qtbot.wait(300)
    assert not errors
    with qtbot.waitSignal(w.analysisApplied, timeout=TIMEOUT):
        w.backbone_offer.use_offline()
    assert w.settings.backbone == offline and not errors


def test_cancel_stops_the_wait_keeps_the_photo_and_close_is_prompt(qtbot, folder, monkeypatch):
    import engine.curation as tasks_mod

    release = threading.Event()

    def stuck(ctx, **_kw):  # a backbone download that never answers and never checks for cancel
        ctx.progress(0.05, "Loading backbone dino_vits16")
        release.wait(30)

    monkeypatch.setattr(tasks_mod, "analyze_image", stuck)
    w = open_window(qtbot, folder, wait=False)
    try:
        qtbot.waitUntil(w.jobs.cancel_button.isEnabled, timeout=TIMEOUT)
        qtbot.mouseClick(w.jobs.cancel_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not w.jobs.bar.isVisible(), timeout=1000)  # not after the engine's 30 s
        qtbot.waitUntil(lambda: w._displayed_id == w.current_id, timeout=TIMEOUT)
        assert w.stack.currentWidget() is w.canvas and w.canvas.image_shape is not None
        assert "cancel" in w.status_label.text().lower()
        t0 = time.perf_counter()
        w.close()
        assert time.perf_counter() - t0 < 3.0  # the engine is stuck: closing must not wait for it
    finally:
        release.set()


# -- 4. / 11. training ------------------------------------------------------------------------------

def test_train_dialog_starts_from_the_project_backbone(qtbot, folder):
    w = open_window(qtbot, folder)
    dlg = w.open_train_dialog()
    for method in ("stego", "ial"):
        dlg.method.setCurrentIndex(dlg.method.findData(method))
        assert dlg.editors["backbone"].text() == w.settings.backbone == "random_vits16"
    assert dlg.build_config().backbone == "random_vits16"


@dataclass(frozen=True)
class _SlowConfig:
    steps: int = 30


def _slow_train(dataset, cfg, ctx, workdir):
    import torch

    for i in range(cfg.steps):
        ctx.progress((i + 1) / cfg.steps, f"step {i + 1}")
        time.sleep(0.05)
    path = Path(workdir) / "slow.pt"
    torch.save({"state_dict": {}, "config": {}}, path)
    return path


def test_training_runs_in_the_background_and_curation_goes_on(qtbot, folder):
    from engine.methods.base import MethodInfo

    w = open_window(qtbot, folder)
    info = MethodInfo("slow", "Slow", _SlowConfig, _slow_train, lambda p, d: None, "test method")
    dlg = w.open_train_dialog(methods={"slow": info})
    assert not dlg.isModal()
    dlg.train_btn.click()
    qtbot.waitUntil(lambda: w.jobs.busy() and w.jobs.bar.isVisible(), timeout=10_000)
    assert "slow" in w.jobs.label.text().lower()
    dlg.close()  # closing the window does not stop the training
    job = dlg.job
    assert job is not None and not job.done
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    first = w.current_id
    key(qtbot, w, Qt.Key.Key_Return)  # curation goes on meanwhile
    assert status_of(w, first) == "accepted"
    with qtbot.waitSignal(dlg.trained, timeout=TIMEOUT):
        pass
    assert "trained" in w.status_label.text().lower()
    qtbot.waitUntil(lambda: not w.jobs.busy(), timeout=5000)
    # the status bar's Cancel stops a background training
    w.open_train_dialog(methods={"slow": info}).train_btn.click()
    qtbot.waitUntil(w.jobs.busy, timeout=10_000)
    with qtbot.waitSignal(w.train_dialog.job.cancelled, timeout=10_000):
        w.jobs.cancel()


# -- 5. prefetch ------------------------------------------------------------------------------------

def test_the_next_n_todo_images_are_analysed_ahead(qtbot, six_folder):
    from app import user_settings

    user_settings.set_prefetch_count(3)
    w = open_window(qtbot, six_folder)
    ids = [r.id for r in w.store.images()]
    assert w.current_id == ids[0]
    qtbot.waitUntil(lambda: set(ids[1:4]) <= set(w.analysis.overlays), timeout=TIMEOUT)
    assert ids[4] not in w.analysis.overlays and ids[4] not in w.analysis.prefetching
    key(qtbot, w, Qt.Key.Key_Return)  # accept → image 2; image 5 is now within reach
    assert w.current_id == ids[1]
    qtbot.waitUntil(lambda: ids[4] in w.analysis.overlays, timeout=TIMEOUT)
    assert ids[5] not in w.analysis.overlays


# -- 6. export --------------------------------------------------------------------------------------

def test_export_defaults_to_accepted_images_and_warns_with_counts(qtbot, folder):
    w = open_window(qtbot, folder)
    key(qtbot, w, Qt.Key.Key_Return)  # accept the first image (its segments are all still proposed)
    dlg = w.open_export_dialog()
    assert dlg.image_filter.currentText() == "Accepted images only"
    assert "1 accepted image" in dlg.warning.text() and "no accepted segments" in dlg.warning.text()
    dlg.image_filter.setCurrentText("All images except rejected")
    assert "2 images not reviewed" in dlg.warning.text()
    dlg.state_proposed.setChecked(True)
    assert "no accepted segments" not in dlg.warning.text()


# -- 7. relabel, class box, click cycling, colours -------------------------------------------------

def test_relabel_says_it_accepts_and_class_box_follows_a_merge(qtbot, folder):
    w = open_window(qtbot, folder)
    st, panel = w.store, w.segment_panel
    w.class_manager.add_class("cat")
    cat = st.classes()[0].id
    segs = st.segments(w.current_id, source="dsm.segment")
    a, b = segs[0].id, segs[1].id
    panel.select_ids([a])
    assert panel.class_combo.currentData() is None
    panel.relabel_selected(cat)
    assert st.segment(a).state == "accepted" and "accepted" in w.status_label.text()
    assert "cat" in w.status_label.text()
    panel.select_ids([b])
    assert panel.class_combo.currentData() is None  # b is unlabelled
    panel.select_ids([b, a])
    key(qtbot, w, Qt.Key.Key_M)
    merged = panel.selected_ids()
    assert len(merged) == 1 and st.segment(merged[0]).class_id == cat
    assert panel.class_combo.currentData() == cat


def test_repeated_clicks_cycle_through_overlapping_segments(qtbot, folder):
    w = open_window(qtbot, folder)
    layer = w.canvas.layer("segments")
    h, wd = w.canvas.image_shape
    spot = next((x + 0.5, y + 0.5) for y in range(5, h, 17) for x in range(5, wd, 17)
                if len(layer.segments_at(x + 0.5, y + 0.5)) >= 2)
    hits = layer.segments_at(*spot)
    picked = []
    for _ in range(len(hits) + 1):
        w.canvas.clicked.emit(*spot)
        picked.append(w.segment_panel.selected_ids())
    assert picked == [[h_] for h_ in hits] + [[hits[0]]]


def test_cluster_colours_stay_distinct():
    from app.overlays import segment_color

    for source in ("stego", "dsm.semantic"):
        colours = [np.array(segment_color(source, k, 0), float) for k in range(27)]
        dist = min(np.abs(a - b).sum() for i, a in enumerate(colours) for b in colours[i + 1:])
        assert dist > 40, source


# -- 8. progress --------------------------------------------------------------------------------------

def test_analyse_all_progress_is_images_done_of_total_with_eta(qtbot, folder, monkeypatch):
    import app.analysis_controller as ac
    import engine.curation as tasks_mod

    monkeypatch.setattr(ac, "BATCH_CHUNK", 1)  # three chunk jobs, each reporting "1 of 1" itself
    real = tasks_mod.analyze_batch

    def slower(ctx, **kw):  # features are cached: make each chunk last long enough for an estimate
        time.sleep(0.6)
        return real(ctx, **kw)

    monkeypatch.setattr(tasks_mod, "analyze_batch", slower)
    w = open_window(qtbot, folder, n_clusters=0)
    qtbot.waitUntil(lambda: not w.bridge.engine.busy, timeout=TIMEOUT)  # prefetches
    shutil.rmtree(folder / ".maskcurator" / "cache" / "analysis")  # analyse for real, not from the cache
    texts, values = [], []
    w.jobs.message.connect(texts.append)
    w.jobs.bar.valueChanged.connect(values.append)
    with qtbot.waitSignal(w.batchFinished, timeout=TIMEOUT):
        w.analyse_all()
    shown = [t for t in texts if t]
    assert shown and all(re.match(r"Analyse all: \d/3 images", t) for t in shown), shown
    assert any("left" in t for t in shown), shown  # an ETA once an image is done
    assert values == sorted(values) and max(values) == 100
    assert "3/3" in w.status_label.text()


def test_single_image_analysis_shows_a_busy_bar_not_a_fake_percentage(qtbot, folder, monkeypatch):
    import engine.curation as tasks_mod

    w = open_window(qtbot, folder)
    gate = threading.Event()
    real = tasks_mod.analyze_image

    def slow(ctx, **kw):
        ctx.progress(0.05, "Loading backbone")
        gate.wait(10)
        return real(ctx, **kw)

    monkeypatch.setattr(tasks_mod, "analyze_image", slow)
    w.request_analysis(w.current_id, replace=True)
    qtbot.waitUntil(w.jobs.bar.isVisible, timeout=10_000)
    assert w.jobs.bar.maximum() == 0  # busy indicator
    gate.set()
    qtbot.waitUntil(lambda: not w.jobs.bar.isVisible(), timeout=TIMEOUT)


# -- 9. / 10. stale text, unreadable images --------------------------------------------------------

def test_status_eigenvalues_and_undo_text_follow_the_current_image(qtbot, broken_folder):
    w = open_window(qtbot, broken_folder)
    first = w.store.image(w.current_id)
    key(qtbot, w, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)  # eigenvector 3
    assert "λ" in w.status_label.text()
    broken = next(r for r in w.store.images() if r.path.endswith("broken.jpg"))
    w.show_image(broken.id)
    assert "λ" not in w.status_label.text() and "broken.jpg" in w.status_label.text()
    assert w.layers_panel.controls["eigen"].info.text() == ""
    w.show_image(first.id)
    key(qtbot, w, Qt.Key.Key_Return)
    assert Path(first.path).name in w.store.undo_description()
    w.class_manager.add_class("dog")
    w.show_image(first.id)
    seg = w.segment_panel.records()[0]
    w.segment_panel.select_ids([seg.id])
    w.segment_panel.relabel_selected(w.store.classes()[0].id)
    assert "dog" in w.store.undo_description()


def test_enter_on_an_unreadable_image_does_not_accept_it(qtbot, broken_folder):
    w = open_window(qtbot, broken_folder)
    broken = next(r for r in w.store.images() if r.path.endswith("broken.jpg"))
    w.show_image(broken.id)
    key(qtbot, w, Qt.Key.Key_Return)
    assert status_of(w, broken.id) == "todo"
    assert "broken.jpg" in w.status_label.text() and "read" in w.status_label.text()


# -- 12. canvas ------------------------------------------------------------------------------------

def test_escape_clears_selection_fit_one_to_one_and_gentle_zoom(qtbot, folder):
    w = open_window(qtbot, folder)
    c, panel = w.canvas, w.segment_panel
    sid = panel.records()[0].id
    panel.select_ids([sid])
    key(qtbot, w, Qt.Key.Key_B)
    key(qtbot, w, Qt.Key.Key_Escape)  # leaves the brush, keeps the selection
    assert c.mode == "view" and panel.selected_ids() == [sid]
    key(qtbot, w, Qt.Key.Key_Escape)
    assert panel.selected_ids() == []
    h, wd = c.image_shape
    c.view.scaleBy((0.2, 0.2))
    key(qtbot, w, Qt.Key.Key_F)
    r = c.view.viewRect()
    assert r.width() >= wd * 0.99 and r.height() >= h * 0.99
    assert r.width() <= wd * 1.6 or r.height() <= h * 1.6  # fitted, not far out
    key(qtbot, w, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    px = c.view.viewPixelSize()
    assert px[0] == pytest.approx(1.0, rel=0.02) and px[1] == pytest.approx(1.0, rel=0.02)
    c.view.scaleBy((0.2, 0.2))
    vp = c.view_widget.viewport()
    QTest.mouseMove(vp, vp.rect().center())  # pyqtgraph delivers clicks to the item hovered
    qtbot.wait(20)
    QTest.mouseDClick(vp, Qt.MouseButton.LeftButton, pos=vp.rect().center())
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, pos=vp.rect().center())  # a real one ends so
    qtbot.waitUntil(lambda: c.view.viewRect().width() >= wd * 0.99, timeout=2000)
    before = c.view.viewRect().width()
    center = QPointF(vp.rect().center())
    ev = QWheelEvent(center, QPointF(vp.mapToGlobal(vp.rect().center())), QPoint(0, 0), QPoint(0, 120),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, ev)
    ratio = before / c.view.viewRect().width()
    assert 1.05 < ratio < 1.2  # one wheel notch: a gentle step


# -- 13. quit, recent folders, reopen where you were -----------------------------------------------

def test_quit_recent_folders_and_reopen_at_the_last_image(qtbot, folder, monkeypatch):
    from PySide6.QtWidgets import QFileDialog

    from app import user_settings
    from app.main_window import MainWindow

    w = open_window(qtbot, folder)
    assert user_settings.recent_folders()[0] == str(folder.resolve())
    recent = w.recent_menu.actions()
    assert recent and str(folder.resolve()) in recent[0].text() + recent[0].data()
    ids = [r.id for r in w.store.images()]
    w.show_image(ids[2])
    seen = []
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **kw: seen.append(a) or "")
    w.actions_["open"].trigger()
    assert seen and seen[0][2] == str(folder.resolve().parent)
    assert w.actions_["quit"].shortcut().toString() == "Ctrl+Q"
    w.actions_["quit"].trigger()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=5000)
    w2 = MainWindow(folder, device="cpu")
    qtbot.addWidget(w2)
    assert w2.current_id == ids[2]


# -- 14. polish ------------------------------------------------------------------------------------

def test_export_dialog_keeps_its_fields_with_a_long_message(qtbot, folder):
    w = open_window(qtbot, folder)
    dlg = w.open_export_dialog()
    dlg.report_label.setText("Export failed: " + " ".join(f"image_{i}.jpg cannot be read;" for i in range(60)))
    qtbot.wait(50)
    for widget in (dlg.format, dlg.out, dlg.image_filter, dlg.export_btn):
        assert widget.height() >= widget.minimumSizeHint().height(), widget
    assert dlg.height() < 900


def test_unchecked_checkboxes_are_visible_and_columns_fit(qtbot, folder):
    from PySide6.QtWidgets import QCheckBox

    from app.resources import style_sheet

    box = QCheckBox("")
    box.setStyleSheet(style_sheet())
    box.resize(24, 24)
    qtbot.addWidget(box)
    img = box.grab().toImage()
    lum = [img.pixelColor(x, y).lightness() for x in range(img.width()) for y in range(img.height())]
    assert max(lum) - min(lum) > 80  # an outline that stands out from the dark background
    w = open_window(qtbot, folder)
    tree = w.segment_panel.tree
    for col in range(tree.columnCount()):
        assert tree.header().sectionSize(col) >= tree.sizeHintForColumn(col), col


def test_run_app_takes_start_up_objects_out_of_the_garbage_collectors_walk(qtbot, monkeypatch):
    """A full collection walking ~450k start-up objects froze the GUI for 150–400 ms: run_app freezes
    them once the window is up (and a collection then has only newer objects to walk)."""
    import gc

    import app.main_window as mw

    windows = []
    monkeypatch.setattr(QApplication, "exec", lambda self: windows.append(QApplication.topLevelWidgets()) or 0)
    monkeypatch.setattr(gc, "freeze", lambda real=gc.freeze: windows.append("frozen") or real())
    try:
        assert mw.run_app(None, device="cpu") == 0  # no folder: nothing to analyse, nothing left running
        assert windows[0] == "frozen" and gc.get_freeze_count() > 100_000
    finally:
        gc.unfreeze()
        for w in QApplication.topLevelWidgets():
            if isinstance(w, mw.MainWindow):
                w.close()
