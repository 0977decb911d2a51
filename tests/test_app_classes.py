"""Class palette and hotkeys, "apply class on accept", per-segment hide / show and the z-order (pytest-qt).

The window runs on one small synthetic photo with hand-made segments (source "manual", the panel
filtered to it), so the pixels under test belong to known segments and analysis proposals cannot get
in the way; real analysis still runs (weight-free ``filters`` backbone) as in use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

TIMEOUT = 60_000
H, W = 96, 128


@pytest.fixture(autouse=True)
def _app_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MASKCURATOR_SETTINGS", str(tmp_path / "user-settings.ini"))
    monkeypatch.setenv("MASKCURATOR_BACKBONE", "filters")  # weight-free and fast: analysis is not under test
    monkeypatch.setenv("MASKCURATOR_MAX_SIDE", "128")
    monkeypatch.setenv("MASKCURATOR_NO_DIALOGS", "1")
    monkeypatch.setenv("MASKCURATOR_DEVICE", "cpu")


def _box(y0, y1, x0, x1) -> np.ndarray:
    m = np.zeros((H, W), bool)
    m[y0:y1, x0:x1] = True
    return m


BIG, SMALL = _box(10, 80, 10, 110), _box(30, 50, 40, 70)  # SMALL lies inside BIG
INSIDE_SMALL = (55.0, 40.0)  # (x, y): covered by both
ONLY_BIG = (20.0, 70.0)


@pytest.fixture
def win(qtbot, tmp_path):
    """The window on one photo with classes cat / dog / bird and two overlapping manual segments."""
    from app.main_window import MainWindow
    from engine.project import project_paths
    from engine.store import ProjectStore

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (H, W, 3), dtype=np.uint8)).save(folder / "a.png")
    paths = project_paths(folder).ensure()
    store = ProjectStore.open(paths.database, image_root=folder)
    try:
        store.add_images([folder / "a.png"])
        for k, v in {"crf": False, "matting": False}.items():
            store.set_setting(f"analysis.{k}", v)
        store.add_class("cat", (230, 30, 30))
        store.add_class("dog", (30, 200, 30))
        store.add_class("bird", (30, 60, 230))
        store.add_segment(1, BIG, state="proposed", source="manual")
        store.add_segment(1, SMALL, state="proposed", source="manual")
    finally:
        store.close()
    w = MainWindow(folder, device="cpu")
    qtbot.addWidget(w)
    with qtbot.waitSignal(w.analysisApplied, timeout=TIMEOUT):
        w.show()
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=5000)
    w.segment_panel.set_source_filter("manual")
    qtbot.waitUntil(lambda: len(w.segment_panel.records()) == 2, timeout=5000)
    return w


def ids_of(w) -> tuple[int, int]:
    by_area = sorted(w.segment_panel.records(), key=lambda r: r.area)
    return by_area[-1].id, by_area[0].id  # big, small


def key(qtbot, w, k, mod=Qt.KeyboardModifier.NoModifier):
    QTest.keyClick(w, k, mod)
    qtbot.wait(10)


def rgb_at(w, x: float, y: float) -> tuple[int, ...]:
    rgba = w.canvas.segments_rgba()
    return tuple(int(v) for v in rgba[int(y), int(x)])


def click_canvas(qtbot, w, x: float, y: float) -> None:
    c = w.canvas
    vp = c.view_widget.viewport()
    at = c.view_widget.mapFromScene(c.view.mapViewToScene(QPointF(x, y)))
    QTest.mouseMove(vp, at)
    qtbot.wait(20)
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)
    qtbot.wait(20)


# ----------------------------------------------------------------------------------------------------

def test_number_keys_pick_the_class_and_the_palette_shows_it(qtbot, win):
    w, pal = win, win.class_palette
    cat, dog, bird = (c.id for c in w.store.classes())
    assert w.active_class_id() is None and pal.active_button() is pal.buttons[None]
    assert [pal.buttons[c].text() for c in (cat, dog, bird)] == ["1 cat", "2 dog", "3 bird"]
    key(qtbot, w, Qt.Key.Key_2)
    assert w.active_class_id() == dog
    assert pal.active_button() is pal.buttons[dog] and not pal.buttons[cat].isChecked()
    assert w.prompt.class_combo.currentData() == dog  # one active class for the whole window
    assert "dog" in w.status_label.text()
    key(qtbot, w, Qt.Key.Key_5)  # only three classes: nothing changes, the status says why
    assert w.active_class_id() == dog and "3 classes" in w.status_label.text()
    QTest.mouseClick(pal.buttons[bird], Qt.MouseButton.LeftButton)  # a click on a swatch
    assert w.active_class_id() == bird and pal.buttons[bird].isChecked()
    w.prompt.class_combo.setCurrentIndex(w.prompt.class_combo.findData(cat))
    w.prompt.class_combo.activated.emit(w.prompt.class_combo.currentIndex())  # the user's choice there
    assert w.active_class_id() == cat and pal.buttons[cat].isChecked()
    key(qtbot, w, Qt.Key.Key_QuoteLeft)  # ` = no class
    assert w.active_class_id() is None and pal.buttons[None].isChecked()
    key(qtbot, w, Qt.Key.Key_1)
    key(qtbot, w, Qt.Key.Key_0)
    assert w.active_class_id() is None
    # a new class appears in the palette; deleting the active one leaves no class active
    w.class_manager.add_class("fish")
    fish = w.store.classes()[-1].id
    assert pal.buttons[fish].text() == "4 fish"
    key(qtbot, w, Qt.Key.Key_4)
    assert w.active_class_id() == fish
    w.class_manager.delete_class(fish)
    assert w.active_class_id() is None and fish not in pal.buttons


def test_alt_number_keys_switch_the_eigenvector_not_the_class(qtbot, win):
    w = win
    key(qtbot, w, Qt.Key.Key_2, Qt.KeyboardModifier.AltModifier)
    assert w.eigen_index == 2 and w.active_class_id() is None
    key(qtbot, w, Qt.Key.Key_3, Qt.KeyboardModifier.AltModifier)
    assert w.eigen_index == 3
    key(qtbot, w, Qt.Key.Key_1)
    assert w.eigen_index == 3 and w.active_class_id() == w.store.classes()[0].id


def test_y_with_an_active_class_labels_and_accepts_in_one_undo_step(qtbot, win):
    w, st = win, win.store
    big, small = ids_of(w)
    dog = w.store.classes()[1].id
    steps = st.can_undo()
    w.segment_panel.select_ids([small])
    key(qtbot, w, Qt.Key.Key_2)
    key(qtbot, w, Qt.Key.Key_Y)
    rec = st.segment(small)
    assert (rec.state, rec.class_id) == ("accepted", dog)
    assert st.segment(big).state == "proposed"
    assert w.canvas.layer("segments").segments[-1].color == (30, 200, 30)  # drawn in the class colour
    assert w.segment_panel.class_combo.currentData() == dog  # the relabel box shows the new class
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # ONE undo takes back both
    rec = st.segment(small)
    assert (rec.state, rec.class_id) == ("proposed", None)
    assert st.can_undo() == steps
    # without an active class Y only accepts
    key(qtbot, w, Qt.Key.Key_0)
    w.segment_panel.select_ids([small])
    key(qtbot, w, Qt.Key.Key_Y)
    assert (st.segment(small).state, st.segment(small).class_id) == ("accepted", None)
    # with "Apply class on accept" off, Y only accepts even with a class active
    w.actions_["apply_class_on_accept"].setChecked(False)
    key(qtbot, w, Qt.Key.Key_1)
    w.segment_panel.select_ids([big])
    key(qtbot, w, Qt.Key.Key_Y)
    assert (st.segment(big).state, st.segment(big).class_id) == ("accepted", None)


def test_brush_and_prompt_use_the_active_class(qtbot, win):
    w = win
    bird = w.store.classes()[2].id
    key(qtbot, w, Qt.Key.Key_3)
    w.segment_panel.select_ids([])
    assert w.canvas.edit_target is None
    w.canvas.strokeFinished.emit(_box(0, 5, 0, 5), False)  # a finished brush stroke on nothing (window wiring)
    new = max(s.id for s in w.store.segments(1))
    assert w.store.segment(new).class_id == bird
    assert w.prompt.class_combo.currentData() == bird  # the prompt commit reads this box


def test_h_hides_a_segment_it_is_not_drawn_nor_clickable(qtbot, win):
    w = win
    big, small = ids_of(w)
    small_color = w.segments.colors[small]
    assert rgb_at(w, *INSIDE_SMALL)[:3] == small_color  # small on top of big by default
    click_canvas(qtbot, w, *INSIDE_SMALL)
    assert w.segment_panel.selected_ids() == [small]
    key(qtbot, w, Qt.Key.Key_H)
    assert small in w.segments.hidden
    w.segment_panel.select_ids([])
    assert rgb_at(w, *INSIDE_SMALL)[:3] == w.segments.colors[big]  # big shows through
    items = {w.segment_panel.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole):
             w.segment_panel.tree.topLevelItem(i) for i in range(2)}
    assert items[small].checkState(0) == Qt.CheckState.Unchecked
    assert items[big].checkState(0) == Qt.CheckState.Checked
    click_canvas(qtbot, w, *INSIDE_SMALL)
    assert w.segment_panel.selected_ids() == [big]  # the hidden one cannot be picked
    # the eye box in the list shows it again
    items[small].setCheckState(0, Qt.CheckState.Checked)
    assert small not in w.segments.hidden
    w.segment_panel.select_ids([])
    assert rgb_at(w, *INSIDE_SMALL)[:3] == small_color
    # H on a hidden selection shows it; hidden survives a reload of the segments
    w.segment_panel.select_ids([big])
    key(qtbot, w, Qt.Key.Key_H)
    w.refresh_segments()
    assert big in w.segments.hidden and rgb_at(w, *ONLY_BIG)[3] == 0
    key(qtbot, w, Qt.Key.Key_H)
    assert big not in w.segments.hidden and rgb_at(w, *ONLY_BIG)[3] > 0


def test_bring_to_front_reorders_list_and_overlay_and_undo_restores(qtbot, win):
    w, panel = win, win.segment_panel
    big, small = ids_of(w)
    big_color, small_color = w.segments.colors[big], w.segments.colors[small]

    def listed():
        return [panel.tree.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
                for i in range(panel.tree.topLevelItemCount())]

    assert listed() == [small, big]  # topmost first: small on top by default
    panel.select_ids([big])
    key(qtbot, w, Qt.Key.Key_BracketRight, Qt.KeyboardModifier.ControlModifier)  # Ctrl+]
    assert w.store.segment(big).z > w.store.segment(small).z
    assert listed() == [big, small]
    panel.select_ids([])
    assert rgb_at(w, *INSIDE_SMALL)[:3] == big_color
    click_canvas(qtbot, w, *INSIDE_SMALL)  # a click picks what is seen on top
    assert panel.selected_ids() == [big]
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    panel.select_ids([])  # (the selection is drawn on top while selected)
    assert listed() == [small, big] and rgb_at(w, *INSIDE_SMALL)[:3] == small_color
    panel.select_ids([small])
    key(qtbot, w, Qt.Key.Key_BracketLeft, Qt.KeyboardModifier.ControlModifier)  # Ctrl+[: send to back
    assert listed() == [big, small]
    panel.select_ids([])
    assert rgb_at(w, *INSIDE_SMALL)[:3] == big_color
    assert "back" in (w.store.undo_description() or "")


def test_list_context_menu_hides_and_reorders_the_selection(qtbot, win):
    w, panel = win, win.segment_panel
    big, small = ids_of(w)
    panel.select_ids([big])
    menu = panel.context_menu()
    acts = {a.objectName(): a for a in menu.actions()}
    assert set(acts) == {"Accept", "Reject", "Hide", "Bring to front", "Send to back", "Edit as polygon"}
    acts["Bring to front"].trigger()
    assert w.store.segment(big).z > w.store.segment(small).z
    panel.context_menu().findChild(type(acts["Hide"]), "Hide").trigger()
    assert big in w.segments.hidden
    assert {a.objectName() for a in panel.context_menu().actions()} >= {"Show"}  # hidden: it offers Show
    panel.select_ids([])
    assert not any(a.isEnabled() for a in panel.context_menu().actions())

