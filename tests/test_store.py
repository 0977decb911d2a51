"""Project store: schema/versioning, images (EXIF, bad files, relative paths), classes, segments,
persisted undo/redo of every action, threads, and crash safety under SIGKILL."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.proposals import Proposal
from engine.store import (ClassRecord, ImageStatus, ProjectStore, SegmentState, StoreError)
from engine.store import rle as rle_mod
from engine.store.schema import SCHEMA_VERSION

REPO = Path(__file__).resolve().parents[1]
COCO_IMAGES = ("000000000802.jpg", "000000011813.jpg", "000000022192.jpg")


def _png(path: Path, w: int, h: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path)
    return path


def _box(h: int, w: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


def dump(store: ProjectStore) -> dict:
    """Everything a user can see or export, masks included (to compare states exactly)."""
    out = {"images": [(r.id, r.status.value, r.error, tuple(store.image_tags(r.id))) for r in store.images()],
           "classes": [(c.id, c.name, c.color) for c in store.classes()], "segments": []}
    for img in store.images():
        if img.error is None:
            for s in store.segments(img.id):
                out["segments"].append((s, store.segment_rle(s.id)))
    return out


@pytest.fixture()
def project(tmp_path):
    """A store with one synthetic 40x60 image in its project folder."""
    img = _png(tmp_path / "proj" / "images" / "a.png", 60, 40)
    store = ProjectStore.open(tmp_path / "proj" / "p.maskcurator")
    store.add_images([img])
    yield store
    store.close()


# ---------------------------------------------------------------- file format
def test_create_uses_wal_foreign_keys_and_schema_version(tmp_path):
    path = tmp_path / "new" / "p.maskcurator"
    with ProjectStore.open(path) as store:
        conn = store._conn()
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        store.set_setting("opacity", 0.4)
    with ProjectStore.open(path) as store:
        assert store.get_setting("opacity") == 0.4
        assert store.get_setting("missing", "dflt") == "dflt"
        with pytest.raises(StoreError, match="JSON"):
            store.set_setting("bad", object())
    con = sqlite3.connect(path)
    assert con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    con.close()


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "p.maskcurator"
    ProjectStore.open(path).close()
    con = sqlite3.connect(path)
    con.execute("UPDATE schema_version SET version=99")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="newer MaskCurator"):
        ProjectStore.open(path)


def test_corrupt_or_foreign_file_is_refused(tmp_path):
    garbage = tmp_path / "garbage.maskcurator"
    garbage.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="not a readable MaskCurator project"):
        ProjectStore.open(garbage)
    foreign = tmp_path / "foreign.db"
    con = sqlite3.connect(foreign)
    con.execute("CREATE TABLE t(x)")
    con.commit()
    con.close()
    with pytest.raises(StoreError, match="not a MaskCurator project"):
        ProjectStore.open(foreign)
    with pytest.raises(StoreError, match="folder"):
        ProjectStore.open(tmp_path)


def test_closed_store_raises(tmp_path):
    store = ProjectStore.open(tmp_path / "p.maskcurator")
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.images()


# ---------------------------------------------------------------- images
def test_add_images_real_bad_and_duplicate(tmp_path, shared_data):
    src = shared_data / "coco_val_subset"
    gt = json.loads((src / "annotations" / "instances_val2017.json").read_text())
    sizes = {i["file_name"]: (i["width"], i["height"]) for i in gt["images"]}
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    paths = [src / "images" / n for n in COCO_IMAGES] + [bad, tmp_path / "missing.png"]
    with ProjectStore.open(tmp_path / "p.maskcurator") as store:
        added = store.add_images(paths)
        assert [Path(r.path).name for r in added] == [*COCO_IMAGES, "broken.jpg", "missing.png"]
        for rec in added[:3]:
            assert (rec.width, rec.height) == sizes[Path(rec.path).name]
            assert rec.error is None and rec.status == "todo"
        assert "not a recognised image" in added[3].error and (added[3].width, added[3].height) == (0, 0)
        assert added[4].error == "file not found"
        assert store.add_images(paths[:2]) == []  # known paths are skipped
        assert len(store.images()) == 5
        with pytest.raises(StoreError, match="unreadable"):
            store.add_segment(added[3].id, np.ones((2, 2), bool))
        # navigation skips unreadable images and wraps
        ids = [r.id for r in added]
        store.set_image_status(ids[1], "accepted")
        assert store.next_image_id(None) == ids[0]
        assert store.next_image_id(ids[0]) == ids[2]
        assert store.next_image_id(ids[2]) == ids[0]  # wraps, skipping broken/missing
        store.set_image_status(ids[2], ImageStatus.REJECTED)
        assert store.next_image_id(ids[0]) is None  # only the current one is left
        assert [r.id for r in store.images(status="accepted")] == [ids[1]]
        with pytest.raises(StoreError, match="unknown image status"):
            store.set_image_status(ids[0], "done")


def test_exif_rotated_image_size_is_upright(tmp_path):
    path = tmp_path / "rot.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    Image.new("RGB", (80, 30), (10, 20, 30)).save(path, exif=exif)
    with ProjectStore.open(tmp_path / "p.maskcurator") as store:
        (rec,) = store.add_images([path])
        assert (rec.width, rec.height) == (30, 80)
        seg = store.add_segment(rec.id, np.ones((80, 30), bool))
        assert store.segment_mask(seg.id).shape == (80, 30)
        with pytest.raises(StoreError, match="does not match"):
            store.add_segment(rec.id, np.ones((30, 80), bool))


def test_paths_relative_inside_project_survive_a_move(tmp_path):
    inside = _png(tmp_path / "proj" / "imgs" / "in.png", 20, 10)
    outside = _png(tmp_path / "elsewhere" / "out.png", 20, 10)
    with ProjectStore.open(tmp_path / "proj" / "p.maskcurator") as store:
        store.add_images([inside, outside])
        assert store.relative_path(1) == "imgs/in.png"
    con = sqlite3.connect(tmp_path / "proj" / "p.maskcurator")
    stored = [r[0] for r in con.execute("SELECT path FROM images ORDER BY id")]
    con.close()
    assert stored == ["imgs/in.png", str(outside)]
    shutil.move(str(tmp_path / "proj"), str(tmp_path / "moved"))
    with ProjectStore.open(tmp_path / "moved" / "p.maskcurator") as store:
        recs = store.images()
        assert recs[0].path == str(tmp_path / "moved" / "imgs" / "in.png") and Path(recs[0].path).is_file()
        assert recs[1].path == str(outside)
        assert store.add_images([tmp_path / "moved" / "imgs" / "in.png"]) == []  # still recognised


# ---------------------------------------------------------------- undo / redo
def test_undo_redo_of_every_action(project):
    s = project
    img = s.images()[0].id
    h, w = 40, 60

    def act(name, fn):
        before = dump(s)
        result = fn()
        after = dump(s)
        assert after != before, f"{name} changed nothing"
        assert s.can_undo()
        assert s.undo() is not None
        assert dump(s) == before, f"undo of {name} did not restore the state"
        assert s.can_redo()
        assert s.redo() is not None
        assert dump(s) == after, f"redo of {name} did not re-apply it"
        assert not s.can_redo()
        return result

    act("set_image_status", lambda: s.set_image_status(img, "accepted"))
    cat = act("add_class", lambda: s.add_class("cat"))
    dog = act("add_class", lambda: s.add_class("dog", (1, 2, 3)))
    act("rename_class", lambda: s.rename_class(cat.id, "kitty"))
    act("set_class_color", lambda: s.set_class_color(cat.id, (9, 9, 9)))
    act("set_image_tags", lambda: s.set_image_tags(img, [cat.id, dog.id]))
    a = act("add_segment", lambda: s.add_segment(img, _box(h, w, 0, 10, 0, 10), cat.id))
    b = act("add_segment", lambda: s.add_segment(img, _box(h, w, 5, 20, 5, 30), None, state="proposed"))
    c = act("add_segment", lambda: s.add_segment(img, _box(h, w, 30, 40, 50, 60), dog.id, source="x"))
    act("set_segment_state", lambda: s.set_segment_state(c.id, "rejected"))
    act("set_segments_state", lambda: s.set_segments_state([a.id, c.id], SegmentState.PROPOSED))
    act("set_segment_class", lambda: s.set_segment_class(b.id, dog.id))
    assert s.segment(b.id).state == "accepted"  # relabelling accepts a proposal
    act("update_segment_mask", lambda: s.update_segment_mask(a.id, _box(h, w, 0, 12, 0, 14)))
    merged = act("merge_segments", lambda: s.merge_segments([a.id, b.id]))
    act("delete_segment", lambda: s.delete_segment(c.id))
    act("delete_class", lambda: s.delete_class(dog.id))
    # walk the whole history back and forward again
    n = 0
    while s.undo() is not None:
        n += 1
    assert n == 16 and dump(s)["classes"] == [] and dump(s)["segments"] == []
    while s.redo() is not None:
        n -= 1
    assert n == 0 and s.segment(merged.id).class_id == cat.id  # class of the first labelled input
    assert [c.name for c in s.classes()] == ["kitty"] and s.image_tags(img) == [cat.id]


def test_new_action_clears_redo_and_noop_is_not_a_step(project):
    s = project
    cls = s.add_class("a")
    s.rename_class(cls.id, "b")
    assert s.undo() == "Rename class to 'b'"
    assert s.can_redo()
    s.set_class_color(cls.id, (5, 5, 5))
    assert not s.can_redo() and s.redo() is None
    s.set_class_color(cls.id, (5, 5, 5))  # no change -> no undo step
    assert s.undo().startswith("Recolour")
    assert s.undo().startswith("Add class")
    assert s.undo() is None and not s.can_undo()


def test_undo_history_persists_across_reopen(tmp_path):
    path = tmp_path / "p.maskcurator"
    img = _png(tmp_path / "a.png", 30, 20)
    with ProjectStore.open(path) as s:
        (rec,) = s.add_images([img])
        cls = s.add_class("thing")
        seg = s.add_segment(rec.id, _box(20, 30, 2, 8, 3, 9), cls.id)
        s.update_segment_mask(seg.id, _box(20, 30, 2, 18, 3, 29))
    with ProjectStore.open(path) as s:
        assert s.segment(seg.id).area == 16 * 26
        assert s.undo().startswith("Edit mask")
        assert s.segment_mask(seg.id).sum() == 36
    with ProjectStore.open(path) as s:
        assert s.segment(seg.id).area == 36 and s.can_redo()
        s.redo()
        assert np.array_equal(s.segment_mask(seg.id), _box(20, 30, 2, 18, 3, 29))


# ---------------------------------------------------------------- segments
def test_merge_is_one_step_and_defaults_to_first_labelled_class(project):
    s = project
    img = s.images()[0].id
    dog, cat = s.add_class("dog"), s.add_class("cat")
    m1, m2, m3 = _box(40, 60, 0, 10, 0, 10), _box(40, 60, 5, 15, 5, 15), _box(40, 60, 30, 35, 50, 55)
    a = s.add_segment(img, m1, None, state="proposed")
    b = s.add_segment(img, m2, cat.id)
    c = s.add_segment(img, m3, dog.id)
    merged = s.merge_segments([a.id, b.id, c.id])
    assert merged.class_id == cat.id and merged.state == "accepted"
    assert np.array_equal(s.segment_mask(merged.id), m1 | m2 | m3)
    assert merged.area == int((m1 | m2 | m3).sum()) and merged.bbox == (0, 0, 55, 35)
    assert [x.id for x in s.segments(img)] == [merged.id]
    assert s.undo() == "Merge 3 segments"
    assert [x.id for x in s.segments(img)] == [a.id, b.id, c.id]
    with pytest.raises(StoreError, match="at least two"):
        s.merge_segments([a.id, a.id])
    other = s.add_images([_png(s.project_dir / "b.png", 60, 40)])[0]
    d = s.add_segment(other.id, m1)
    with pytest.raises(StoreError, match="different images"):
        s.merge_segments([a.id, d.id])
    assert s.merge_segments([a.id, c.id], class_id=cat.id).class_id == cat.id


def test_bulk_delete_and_relabel_are_one_step_each(project):
    s = project
    img = s.images()[0].id
    dog = s.add_class("dog")
    a = s.add_segment(img, _box(40, 60, 0, 10, 0, 10), None, state="proposed")
    b = s.add_segment(img, _box(40, 60, 20, 30, 20, 30), None, state="rejected")
    c = s.add_segment(img, _box(40, 60, 30, 35, 50, 55), None)
    before = dump(s)
    s.set_segments_class([a.id, b.id, a.id], dog.id)
    assert s.segment(a.id).class_id == dog.id and s.segment(b.id).class_id == dog.id
    assert s.segment(a.id).state == "accepted" and s.segment(b.id).state == "rejected"
    assert s.segment(c.id).class_id is None
    assert s.undo_description() == "Relabel 2 segments"
    assert s.undo() == "Relabel 2 segments"  # ONE step restores both
    assert dump(s) == before
    s.redo()
    relabelled = dump(s)
    s.delete_segments([a.id, c.id])
    assert [x.id for x in s.segments(img)] == [b.id]
    assert s.undo() == "Delete 2 segments"
    assert dump(s) == relabelled
    # a bad id anywhere in the list: StoreError and nothing written
    n_steps = s._conn().execute("SELECT COUNT(*) FROM undo_log").fetchone()[0]
    with pytest.raises(StoreError, match="no segment with id 999"):
        s.delete_segments([a.id, 999])
    with pytest.raises(StoreError, match="no segment with id 999"):
        s.set_segments_class([a.id, 999], None)
    with pytest.raises(StoreError, match="no class with id 77"):
        s.set_segments_class([a.id, b.id], 77)
    s.delete_segments([])
    s.set_segments_class([], dog.id)
    assert dump(s) == relabelled
    assert s._conn().execute("SELECT COUNT(*) FROM undo_log").fetchone()[0] == n_steps
    # the single-segment calls keep their descriptions
    s.delete_segment(c.id)
    assert s.undo() == f"Delete segment {c.id}"


def test_delete_class_leaves_segments_unlabelled_and_drops_tags(project):
    s = project
    img = s.images()[0].id
    dog, cat = s.add_class("dog"), s.add_class("cat")
    seg = s.add_segment(img, _box(40, 60, 0, 5, 0, 5), dog.id)
    keep = s.add_segment(img, _box(40, 60, 0, 5, 10, 15), cat.id)
    s.set_image_tags(img, [dog.id, cat.id])
    s.delete_class(dog.id)
    assert s.segment(seg.id).class_id is None and s.segment(keep.id).class_id == cat.id
    assert s.image_tags(img) == [cat.id]
    assert s.classes() == [ClassRecord(cat.id, "cat", cat.color)]
    s.undo()
    assert s.segment(seg.id).class_id == dog.id and s.image_tags(img) == [dog.id, cat.id]


def test_replace_proposals_keeps_curated_segments(project):
    s = project
    img = s.images()[0].id
    props = [Proposal(_box(40, 60, 0, 10, 0, 10), "dsm.object", label=0, score=0.9, name="c0"),
             Proposal(_box(40, 60, 20, 30, 0, 10), "dsm.object", label=1, name="c1"),
             Proposal(np.zeros((40, 60), bool), "dsm.object", label=2)]  # empty: dropped
    first = s.replace_proposals(img, "dsm.object", props)
    assert [(r.label, r.name, r.state) for r in first] == [(0, "c0", "proposed"), (1, "c1", "proposed")]
    other = s.replace_proposals(img, "stego", [Proposal(_box(40, 60, 0, 40, 0, 60), "stego")])
    s.set_segment_state(first[0].id, "accepted")
    assert not s.can_redo()
    s.undo()
    s.redo()  # the user's history is untouched by proposal replacement
    second = s.replace_proposals(img, "dsm.object", props[1:])
    ids = {r.id for r in s.segments(img)}
    assert ids == {first[0].id, other[0].id, second[0].id}
    assert first[1].id not in ids and second[0].id > first[1].id  # ids are never reused
    assert [r.id for r in s.segments(img, source="dsm.object", states=["proposed"])] == [second[0].id]
    assert s.segments(img, states=[]) == []
    with pytest.raises(StoreError, match="does not match"):
        s.replace_proposals(img, "x", [Proposal(np.ones((4, 4), bool), "x")])


def test_segment_rles_gives_one_images_stored_masks_in_one_query(project, tmp_path):
    s = project
    img = s.images()[0].id
    (other,) = s.add_images([_png(tmp_path / "proj" / "images" / "b.png", 60, 40, seed=1)])
    a = s.add_segment(img, _box(40, 60, 0, 10, 0, 10))
    b = s.add_segment(img, _box(40, 60, 5, 30, 20, 50))
    s.add_segment(other.id, _box(40, 60, 0, 40, 0, 60))
    s.update_segment_mask(b.id, _box(40, 60, 6, 31, 20, 50))
    queries = []
    s._conn().set_trace_callback(queries.append)
    rles = s.segment_rles(img)
    s._conn().set_trace_callback(None)
    assert set(rles) == {a.id, b.id}  # the other image's segment is not among them
    assert all(rles[i] == s.segment_rle(i) for i in rles)
    assert np.array_equal(rle_mod.decode(rles[b.id]), _box(40, 60, 6, 31, 20, 50))  # the updated mask
    assert sum("FROM segments" in q for q in queries) == 1
    assert s.segment_rles(other.id).keys() == {r.id for r in s.segments(other.id)}
    with pytest.raises(StoreError, match="no image"):
        s.segment_rles(999)


def test_bad_input_gives_clear_errors(project):
    s = project
    img = s.images()[0].id
    s.add_class("dog")
    with pytest.raises(StoreError, match="already exists"):
        s.add_class("dog")
    with pytest.raises(StoreError, match="empty"):
        s.add_class("  ")
    with pytest.raises(StoreError, match="colour"):
        s.add_class("cat", (300, 0, 0))
    with pytest.raises(StoreError, match="no class with id 99"):
        s.add_segment(img, np.zeros((40, 60), bool), class_id=99)
    with pytest.raises(StoreError, match="no segment with id 12345"):
        s.set_segment_state(12345, "accepted")
    with pytest.raises(StoreError, match="unknown segment state"):
        s.add_segment(img, np.zeros((40, 60), bool), state="maybe")
    with pytest.raises(StoreError, match="no image with id 77"):
        s.segments(77)
    assert [c.name for c in s.classes()] == ["dog"]  # failed actions left nothing behind
    assert s.undo().startswith("Add class") and not s.can_undo()


def test_auto_colours_are_distinct(project):
    colours = [project.add_class(f"c{i}").color for i in range(12)]
    assert len(set(colours)) == 12


def test_writers_from_several_threads(project):
    s = project
    img = s.images()[0].id
    errors = []

    def work(k):
        try:
            for i in range(15):
                s.add_segment(img, _box(40, 60, i, i + 2, k, k + 3), source=f"t{k}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(s.segments(img)) == 45
    assert s._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# ---------------------------------------------------------------- crash safety
_CHILD = r"""
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
from engine.store import ProjectStore
store = ProjectStore.open(sys.argv[2])
img = store.images()[0].id
for i in range(100000):
    if i % 2 == 0:
        store.add_class(f"class{i}")
    else:
        m = np.zeros((40, 60), bool); m[i % 40, :] = True
        store.add_segment(img, m, source="crash")
    print(i, flush=True)   # printed only after the transaction committed
"""


def test_sigkill_loses_no_committed_action(tmp_path):
    path = tmp_path / "proj" / "p.maskcurator"
    with ProjectStore.open(path) as s:
        s.add_images([_png(tmp_path / "proj" / "a.png", 60, 40)])
    proc = subprocess.Popen([sys.executable, "-c", _CHILD, str(REPO), str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    acknowledged = -1
    try:
        for line in proc.stdout:
            acknowledged = int(line)
            if acknowledged >= 40:
                break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert acknowledged >= 40, proc.stderr.read()
    assert proc.returncode == -signal.SIGKILL
    with ProjectStore.open(path) as s:
        assert s._conn().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        n_classes = len(s.classes())
        n_segments = len(s.segments(1, source="crash"))
        done = n_classes + n_segments
        assert done >= acknowledged + 1  # every acknowledged commit survived
        assert done <= acknowledged + 2  # at most the one in flight besides
        assert [c.name for c in s.classes()] == [f"class{i}" for i in range(0, 2 * n_classes, 2)]
        # the undo history survived too and is consistent with the data
        assert s.undo().startswith("Add ")
        assert len(s.classes()) + len(s.segments(1, source="crash")) == done - 1


# ---------------------------------------------------------------- hostile folders (issue 12)
def test_non_utf8_file_name_is_stored_losslessly(tmp_path):
    """A name that is not valid UTF-8 used to raise UnicodeEncodeError and make the folder unusable."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    good = _png(folder / "good.png", 20, 10)
    raw = os.fsencode(folder) + b"/caf\xe9 \xff.png"  # latin-1 byte + an invalid byte
    with open(raw, "wb") as f:
        f.write(good.read_bytes())
    bad = os.fsdecode(raw)
    with ProjectStore.open(folder / ".maskcurator" / "project.sqlite", image_root=folder) as s:
        added = s.add_images([good, bad])
        assert [Path(r.path).name for r in added] == ["good.png", os.fsdecode(b"caf\xe9 \xff.png")]
        rec = added[1]
        assert os.fsencode(rec.path) == raw and rec.error is None and (rec.width, rec.height) == (20, 10)
        assert s.add_images([bad]) == []  # recognised again
        s.set_image_status(rec.id, "accepted")  # undo log holds the row with its bytes key
        assert s.undo() and s.image(rec.id).status == "todo"
        assert s.relative_path(rec) == os.fsdecode(b"caf\xe9 \xff.png")
    with ProjectStore.open(folder / ".maskcurator" / "project.sqlite") as s:  # default root: above .maskcurator
        assert os.fsencode(s.images()[1].path) == raw


def test_printable_escapes_undecodable_bytes():
    from engine.store.paths import printable

    assert printable(os.fsdecode(b"a\xffb.png")) == "a\\xffb.png"
    assert printable("caf\u00e9.png") == "caf\u00e9.png"
    printable(os.fsdecode(b"a\xffb.png")).encode("utf-8")  # printable to any UTF-8 stream


def test_image_folder_paths_are_relative_so_a_moved_folder_opens_intact(tmp_path):
    """The database lives in <folder>/.maskcurator; images sit next to it, in the image folder."""
    folder = tmp_path / "data"
    a, b = _png(folder / "a.png", 20, 10), _png(folder / "sub" / "b.png", 20, 10, seed=1)
    db = folder / ".maskcurator" / "project.sqlite"
    with ProjectStore.open(db, image_root=folder) as s:
        s.add_images([a, b])
        s.add_class("cat")
    con = sqlite3.connect(db)
    assert [r[0] for r in con.execute("SELECT path FROM images ORDER BY id")] == ["a.png", "sub/b.png"]
    con.close()
    shutil.copytree(folder, tmp_path / "copy")
    shutil.move(str(folder), str(tmp_path / "moved"))
    for where in ("copy", "moved"):
        root = tmp_path / where
        with ProjectStore.open(root / ".maskcurator" / "project.sqlite", image_root=root) as s:
            assert [r.path for r in s.images()] == [str(root / "a.png"), str(root / "sub" / "b.png")]
            assert s.add_images([root / "a.png", root / "sub" / "b.png"]) == []  # no duplicates
            assert s.relative_path(1) == "a.png"


def test_v1_database_with_absolute_paths_is_migrated(tmp_path):
    """A v1 project stored the images of <folder>/.maskcurator projects as absolute paths; opening it in
    a moved folder must rebase them instead of duplicating every image."""
    old = tmp_path / "old"
    a = _png(old / "a.png", 20, 10)
    b = _png(old / "b.png", 20, 10, seed=1)
    db = old / ".maskcurator" / "project.sqlite"
    with ProjectStore.open(db) as s:
        s.add_images([a, b])
    con = sqlite3.connect(db)  # make it exactly what v1 wrote
    con.execute("UPDATE images SET path=? WHERE id=1", (str(a),))
    con.execute("UPDATE images SET path=? WHERE id=2", (str(b),))
    con.execute("DELETE FROM schema_version")
    con.execute("INSERT INTO schema_version(version) VALUES (1)")
    con.commit()
    con.close()
    shutil.move(str(old), str(tmp_path / "new"))
    new = tmp_path / "new"
    with ProjectStore.open(new / ".maskcurator" / "project.sqlite", image_root=new) as s:
        assert [r.path for r in s.images()] == [str(new / "a.png"), str(new / "b.png")]
        assert s.add_images([new / "a.png", new / "b.png"]) == []
    con = sqlite3.connect(new / ".maskcurator" / "project.sqlite")
    assert [r[0] for r in con.execute("SELECT path FROM images ORDER BY id")] == ["a.png", "b.png"]
    assert con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION
    con.close()


_FULL_DISK_CHILD = r"""
import resource, signal, sys
sys.path.insert(0, sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes fail with EFBIG instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # "the disk is full" for every write
from engine.store import ProjectStore, StoreError
try:
    ProjectStore.open(sys.argv[2])
except StoreError as exc:
    print(exc)
"""


def test_new_project_on_a_full_disk_is_not_called_corrupt_and_leaves_no_file(tmp_path):
    db = tmp_path / "proj" / "p.maskcurator"
    out = subprocess.run([sys.executable, "-c", _FULL_DISK_CHILD, str(REPO), str(db)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "corrupt" not in out.stdout and "cannot create the project file" in out.stdout, out.stdout
    assert not db.exists() and not Path(f"{db}-wal").exists()


def test_import_tags_is_one_transaction_and_one_undo_step(project):
    s = project
    s.add_class("cat")
    img = s.images()[0].id
    created = s.import_tags({img: ["cat", "dog", "dog"]})
    assert created == ["dog"]
    assert sorted(c.name for c in s.classes() if c.id in s.image_tags(img)) == ["cat", "dog"]
    with pytest.raises(StoreError):
        s.import_tags({img: ["bird"], 999: ["fish"]})  # unknown image: nothing written
    assert [c.name for c in s.classes()] == ["cat", "dog"]
    with pytest.raises(StoreError, match="UTF-8"):
        s.import_tags({img: [os.fsdecode(b"\xff")]})
    assert s.undo().startswith("Import tags")
    assert s.image_tags(img) == [] and [c.name for c in s.classes()] == ["cat"]
