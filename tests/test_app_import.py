"""Import dialog (File → Import annotations…, Ctrl+I) on a real COCO file (pytest-qt, offscreen).

A temp project holds symlinks to three images of ../shared/data/coco_val_subset; the annotation file
is the real one filtered to those images plus one image that is not in the project. The dialog must
preview the mapping (an existing class reused, the others new, one unmatched image), let a class be
renamed, import as one engine job (source ``import``, one undo step) and show a bad file as one line.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

IMAGES = ("000000000139.jpg", "000000000802.jpg", "000000011813.jpg")
OUTSIDE = "000000005001.jpg"  # annotated, but not in the project
TIMEOUT = 60_000


from tests.test_app import _app_env  # noqa: E402,F401 (the window tests' environment, autouse)


@pytest.fixture
def coco_case(tmp_path, shared_data):
    src = shared_data / "coco_val_subset"
    folder = tmp_path / "photos"
    folder.mkdir()
    for n in IMAGES:
        (folder / n).symlink_to(src / "images" / n)
    data = json.loads((src / "annotations" / "instances_val2017.json").read_text())
    keep = {im["id"]: im for im in data["images"] if im["file_name"] in (*IMAGES, OUTSIDE)}
    anns = [a for a in data["annotations"] if a["image_id"] in keep]
    used = {a["category_id"] for a in anns}
    out = {"images": list(keep.values()), "annotations": anns,
           "categories": [c for c in data["categories"] if c["id"] in used]}
    ann_file = tmp_path / "subset.json"
    ann_file.write_text(json.dumps(out))
    in_project = {i for i, im in keep.items() if im["file_name"] in IMAGES}
    expected = [a for a in anns if a["image_id"] in in_project and not a.get("iscrowd")]
    names = {c["id"]: c["name"] for c in out["categories"]}
    return folder, ann_file, expected, names


def _window(qtbot, folder):
    from app.main_window import MainWindow

    w = MainWindow(None, device="cpu")
    qtbot.addWidget(w)
    w.analysis.request = lambda *a, **k: None  # no model: the engine thread only runs the import jobs
    w.analysis.prefetch = lambda *a, **k: None
    w.show()
    assert w.open_folder(folder)
    return w


def _row_of(dlg, source):
    for r in range(dlg.table.rowCount()):
        if dlg.table.item(r, 0).text() == source:
            return r
    raise AssertionError(f"{source} not in the mapping table")


def test_import_dialog_previews_maps_and_imports_coco(qtbot, coco_case):
    folder, ann_file, expected, names = coco_case
    w = _window(qtbot, folder)
    person = w.store.add_class("Person")  # differs only in case: reused, not duplicated
    dlg = w.open_import_dialog()
    assert dlg is not None and dlg.isVisible()
    assert dlg.format.findData("coco") >= 0 and dlg.format.findData("labelme") >= 0  # from the registry
    with qtbot.waitSignal(dlg.planned, timeout=TIMEOUT) as sig:
        dlg.set_source("coco", ann_file)
    plan = sig.args[0]
    assert plan.n_segments == len(expected)
    assert plan.unmatched == (OUTSIDE,)
    assert sum(1 for m in plan.images if m.n_segments) == len(IMAGES)
    row = _row_of(dlg, "person")
    assert dlg.table.item(row, 1).text() == "Person" and dlg.table.item(row, 3).text() == "existing"
    used = {names[a["category_id"]] for a in expected}
    assert {dlg.table.item(r, 0).text() for r in range(dlg.table.rowCount())} == used
    assert all(dlg.table.item(r, 3).text() == "new" for r in range(dlg.table.rowCount()) if r != row)
    assert f"{len(expected)} segments on {len(IMAGES)} of the project's images" in dlg.summary.text()
    assert "1 annotated images not in the project" in dlg.summary.text() and OUTSIDE in dlg.details.text()
    assert dlg.import_button.isEnabled()

    # rename one source class (the table's editable column): previewed again with the mapping
    other = next(n for n in sorted(used) if n != "person")
    with qtbot.waitSignal(dlg.planned, timeout=TIMEOUT) as sig:
        dlg.table.item(_row_of(dlg, other), 1).setText("thing")
    assert any(c.source == other and c.target == "thing" for c in sig.args[0].classes)

    with qtbot.waitSignal(dlg.imported, timeout=TIMEOUT) as sig:
        qtbot.mouseClick(dlg.import_button, Qt.MouseButton.LeftButton)
    report = sig.args[0]
    assert report.n_segments == len(expected)
    segs = [s for r in w.store.images() for s in w.store.segments(r.id, source="import")]
    assert len(segs) == len(expected)
    assert all(s.source == "import" for r in w.store.images() for s in w.store.segments(r.id))
    assert {s.state for s in segs} == {"proposed"}
    classes = {c.name: c.id for c in w.store.classes()}
    assert "thing" in classes and "person" not in classes and other not in classes
    assert sum(s.class_id == person.id for s in segs) == sum(names[a["category_id"]] == "person" for a in expected)
    assert w.status_label.text().startswith(f"Imported {len(expected)} segments")
    w.review_bar.refresh_sources()
    assert w.review_bar.source.findData("import") >= 0  # filter the filmstrip to what was imported
    w.undo()  # the whole import is one undo step
    assert not [s for r in w.store.images() for s in w.store.segments(r.id, source="import")]
    w.close()


def test_import_dialog_bad_file_is_one_line(qtbot, coco_case, tmp_path):
    folder, _ann, _expected, _names = coco_case
    bad = tmp_path / "broken.json"
    bad.write_text("{ not json")
    w = _window(qtbot, folder)
    dlg = w.open_import_dialog()
    with qtbot.waitSignal(dlg.failed, timeout=TIMEOUT) as sig:
        dlg.set_source("coco", bad)
    line = sig.args[0]
    assert "\n" not in line and "Traceback" not in line and "broken.json" in line
    assert dlg.error.text() == line and not dlg.import_button.isEnabled()
    assert w.store.classes() == []
    w.close()


def test_import_can_be_cancelled_before_it_writes(qtbot, coco_case):
    import threading

    folder, ann_file, _expected, _names = coco_case
    w = _window(qtbot, folder)
    dlg = w.open_import_dialog()
    with qtbot.waitSignal(dlg.planned, timeout=TIMEOUT):
        dlg.set_source("coco", ann_file)
    release = threading.Event()
    w.bridge.submit(lambda ctx: release.wait(30), name="busy")  # holds the engine thread
    job = dlg.start_import()
    assert dlg.cancel_button.text() == "Cancel" and not dlg.import_button.isEnabled()
    with qtbot.waitSignal(job.cancelled, timeout=TIMEOUT):
        qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
        release.set()
    qtbot.waitUntil(lambda: dlg.job is None, timeout=5000)
    assert "nothing was written" in dlg.summary.text()
    assert dlg.isVisible() and dlg.import_button.isEnabled() and dlg.cancel_button.text() == "Close"
    assert not [s for r in w.store.images() for s in w.store.segments(r.id)]
    assert w.store.classes() == []
    w.close()
