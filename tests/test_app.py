"""GUI tests (pytest-qt, offscreen): the real window on real demo photos with a random ViT-S/16.

Random weights give meaningless segments, so these tests check *behaviour* (overlays drawn, store
updated by shortcuts, undo, brush, export, errors, cancel), never segmentation quality.
"""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from app.overlays import outline  # noqa: E402

DEMO = ("chelsea.png", "coffee.png", "rocket.jpg")
TIMEOUT = 90_000  # ms; first analysis loads timm + the backbone on a busy 2-core machine


@pytest.fixture(autouse=True)
def _app_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKCURATOR_SETTINGS", str(tmp_path / "user-settings.ini"))  # never the user's
    monkeypatch.setenv("MASKCURATOR_BACKBONE", "random_vits16")
    monkeypatch.setenv("MASKCURATOR_MAX_SIDE", "224")
    monkeypatch.setenv("MASKCURATOR_NO_DIALOGS", "1")
    monkeypatch.setenv("MASKCURATOR_DEVICE", "cpu")


@pytest.fixture
def folder(tmp_path, demo_dir) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    for name in DEMO:
        shutil.copy(demo_dir / name, d / name)
    return d


def _preset(folder: Path, **settings) -> None:
    """Write analysis settings into the project before the window opens (CRF/matting are slow on CPU)."""
    from engine.project import project_paths
    from engine.store import ProjectStore

    paths = project_paths(folder).ensure()
    store = ProjectStore.open(paths.database)
    try:
        for k, v in {"crf": False, "matting": False, **settings}.items():
            store.set_setting(f"analysis.{k}", v)
    finally:
        store.close()


def open_window(qtbot, folder: Path, wait: bool = True, **settings):
    """The real main window on ``folder``; with ``wait`` returns once the first analysis is drawn."""
    from app.main_window import MainWindow

    _preset(folder, **settings)
    w = MainWindow(folder, device="cpu")
    qtbot.addWidget(w)
    if not wait:
        w.show()
        return w
    # results arrive through the event loop, so waiting after construction cannot miss the signal
    with qtbot.waitSignal(w.analysisApplied, timeout=TIMEOUT):
        w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    return w


def key(qtbot, w, k, mod=Qt.KeyboardModifier.NoModifier):
    QTest.keyClick(w, k, mod)
    qtbot.wait(10)


# ----------------------------------------------------------------------------------------------

def test_open_folder_analyses_and_draws_overlays(qtbot, folder):
    w = open_window(qtbot, folder, matting=True)
    assert w.filmstrip.model_.rowCount() == 3
    assert {w.filmstrip.model_.status_of(r.id) for r in w.store.images()} == {"todo"}
    assert (folder / ".maskcurator" / "project.sqlite").exists()
    assert any((folder / ".maskcurator" / "cache").rglob("*.npz"))
    c = w.canvas
    assert c.layer_has_data("eigen") and c.layer_has_data("box") and c.layer_has_data("alpha")
    segs = w.store.segments(w.current_id)
    assert {s.source for s in segs} >= {"dsm.object", "dsm.segment"}
    assert w.segment_panel.tree.topLevelItemCount() == len(segs)
    rgba = c.segments_rgba()
    assert rgba.shape[:2] == c.image_shape and rgba[..., 3].max() > 0
    # eigenvector keys Alt+1-9 switch the displayed vector (plain 1-9 pick a class)
    first = c.eigen_item.image.copy()
    key(qtbot, w, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    assert w.eigen_index == 3
    assert not np.array_equal(first, c.eigen_item.image)
    # layer toggle + opacity
    w.layers_panel.checks["eigen"].setChecked(False)
    assert not c.eigen_item.isVisible()
    w.layers_panel.sliders["segments"].setValue(30)
    assert c.segments_item.opacity() == pytest.approx(0.3)
    # the prefetch of the next to-do image ran on the engine too
    qtbot.waitUntil(lambda: len(list((folder / ".maskcurator" / "cache" / "analysis").rglob("*.npz"))) >= 2,
                    timeout=TIMEOUT)


def test_review_shortcuts_update_store_and_undo_redo(qtbot, folder):
    w = open_window(qtbot, folder)
    st = w.store
    first = w.current_id
    key(qtbot, w, Qt.Key.Key_Return)
    assert st.image(first).status == "accepted"
    assert w.filmstrip.model_.status_of(first) == "accepted"
    second = w.current_id
    assert second != first
    key(qtbot, w, Qt.Key.Key_Backspace)
    assert st.image(second).status == "rejected"
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert st.image(second).status == "todo"
    assert w.filmstrip.model_.status_of(second) == "todo"
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert st.image(second).status == "rejected"
    # navigation: Right / D / Left / A and N (next to-do)
    ids = [r.id for r in st.images()]
    w.show_image(ids[0])
    key(qtbot, w, Qt.Key.Key_Right)
    assert w.current_id == ids[1]
    key(qtbot, w, Qt.Key.Key_D)
    assert w.current_id == ids[2]
    key(qtbot, w, Qt.Key.Key_A)
    assert w.current_id == ids[1]
    key(qtbot, w, Qt.Key.Key_Left)
    assert w.current_id == ids[0]
    key(qtbot, w, Qt.Key.Key_N)
    assert st.image(w.current_id).status == "todo"


def test_segment_accept_merge_relabel_undo(qtbot, folder):
    w = open_window(qtbot, folder)
    st, img = w.store, w.current_id
    panel = w.segment_panel
    segs = st.segments(img, source="dsm.segment")
    assert len(segs) >= 2
    a, b = segs[0].id, segs[1].id
    union = st.segment_mask(a) | st.segment_mask(b)
    panel.select_ids([a])
    key(qtbot, w, Qt.Key.Key_Y)  # accept selected segment
    assert st.segment(a).state == "accepted"
    panel.select_ids([a, b])
    key(qtbot, w, Qt.Key.Key_M)  # merge
    ids_after = {s.id for s in st.segments(img)}
    assert a not in ids_after and b not in ids_after
    merged = [s for s in st.segments(img) if s.id not in {x.id for x in segs} and s.source != "dsm.object"]
    assert len(merged) == 1 and merged[0].state == "accepted"
    assert np.array_equal(st.segment_mask(merged[0].id), union)
    assert panel.selected_ids() == [merged[0].id]
    # class manager + relabel through the combo
    assert w.class_manager.add_class("cat", (250, 120, 20))
    assert not w.class_manager.add_class("cat")  # duplicate: inline message, no exception
    assert w.class_manager.status.text()
    cat = next(c for c in st.classes() if c.name == "cat")
    panel.class_combo.setCurrentIndex(panel.class_combo.findData(cat.id))
    panel.relabel_btn.click()
    assert st.segment(merged[0].id).class_id == cat.id
    # the overlay now paints the merged segment in the class colour
    rgba = w.canvas.segments_rgba()
    m = st.segment_mask(merged[0].id)
    ys, xs = np.nonzero(m & ~outline(m, 4))
    assert tuple(rgba[ys[0], xs[0], :3]) == (250, 120, 20)
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo relabel
    assert st.segment(merged[0].id).class_id is None
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo "add class"
    assert "cat" not in [c.name for c in st.classes()]
    assert panel.class_combo.findText("cat") < 0
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # undo merge
    assert {a, b} <= {s.id for s in st.segments(img)}
    assert st.segment(a).state == "accepted" and st.segment(b).state == "proposed"
    # reject + tags
    cat = w.store.add_class("cat")
    w._on_classes_changed()
    panel.select_ids([b])
    key(qtbot, w, Qt.Key.Key_X)
    assert st.segment(b).state == "rejected"
    w.tags_panel.set_checked(cat.id, True)
    assert st.image_tags(img) == [cat.id]


def test_brush_and_erase_strokes_are_single_undo_steps(qtbot, folder):
    w = open_window(qtbot, folder)
    st, c = w.store, w.canvas
    seg = st.segments(w.current_id, source="dsm.object")[0]
    w.segment_panel.select_ids([seg.id])
    before = st.segment_mask(seg.id)
    key(qtbot, w, Qt.Key.Key_B)
    assert c.mode == "brush" and w.actions_["brush"].isChecked()
    c.set_brush_radius(6)
    h, wd = c.image_shape
    # paint a horizontal stroke along the row the mask covers least (many move events, one store update)
    y = 6 + int(np.argmin(before[6:-6].sum(axis=1)))
    assert c.begin_stroke(5, y)
    for x in range(5, wd - 5, 7):
        c.continue_stroke(x, y)
    with qtbot.waitSignal(c.strokeFinished, timeout=1000):
        c.end_stroke()
    after = st.segment_mask(seg.id)
    assert after.sum() > before.sum() and after[y, wd // 2]
    assert not before[y - 6:y + 6].all()  # the stroke really added pixels
    key(qtbot, w, Qt.Key.Key_E)
    assert c.mode == "erase"
    c.begin_stroke(wd // 2, y)
    c.continue_stroke(wd // 2 + 30, y)
    c.end_stroke()
    erased = st.segment_mask(seg.id)
    assert not erased[y, wd // 2 + 10] and erased.sum() < after.sum()
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(st.segment_mask(seg.id), after)
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(st.segment_mask(seg.id), before)
    # brush with nothing selected paints a new manual segment
    key(qtbot, w, Qt.Key.Key_B)
    w.segment_panel.select_ids([])
    n = len(st.segments(w.current_id))
    c.begin_stroke(20, 20)
    c.continue_stroke(40, 40)
    c.end_stroke()
    manual = st.segments(w.current_id, source="manual")
    assert len(st.segments(w.current_id)) == n + 1 and manual and manual[0].state == "accepted"
    assert w.segment_panel.selected_ids() == [manual[0].id]  # selected in the list: the next stroke adds to it


def test_empty_folder_gives_clear_message(qtbot, tmp_path):
    from app.main_window import MainWindow

    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no images here")
    w = MainWindow(empty, device="cpu")
    qtbot.addWidget(w)
    w.show()
    assert w.store is None
    assert w.last_error[0] == "No images" and "No images found" in w.last_error[1]
    assert w.stack.currentWidget() is w.placeholder and "No images found" in w.placeholder.text()
    assert not (empty / ".maskcurator").exists()
    assert not w.open_folder(tmp_path / "does-not-exist")
    assert "Not a folder" in w.last_error[1]


def test_corrupt_image_is_an_error_row_not_a_crash(qtbot, folder):
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg" * 10)
    # a file whose header is valid but whose data is truncated: found only when decoding
    data = (folder / "rocket.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(data[: len(data) // 3])
    w = open_window(qtbot, folder)
    model = w.filmstrip.model_
    broken = next(r for r in w.store.images() if r.path.endswith("broken.jpg"))
    assert model.status_of(broken.id) == "error"
    w.show_image(broken.id)
    assert w.stack.currentWidget() is w.placeholder and "Cannot read" in w.placeholder.text()
    trunc = next(r for r in w.store.images() if r.path.endswith("truncated.jpg"))
    w.show_image(trunc.id)
    qtbot.waitUntil(lambda: model.status_of(trunc.id) == "error", timeout=TIMEOUT)
    assert "Cannot read" in w.placeholder.text()
    key(qtbot, w, Qt.Key.Key_N)  # navigation skips unreadable images
    assert w.current_id not in (broken.id, trunc.id)
    assert w.stack.currentWidget() is w.canvas


def test_cancel_button_cancels_running_jobs(qtbot, folder):
    w = open_window(qtbot, folder)
    started = threading.Event()

    def slow(ctx):
        started.set()
        for i in range(2000):
            ctx.progress(i / 2000, "slow job")
            time.sleep(0.005)
        return "finished"

    handle = w.jobs.track(w.bridge.submit(slow, name="slow"))
    qtbot.waitUntil(started.is_set, timeout=10_000)
    assert w.jobs.cancel_button.isEnabled() and w.jobs.bar.isVisible()
    with qtbot.waitSignal(handle.cancelled, timeout=10_000):
        qtbot.mouseClick(w.jobs.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not w.jobs.cancel_button.isEnabled(), timeout=5000)
    assert not w.jobs.bar.isVisible()
    # "Analyse all" (one engine job per chunk + a clustering job) is cancelled as a whole
    handles = w.analyse_all()
    assert handles and w.jobs.cancel_button.isEnabled()
    cancelled: list[int] = []
    for h in handles:
        h.cancelled.connect(lambda rid=h.rid: cancelled.append(rid))
    w.jobs.cancel()
    assert not w.jobs.cancel_button.isEnabled()  # the window stops waiting at once …
    assert w.analysis.batch is None
    qtbot.waitUntil(lambda: bool(cancelled), timeout=TIMEOUT)  # … and the engine confirms


# -- bulk actions, off-thread decoding, real mouse brush, engine errors ----------------------------

def test_bulk_delete_and_relabel_of_a_selection_are_one_undo_step(qtbot, folder):
    w = open_window(qtbot, folder)
    st, img, panel = w.store, w.current_id, w.segment_panel
    segs = st.segments(img, source="dsm.segment")
    assert len(segs) >= 3
    ids = [s.id for s in segs[:3]]
    cat = st.add_class("cat")
    w._on_classes_changed()
    panel.select_ids(ids)
    panel.class_combo.setCurrentIndex(panel.class_combo.findData(cat.id))
    panel.relabel_btn.click()
    assert {st.segment(i).class_id for i in ids} == {cat.id}
    assert st.undo_description() == "Relabel 3 segments"
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # ONE undo restores all three
    assert {st.segment(i).class_id for i in ids} == {None}
    assert st.undo_description() == "Add class 'cat'"
    panel.select_ids(ids)
    panel.delete_btn.click()
    assert not {i for i in ids} & {s.id for s in st.segments(img)}
    assert panel.tree.topLevelItemCount() == len(st.segments(img))
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert set(ids) <= {s.id for s in st.segments(img)}
    assert st.undo_description() == "Add class 'cat'"


def test_photo_is_decoded_off_the_gui_thread_latest_wins(qtbot, folder, monkeypatch):
    import app.image_loader as loader_mod

    w = open_window(qtbot, folder)
    decoded_on: list[tuple[str, str]] = []
    real = loader_mod.load_image

    def slow_load(path):
        decoded_on.append((Path(path).name, threading.current_thread().name))
        time.sleep(0.3)  # a big JPEG
        return real(path)

    monkeypatch.setattr(loader_mod, "load_image", slow_load)
    ids = [r.id for r in w.store.images()]
    w.loader.clear()  # nothing cached: every show must decode
    displayed: list[int] = []
    w.imageDisplayed.connect(displayed.append)
    rec = w.store.image(ids[2])
    t0 = time.perf_counter()
    w.show_image(ids[1])
    w.show_image(ids[2])  # the user clicks on before ids[1] is decoded
    assert time.perf_counter() - t0 < 0.25  # two slow decodes did not block the GUI thread
    assert w.canvas.image_shape is None and w.status_label.text().startswith("Loading")
    assert w.segment_panel.tree.topLevelItemCount() == 0  # stale overlays are not clickable
    with qtbot.waitSignal(w.imageDisplayed, timeout=TIMEOUT, check_params_cb=lambda i: i == ids[2]):
        pass
    assert w.current_id == ids[2] and w.canvas.image_shape == (rec.height, rec.width)
    w.loader.wait()
    qtbot.wait(50)
    assert displayed == [ids[2]]  # latest wins: the superseded photo never reached the canvas
    assert decoded_on and all(t != threading.main_thread().name for _n, t in decoded_on)
    assert w.segment_panel.tree.topLevelItemCount() == len(w.store.segments(ids[2]))
    w.loader.wait()
    # the memory cache keeps at most 4 photos and serves a revisit synchronously
    n = len(decoded_on)
    w.show_image(ids[2])
    assert w.canvas.image_shape == (rec.height, rec.width) and len(decoded_on) == n
    for i in ids * 2:
        w.show_image(i)
        qtbot.waitUntil(lambda: w.canvas.image_shape is not None, timeout=TIMEOUT)
    assert len(w.loader.cache_ids()) <= 4


@pytest.mark.parametrize("display_max_side", [None, 200])
def test_brush_with_real_mouse_events_is_one_undo_step(qtbot, folder, monkeypatch, display_max_side):
    """press / move / release on the view widget (not canvas methods); with a 200 px display limit the
    photo is drawn downscaled while the mask stays full resolution."""
    import cv2
    from PySide6.QtCore import QPointF

    from app.overlays import stamp_segment

    if display_max_side:
        monkeypatch.setenv("MASKCURATOR_DISPLAY_MAX_SIDE", str(display_max_side))
    w = open_window(qtbot, folder)
    st, c = w.store, w.canvas
    h, wd = c.image_shape
    assert (h, wd) == (300, 451)  # chelsea.png
    if display_max_side:
        assert c.display_shape == (133, 200) and c.segments_rgba().shape[:2] == (133, 200)
    seg = st.segments(w.current_id, source="dsm.object")[0]
    w.segment_panel.select_ids([seg.id])
    before = st.segment_mask(seg.id)
    # a rectangle-free stroke path through pixels the mask does not cover yet
    y = 4 + int(np.argmin(before[4:-4].sum(axis=1)))  # a row inside the photo, not on its edge
    assert before[y].sum() < wd // 2
    key(qtbot, w, Qt.Key.Key_B)
    c.set_brush_radius(5)
    vp = c.view_widget.viewport()

    def at(x, yy):  # image pixel -> viewport widget pixel through the ViewBox transform
        return c.view_widget.mapFromScene(c.view.mapViewToScene(QPointF(x, yy)))

    xs = np.linspace(60, wd - 60, 12)
    QTest.mouseMove(vp, at(xs[0], y))  # hover: the segments item accepts the drag in brush mode
    qtbot.wait(20)
    undo_steps = w.store._conn().execute("SELECT COUNT(*) FROM undo_log").fetchone()[0]
    with qtbot.waitSignal(c.strokeFinished, timeout=5000):
        QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(xs[0], y))
        for x in xs[1:]:
            QTest.mouseMove(vp, at(x, y))
            qtbot.wait(5)
        QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at(xs[-1], y))
    after = st.segment_mask(seg.id)
    assert after.shape == (h, wd)  # masks stay at full resolution
    # the band the stroke should paint, drawn in image coordinates
    band = np.zeros((h, wd), bool)
    for x0, x1 in zip(xs[:-1], xs[1:]):
        band = stamp_segment(band, (x0, y), (x1, y), 5, True)
    tol = 4 if display_max_side else 2  # widget-pixel rounding (+ 2.25 image px per display px)
    k = np.ones((2 * tol + 1, 2 * tol + 1), np.uint8)
    grown = cv2.dilate(band.astype(np.uint8), k).astype(bool)
    shrunk = cv2.erode(band.astype(np.uint8), k).astype(bool)
    assert (after | ~before).all()  # painting only adds
    assert not (after & ~before & ~grown).any()  # nothing painted away from the stroke
    assert after[shrunk].all() and after[y, int(xs[0]):int(xs[-1])].all()  # the whole stroke is in
    assert (after & ~before).sum() > 0.3 * band.sum()
    assert w.store._conn().execute("SELECT COUNT(*) FROM undo_log").fetchone()[0] == undo_steps + 1
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert np.array_equal(st.segment_mask(seg.id), before)


def test_out_of_memory_in_analysis_is_reported_and_store_untouched(qtbot, folder, monkeypatch):
    import engine.curation as tasks_mod
    from test_store import dump

    w = open_window(qtbot, folder)
    assert w.bridge.device.type == "cpu"  # no CPU retry of an OOM: the error must reach the window
    qtbot.waitUntil(lambda: not w.bridge.engine.busy, timeout=TIMEOUT)  # the next image's prefetch
    before = dump(w.store)
    started = threading.Event()

    def oom(ctx, **_kw):
        started.set()
        ctx.progress(0.3, "Analysing")
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(tasks_mod, "analyze_image", oom)
    with qtbot.waitSignal(w.errorShown, timeout=TIMEOUT) as sig:
        handle = w.request_analysis(w.current_id, replace=True)
        assert handle is not None
    title, text = sig.args
    assert started.is_set()
    assert title == "Out of memory" and "CUDA out of memory" in text and "max side" in text
    assert "Nothing was written" in text
    assert w.last_error == (title, text) and title in w.status_label.text()
    qtbot.waitUntil(lambda: not w.jobs.bar.isVisible(), timeout=5000)
    assert not w.jobs.cancel_button.isEnabled()
    assert dump(w.store) == before  # the failed job left the project exactly as it was
    assert w.stack.currentWidget() is w.canvas and w.canvas.image_shape is not None
    # any other engine error: same path, generic title
    monkeypatch.setattr(tasks_mod, "analyze_image", lambda ctx, **_kw: 1 / 0)
    with qtbot.waitSignal(w.errorShown, timeout=TIMEOUT) as sig:
        w.request_analysis(w.current_id, replace=True)
    assert sig.args[0] == "Job failed" and "division by zero" in sig.args[1]
    assert dump(w.store) == before


def test_opening_a_second_folder_forgets_the_first_ones_image(qtbot, folder, tmp_path, demo_dir):
    """The tags panel held the previous project's image id and asked the new store for it."""
    w = open_window(qtbot, folder)
    w.class_manager.add_class("cat")
    assert w.tags_panel.image_id == w.current_id
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(demo_dir / "coffee.png", other / "coffee.png")
    assert w.open_folder(other), w.last_error
    assert [r.path for r in w.store.images()] == [str(other / "coffee.png")]
    assert w.tags_panel.image_id == w.current_id
