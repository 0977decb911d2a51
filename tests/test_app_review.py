"""Review workflow for large folders in the GUI (pytest-qt, offscreen): the review bar above the
filmstrip ("N of M reviewed", status / source filters, least-certain-first sort, jump to image), the
virtualised filmstrip model (an order of ids over records held once) and thumbnails decoded off the GUI
thread and cached on disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QPixmap  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from engine.proposals import Proposal  # noqa: E402
from engine.store import ProjectStore  # noqa: E402


from tests.test_app import _app_env  # noqa: E402,F401 (the window tests' environment, autouse)


def _png(path: Path, value: int, size=(40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rgb = np.full((size[1], size[0], 3), value, np.uint8)
    rgb[5:15, 5:20] = (255 - value, 80, 160)
    Image.fromarray(rgb).save(path)


def _mask(y=3):
    m = np.zeros((30, 40), bool)
    m[y:y + 8, 4:20] = True
    return m


@pytest.fixture
def project(tmp_path):
    """8 images: proposals from dsm (scores 0.9 .. 0.2) on some, stego on one, one unreadable file."""
    folder = tmp_path / "imgs"
    names = [f"img_{i:02d}.png" for i in range(7)]
    for i, n in enumerate(names):
        _png(folder / n, 20 * i)
    (folder / "zz_broken.png").write_bytes(b"junk")
    store = ProjectStore.open(folder / ".maskcurator" / "project.sqlite", image_root=folder)
    store.add_images(sorted(folder.glob("*.png")))
    ids = {Path(r.path).name: r.id for r in store.images()}
    for n, score in (("img_01.png", 0.9), ("img_03.png", 0.2), ("img_05.png", 0.5)):
        store.replace_proposals(ids[n], "dsm", [Proposal(_mask(), "dsm", score=score)])
    store.replace_proposals(ids["img_06.png"], "stego", [Proposal(_mask(), "stego", score=0.1)])
    yield store, ids, folder
    store.close()


@pytest.fixture
def bar(qtbot, project, tmp_path):
    from app.filmstrip import Filmstrip
    from app.review_bar import ReviewBar

    store, ids, _ = project
    strip = Filmstrip()
    rb = ReviewBar(strip)
    qtbot.addWidget(strip)
    qtbot.addWidget(rb)
    strip.model_.set_thumb_cache(tmp_path / "thumbs")
    strip.model_.set_records(store.images())
    rb.set_store(store)
    yield rb, strip, store, ids
    strip.model_.shutdown()


def _shown(strip):
    return [Path(r.path).name for r in strip.model_.records()]


def _choose(combo, data):
    i = combo.findData(data)
    assert i >= 0, data
    combo.setCurrentIndex(i)


def test_counter_and_status_filters(bar):
    rb, strip, store, ids = bar
    assert rb.counter.text() == "0 of 8 reviewed"
    store.set_image_status(ids["img_00.png"], "accepted")
    store.set_image_status(ids["img_02.png"], "rejected")
    rb.refresh_counts()
    assert rb.counter.text() == "2 of 8 reviewed"
    assert "1 accepted, 1 rejected" in rb.counter.toolTip() and "1 unreadable" in rb.counter.toolTip()
    _choose(rb.filter, "todo")
    assert _shown(strip) == [f"img_0{i}.png" for i in (1, 3, 4, 5, 6)]  # not the unreadable one
    assert rb.shown.text() == "5 shown"
    _choose(rb.filter, "unreadable")
    assert _shown(strip) == ["zz_broken.png"]
    _choose(rb.filter, "accepted")
    assert _shown(strip) == ["img_00.png"]
    _choose(rb.filter, "all")
    assert len(_shown(strip)) == 8 and rb.shown.text() == ""


def test_source_filter_and_least_certain_first(bar):
    rb, strip, store, ids = bar
    rb.refresh_sources()
    assert [rb.source.itemData(i) for i in range(rb.source.count())] == [None, "dsm", "stego"]
    _choose(rb.source, "dsm")
    assert _shown(strip) == ["img_01.png", "img_03.png", "img_05.png"]
    _choose(rb.sort, "confidence")
    assert _shown(strip) == ["img_03.png", "img_05.png", "img_01.png"]  # 0.2, 0.5, 0.9
    _choose(rb.source, None)
    assert _shown(strip)[:4] == ["img_06.png", "img_03.png", "img_05.png", "img_01.png"]
    # next to-do follows the filmstrip's order, not the order the images were added
    assert strip.model_.next_todo_after(ids["img_06.png"]) == ids["img_03.png"]
    assert strip.model_.next_todo_after(ids["img_01.png"]) == ids["img_00.png"]


def test_jump_to_image_cycles_matches_and_clears_a_hiding_filter(bar, qtbot):
    rb, strip, store, ids = bar
    _choose(rb.filter, "accepted")  # nothing accepted: an empty list
    assert _shown(strip) == []
    rb.jump.setText("img_04")
    with qtbot.waitSignal(rb.imageRequested) as sig:
        QTest.keyClick(rb.jump, Qt.Key.Key_Return)
    assert sig.args == [ids["img_04.png"]]
    assert rb.filter.currentData() == "all" and len(_shown(strip)) == 8  # shown again
    rb.jump.setText("img_0")
    first = rb.jump_to_text()
    second = rb.jump_to_text()
    assert first == ids["img_00.png"] and second == ids["img_01.png"]
    messages = []
    rb.status.connect(messages.append)
    assert rb.jump_to_text("nothing-like-this") is None
    assert messages and "No image name contains" in messages[-1]


def test_filmstrip_thumbnails_off_thread_and_cached_on_disk(bar, qtbot, tmp_path, monkeypatch):
    rb, strip, store, ids = bar
    strip.resize(240, 700)
    strip.show()
    model = strip.model_
    row = model.row_of(ids["img_01.png"])
    model.data(model.index(row), Qt.ItemDataRole.DecorationRole)  # first paint requests it
    qtbot.waitUntil(lambda: isinstance(model.data(model.index(row), Qt.ItemDataRole.DecorationRole), QPixmap),
                    timeout=10_000)
    cached = list((tmp_path / "thumbs").rglob("*.jpg"))
    assert cached, "thumbnail written to the disk cache"
    # the unreadable file is found by the thumbnail worker and marked (status "error")
    broken = model.row_of(ids["zz_broken.png"])
    model.data(model.index(broken), Qt.ItemDataRole.DecorationRole)
    qtbot.waitUntil(lambda: model.status_of(ids["zz_broken.png"]) == "error", timeout=10_000)

    from app import thumb_cache

    def no_decode(*_a, **_k):
        raise AssertionError("decoded although cached")

    monkeypatch.setattr(thumb_cache, "load_image", no_decode)
    path = store.image(ids["img_01.png"]).path
    img = thumb_cache.make_thumbnail(path, thumb_cache.ThumbCache(tmp_path / "thumbs"))
    assert not img.isNull() and max(img.width(), img.height()) <= thumb_cache.THUMB_SIDE
    # a changed file gets a new key: decoded again
    _png(Path(path), 200, size=(41, 30))
    with pytest.raises(AssertionError, match="decoded although cached"):
        thumb_cache.make_thumbnail(path, thumb_cache.ThumbCache(tmp_path / "thumbs"))


def test_thumb_queue_newest_first_and_bounded(qtbot):
    from app.thumb_cache import ThumbLoader

    loader = ThumbLoader(workers=1, max_pending=3)
    loader._running = 1  # hold the worker: only the queue is tested here
    dropped = [loader.request(i, f"/nowhere/{i}.png") for i in range(5)]
    assert dropped == [[], [], [], [0], [1]]  # the oldest requests (scrolled past) are dropped
    assert loader._take()[0] == 4 and loader._take()[0] == 3  # newest first
    loader.shutdown()


def test_main_window_counter_jump_key_and_subfolders(qtbot, tmp_path, demo_dir):
    from app import user_settings
    from app.main_window import MainWindow

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(demo_dir / "chelsea.png", folder / "chelsea.png")
    shutil.copy(demo_dir / "coffee.png", folder / "coffee.png")
    (folder / "more").mkdir()
    shutil.copy(demo_dir / "rocket.jpg", folder / "more" / "rocket.jpg")
    user_settings.set_include_subfolders(True)  # Preferences → Include subfolders
    w = MainWindow(None, device="cpu")
    qtbot.addWidget(w)
    w.analysis.request = lambda *a, **k: None  # no model: this is about the review bar (and a quick exit)
    w.analysis.prefetch = lambda *a, **k: None
    w.show()
    assert w.open_folder(folder)
    assert w.filmstrip.model_.total_count() == 3  # more/rocket.jpg found
    assert w.review_bar.counter.text() == "0 of 3 reviewed"
    w.accept_image()
    assert w.review_bar.counter.text() == "1 of 3 reviewed"
    w.undo()
    assert w.review_bar.counter.text() == "0 of 3 reviewed"
    w.activateWindow()
    qtbot.waitUntil(w.isActiveWindow, timeout=10_000)
    QTest.keyClick(w, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: w.review_bar.jump.hasFocus(), timeout=10_000)
    QTest.keyClicks(w.review_bar.jump, "rock")
    QTest.keyClick(w.review_bar.jump, Qt.Key.Key_Return)
    rocket = next(r.id for r in w.store.images() if r.path.endswith("rocket.jpg"))
    assert w.current_id == rocket
    assert "import" in w.actions_ and w.actions_["import"].shortcut().toString() == "Ctrl+I"
    w.close()


def test_view_is_remembered_by_the_project_and_hidden_current_is_not_highlighted(bar, qtbot):
    from app.filmstrip import Filmstrip
    from app.review_bar import ReviewBar

    rb, strip, store, ids = bar
    strip.select_image(ids["img_00.png"])
    assert strip.currentIndex().isValid()
    rb.set_view("todo", "dsm", "confidence")
    assert store.get_setting("review.view") is None  # not on the switch itself (a commit costs an fsync)
    qtbot.waitUntil(lambda: store.get_setting("review.view") is not None, timeout=5000)
    strip.select_image(ids["img_00.png"])  # not in this view
    assert not strip.selectionModel().hasSelection()
    other = Filmstrip()
    qtbot.addWidget(other)
    other.model_.set_records(store.images())
    again = ReviewBar(other)
    again.set_store(store)  # a reopened project
    assert (again.filter.currentData(), again.source.currentData(), again.sort.currentData()) == \
        ("todo", "dsm", "confidence")
    assert _shown(other) == ["img_03.png", "img_05.png", "img_01.png"]
    again.set_store(None)  # closing saves what is pending
    store.set_setting("review.view", {"filter": "done", "sort": "?"})  # unknown: all images by name
    third = ReviewBar(other)
    third.set_store(store)
    assert third.filter.currentData() == "all" and len(_shown(other)) == 8
    other.model_.shutdown()
