"""Store v3: per-image drawing order (``segments.z``), "label and accept" in one step, and the v2 → v3
migration of an existing project file (its undo history included)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.store import ProjectStore, StoreError
from engine.store.schema import SCHEMA_VERSION


def _box(y0: int, y1: int, x0: int, x1: int, h: int = 40, w: int = 60) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    return m


@pytest.fixture()
def project(tmp_path):
    path = tmp_path / "proj" / "a.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path)
    store = ProjectStore.open(tmp_path / "proj" / "p.sqlite")
    store.add_images([path])
    yield store
    store.close()


def _z(store: ProjectStore, image_id: int = 1) -> dict[int, int]:
    return {s.id: s.z for s in store.segments(image_id)}


def test_bring_to_front_and_send_to_back_are_undoable_steps(project):
    big = project.add_segment(1, _box(0, 40, 0, 60))
    small = project.add_segment(1, _box(10, 20, 10, 20))
    mid = project.add_segment(1, _box(5, 30, 5, 30))
    assert _z(project) == {big.id: 0, small.id: 0, mid.id: 0}  # new segments: "by size"
    project.move_segments_z([big.id], "front")
    z = _z(project)
    assert z[big.id] > max(z[small.id], z[mid.id])
    assert project.undo_description().startswith("Bring segment")
    project.move_segments_z([small.id, mid.id], "back")
    z = _z(project)
    assert z[mid.id] < z[small.id] < z[big.id]  # their own order (mid under small: bigger) is kept
    project.undo()
    assert _z(project)[small.id] == 0 and _z(project)[mid.id] == 0
    project.undo()
    assert _z(project) == {big.id: 0, small.id: 0, mid.id: 0}
    project.redo()
    assert _z(project)[big.id] == 1


def test_z_order_errors_are_clear(project, tmp_path):
    a = project.add_segment(1, _box(0, 10, 0, 10))
    with pytest.raises(StoreError, match="front"):
        project.move_segments_z([a.id], "top")
    with pytest.raises(StoreError, match="no segment"):
        project.move_segments_z([a.id, 999], "back")
    assert _z(project) == {a.id: 0}


def test_merge_keeps_the_highest_z(project):
    a = project.add_segment(1, _box(0, 10, 0, 10))
    b = project.add_segment(1, _box(0, 10, 10, 20))
    project.move_segments_z([b.id], "front")
    merged = project.merge_segments([a.id, b.id])
    assert merged.z == 1


def test_accept_with_a_class_is_one_step(project):
    cat = project.add_class("cat")
    seg = project.replace_proposals(1, "dsm", [type("P", (), {"mask": _box(0, 10, 0, 10), "label": 1,
                                                              "score": 0.5, "name": ""})()])[0]
    project.set_segments_state([seg.id], "accepted", class_id=cat.id)
    rec = project.segment(seg.id)
    assert (rec.state, rec.class_id) == ("accepted", cat.id)
    assert "as cat" in project.undo_description()
    project.undo()
    rec = project.segment(seg.id)
    assert (rec.state, rec.class_id) == ("proposed", None)
    with pytest.raises(StoreError, match="no class"):
        project.set_segments_state([seg.id], "accepted", class_id=12345)
    assert project.segment(seg.id).state == "proposed"  # nothing written


def _make_v2(db: Path) -> None:
    """Turn a fresh file into what v2 wrote: no ``segments.z`` column, version 2, undo rows without z."""
    con = sqlite3.connect(db)
    con.execute("ALTER TABLE segments DROP COLUMN z")
    con.execute("DELETE FROM schema_version")
    con.execute("INSERT INTO schema_version(version) VALUES (2)")
    for uid, changes in con.execute("SELECT id, changes FROM undo_log").fetchall():
        rows = json.loads(changes)
        for change in rows:
            for image in change[1:]:
                if image is not None:
                    image.pop("z", None)
        con.execute("UPDATE undo_log SET changes=? WHERE id=?", (json.dumps(rows), uid))
    con.commit()
    con.close()


def test_v2_database_is_migrated_with_its_undo_history(tmp_path):
    path = tmp_path / "proj" / "a.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(path)
    db = tmp_path / "proj" / "p.sqlite"
    with ProjectStore.open(db) as s:
        s.add_images([path])
        a = s.add_segment(1, _box(0, 10, 0, 10))
        s.delete_segment(a.id)  # its undo step restores a row written by v2 (no z)
    _make_v2(db)
    con = sqlite3.connect(db)
    assert "z" not in {r[1] for r in con.execute("PRAGMA table_info(segments)")}
    con.close()
    with ProjectStore.open(db) as s:
        assert s.undo() is not None
        assert s.segment(a.id).z == 0
        b = s.add_segment(1, _box(20, 30, 20, 30))
        s.move_segments_z([a.id], "front")
        assert s.segment(a.id).z == 1 and s.segment(b.id).z == 0
    con = sqlite3.connect(db)
    assert con.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] == SCHEMA_VERSION == 3
    con.close()
    with ProjectStore.open(db) as s:  # opening again: already v3, nothing to migrate
        assert s.segment(a.id).z == 1
