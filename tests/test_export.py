"""Exporters on real COCO images: ground-truth masks go into the store as segments, come out as a COCO
file (RLE exact / polygons IoU > 0.9) and as semantic PNGs; failed writes leave nothing behind."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.export import ExportError, ExportReport, export_coco, export_semantic_pngs
from engine import fileio as atomic_mod
from engine.store import ProjectStore

IMAGES = ("000000000802.jpg", "000000011813.jpg", "000000022192.jpg", "000000051712.jpg")


def _load_coco(path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture(scope="module")
def gt(shared_data):
    return _load_coco(shared_data / "coco_val_subset" / "annotations" / "instances_val2017.json")


@pytest.fixture()
def curated(tmp_path, shared_data, gt):
    """Project with 4 real images; every non-crowd GT instance is an accepted, labelled segment.

    Returns (store, {segment_id: (file_name, gt_mask, category_name)}).
    """
    img_dir = shared_data / "coco_val_subset" / "images"
    store = ProjectStore.open(tmp_path / "proj" / "p.maskcurator")
    records = store.add_images([img_dir / n for n in IMAGES])
    by_name = {i["file_name"]: i for i in gt.dataset["images"]}
    cat_names = {c["id"]: c["name"] for c in gt.dataset["categories"]}
    anns = [a for n in IMAGES for a in gt.imgToAnns[by_name[n]["id"]] if not a["iscrowd"]]
    classes = {cid: store.add_class(cat_names[cid]) for cid in sorted({a["category_id"] for a in anns})}
    expected = {}
    for rec in records:
        info = by_name[Path(rec.path).name]
        assert (rec.width, rec.height) == (info["width"], info["height"])
        for a in gt.imgToAnns[info["id"]]:
            if a["iscrowd"]:
                continue
            mask = gt.annToMask(a).astype(bool)
            seg = store.add_segment(rec.id, mask, classes[a["category_id"]].id, source="gt")
            expected[seg.id] = (Path(rec.path).name, mask, cat_names[a["category_id"]])
    # things that must NOT be exported by default
    first = records[0]
    noise = np.zeros((first.height, first.width), bool)
    noise[:20, :20] = True
    store.add_segment(first.id, noise, None, source="dsm", state="proposed")
    store.add_segment(first.id, noise, None, source="dsm", state="rejected")
    yield store, expected
    store.close()


def _store_fingerprint(store):
    return ([(r.id, r.status, r.error) for r in store.images()], store.classes(),
            [(s, store.segment_rle(s.id)) for r in store.images() for s in store.segments(r.id)],
            store.can_undo(), store.can_redo(), store.undo_description())


def test_coco_rle_round_trip_is_exact(curated, tmp_path):
    store, expected = curated
    out = tmp_path / "export" / "instances.json"
    report = export_coco(store, out)
    assert isinstance(report, ExportReport) and report.path == str(out)
    assert (report.n_images, report.n_annotations) == (len(IMAGES), len(expected))
    assert report.n_categories == len(store.classes()) and report.skipped == ()
    coco = _load_coco(out)
    assert [c["name"] for c in coco.dataset["categories"]] == [c.name for c in store.classes()]
    assert [c["id"] for c in coco.dataset["categories"]] == list(range(1, len(store.classes()) + 1))
    assert [i["id"] for i in coco.dataset["images"]] == list(range(1, len(IMAGES) + 1))
    for img in coco.dataset["images"]:
        path = (store.project_dir / img["file_name"]).resolve()
        assert path.is_file() and path.name in IMAGES  # file_name is relative to the project folder
        with Image.open(path) as pil:
            assert (img["width"], img["height"]) == pil.size
    cats = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    got = sorted(((Path(coco.imgs[a["image_id"]]["file_name"]).name, cats[a["category_id"]],
                   coco.annToMask(a).astype(bool).tobytes(), a["bbox"], a["area"])
                  for a in coco.dataset["annotations"]), key=lambda t: (t[0], t[1], t[2]))
    from pycocotools import mask as mask_utils
    want = []
    for name, mask, cat in expected.values():
        r = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
        want.append((name, cat, mask.tobytes(), mask_utils.toBbox(r).tolist(), float(mask.sum())))
    want.sort(key=lambda t: (t[0], t[1], t[2]))
    assert got == want  # masks, classes, boxes and areas all exact
    raw = json.loads(out.read_text())
    ann = raw["annotations"][0]
    assert isinstance(ann["segmentation"]["counts"], str) and ann["iscrowd"] == 0
    assert all(isinstance(v, float) for v in ann["bbox"])
    assert [p.name for p in out.parent.iterdir()] == ["instances.json"]  # no temp files left


def test_coco_polygons_match_masks(curated, tmp_path):
    store, expected = curated
    out = tmp_path / "poly.json"
    report = export_coco(store, out, polygons=True)
    assert report.n_annotations == len(expected)
    coco = _load_coco(out)
    masks_by_key = {}
    for name, mask, cat in expected.values():
        masks_by_key.setdefault((name, cat), []).append(mask)
    cats = {c["id"]: c["name"] for c in coco.dataset["categories"]}
    n_poly = 0
    for a in coco.dataset["annotations"]:
        n_poly += isinstance(a["segmentation"], list)
        if isinstance(a["segmentation"], list):
            assert all(len(p) >= 6 and len(p) % 2 == 0 for p in a["segmentation"])
        got = coco.annToMask(a).astype(bool)
        cands = masks_by_key[(Path(coco.imgs[a["image_id"]]["file_name"]).name, cats[a["category_id"]])]
        best = max(np.logical_and(got, m).sum() / np.logical_or(got, m).sum() for m in cands)
        assert best > 0.9
    assert n_poly >= len(expected) // 2  # most GT instances (polygon-born) come out as polygons


def test_unlabelled_segments_and_filters(curated, tmp_path):
    store, expected = curated
    seg_id = next(iter(expected))
    store.set_segment_class(seg_id, None)
    report = export_coco(store, tmp_path / "a.json")
    assert report.n_annotations == len(expected) - 1
    assert any("1 unlabelled segment" in s for s in report.skipped)
    report = export_coco(store, tmp_path / "b.json", include_unlabelled=True)
    coco = _load_coco(tmp_path / "b.json")
    assert report.n_annotations == len(expected)
    assert coco.dataset["categories"][-1]["name"] == "object"
    assert report.n_categories == len(store.classes()) + 1
    # proposed segments too when asked; image-status filter keeps exactly those images (even empty)
    report = export_coco(store, tmp_path / "c.json", states=("accepted", "proposed"))
    assert report.n_annotations == len(expected) - 1  # unlabelled proposal and unlabelled gt skipped
    assert any("2 unlabelled segment" in s for s in report.skipped)
    report = export_coco(store, tmp_path / "c2.json", states=("accepted", "proposed"), include_unlabelled=True)
    assert report.n_annotations == len(expected) + 1  # ... but not the rejected one
    first = store.images()[0]
    store.set_image_status(first.id, "accepted")
    report = export_coco(store, tmp_path / "d.json", image_status=("accepted",))
    assert report.n_images == 1
    with pytest.raises(ExportError, match="unknown segment state"):
        export_coco(store, tmp_path / "e.json", states=("bogus",))


def test_delete_class_then_export_unlabelled(curated, tmp_path):
    store, expected = curated
    victim = store.classes()[0]
    n_victim = sum(1 for _, _, cat in expected.values() if cat == victim.name)
    store.delete_class(victim.id)
    report = export_coco(store, tmp_path / "x.json")
    assert report.n_annotations == len(expected) - n_victim
    assert report.n_categories == len(store.classes())
    store.undo()
    assert export_coco(store, tmp_path / "y.json").n_annotations == len(expected)


def test_bad_image_is_reported_not_exported(curated, tmp_path):
    store, expected = curated
    broken = tmp_path / "proj" / "broken.jpg"
    broken.write_bytes(b"garbage")
    (rec,) = store.add_images([broken])
    assert rec.error and rec.width == 0
    report = export_coco(store, tmp_path / "x.json", image_status=("todo",))
    assert any("broken.jpg: unreadable" in s for s in report.skipped)
    assert report.n_images == len(IMAGES)


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EACCES, errno.EROFS])
def test_failed_write_leaves_no_file_and_store_untouched(curated, tmp_path, monkeypatch, err):
    store, _ = curated
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    previous = out_dir / "instances.json"
    export_coco(store, previous)
    old_bytes = previous.read_bytes()
    store.set_segment_class(next(iter(_)), None)  # change something so a new export would differ
    before = _store_fingerprint(store)

    def failing_fsync(fd):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(atomic_mod.os, "fsync", failing_fsync)
    with pytest.raises(ExportError) as info:
        export_coco(store, previous)
    assert str(previous) in str(info.value) and os.strerror(err) in str(info.value)
    if err == errno.ENOSPC:
        assert "disk is full" in str(info.value)
    with pytest.raises(ExportError):
        export_coco(store, out_dir / "new.json")
    assert sorted(p.name for p in out_dir.iterdir()) == ["instances.json"]  # no temp, no partial
    assert previous.read_bytes() == old_bytes  # the earlier export is intact
    with pytest.raises(ExportError):
        export_semantic_pngs(store, out_dir / "sem")
    assert not (out_dir / "sem").exists()
    assert _store_fingerprint(store) == before


def test_read_only_folder(curated, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root ignores folder permissions; covered by the monkeypatched EACCES test")
    store, _ = curated
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="permission denied"):
            export_coco(store, ro / "x.json")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_semantic_pngs(curated, tmp_path):
    store, expected = curated
    out = tmp_path / "sem"
    report = export_semantic_pngs(store, out)
    classes = store.classes()
    value_of = {c.name: i + 1 for i, c in enumerate(classes)}
    assert (report.n_images, report.n_annotations, report.n_categories) == (len(IMAGES), len(expected), len(classes))
    legend = json.loads((out / "classes.json").read_text())
    assert [c["name"] for c in legend["classes"]] == [c.name for c in classes]
    assert sorted(p.name for p in out.iterdir()) == sorted([*(n.replace(".jpg", ".png") for n in IMAGES),
                                                            "classes.json"])
    for name in IMAGES:
        with Image.open(out / name.replace(".jpg", ".png")) as png:
            assert png.mode == "P"
            labels = np.asarray(png)
            palette = png.getpalette()
        masks = [(m, value_of[cat]) for n, m, cat in expected.values() if n == name]
        assert labels.shape == masks[0][0].shape
        cover = np.zeros(labels.shape, int)
        for m, _ in masks:
            cover += m
        assert np.all(labels[cover == 0] == 0)
        for m, v in masks:
            alone = m & (cover == 1)
            assert np.all(labels[alone] == v)
            assert palette[3 * v:3 * v + 3] == list(classes[v - 1].color)
        overlap = cover > 1
        assert np.all((labels[overlap] == 255) | np.isin(labels[overlap], [v for _, v in masks]))


def test_semantic_overlap_unlabelled_and_cleanup_on_failure(tmp_path, monkeypatch):
    from engine.export import semantic as semantic_mod

    proj = tmp_path / "proj"
    proj.mkdir()
    paths = []
    for k in range(3):
        paths.append(proj / f"im{k}.png")
        Image.new("RGB", (12, 8), (k, k, k)).save(paths[-1])
    with ProjectStore.open(proj / "p.maskcurator") as store:
        recs = store.add_images(paths)
        a, b = store.add_class("a"), store.add_class("b")
        m1 = np.zeros((8, 12), bool)
        m1[0:4, 0:6] = True
        m2 = np.zeros((8, 12), bool)
        m2[2:6, 4:10] = True
        m3 = np.zeros((8, 12), bool)
        m3[7, :] = True
        for rec in recs:
            store.add_segment(rec.id, m1, a.id)
            store.add_segment(rec.id, m2, b.id)
            store.add_segment(rec.id, m3, None)
            store.add_segment(rec.id, m1, a.id)  # same class twice: no conflict
        report = export_semantic_pngs(store, tmp_path / "sem")
        labels = np.asarray(Image.open(tmp_path / "sem" / "im0.png"))
        want = np.zeros((8, 12), np.uint8)
        want[m1] = 1
        want[m2] = 2
        want[m1 & m2] = 255
        want[m3] = 255
        assert np.array_equal(labels, want)
        assert report.n_annotations == 12 and report.n_images == 3

        real_write = semantic_mod.atomic_write_bytes
        calls = []

        def fail_third(path, data):
            calls.append(path)
            if len(calls) == 3:
                raise ExportError(f"Cannot write {path}: the disk is full")
            real_write(path, data)

        monkeypatch.setattr(semantic_mod, "atomic_write_bytes", fail_third)
        with pytest.raises(ExportError, match="disk is full"):
            export_semantic_pngs(store, tmp_path / "sem2")
        assert not (tmp_path / "sem2").exists()  # the two files written first were removed
        calls.clear()
        with pytest.raises(ExportError):
            export_semantic_pngs(store, tmp_path / "sem")
        # pre-existing files of the earlier export are still complete
        assert np.array_equal(np.asarray(Image.open(tmp_path / "sem" / "im0.png")), want)


def test_polygon_mode_falls_back_to_rle_for_holes_and_drops_nothing(tmp_path):
    proj = tmp_path / "proj"
    proj.mkdir()
    Image.new("RGB", (50, 40)).save(proj / "a.png")
    with ProjectStore.open(proj / "p.maskcurator") as store:
        (rec,) = store.add_images([proj / "a.png"])
        cls = store.add_class("ring")
        ring = np.zeros((40, 50), bool)
        ring[5:35, 5:35] = True
        ring[12:28, 12:28] = False  # a hole COCO polygons cannot express
        dot = np.zeros((40, 50), bool)
        dot[38, 48] = True  # a single pixel: still a valid (tiny) polygon
        two = np.zeros((40, 50), bool)
        two[0:3, 40:43] = True
        two[6:9, 46:49] = True  # two components -> two polygons
        for m in (ring, dot, two):
            store.add_segment(rec.id, m, cls.id)
        report = export_coco(store, tmp_path / "p.json", polygons=True)
        assert report.n_annotations == 3
        coco = _load_coco(tmp_path / "p.json")
        segs = [a["segmentation"] for a in coco.dataset["annotations"]]
        assert isinstance(segs[0], dict)  # ring -> RLE, exact
        assert isinstance(segs[1], list) and isinstance(segs[2], list) and len(segs[2]) == 2
        for a, m in zip(coco.dataset["annotations"], (ring, dot, two)):
            assert np.array_equal(coco.annToMask(a).astype(bool), m)


# ---------------------------------------------------------------- hostile targets (issue 12)
@pytest.fixture()
def folder_project(tmp_path):
    """An image folder with its project in <folder>/.maskcurator (as the app and CLI make it), three
    labelled images."""
    from engine.curation.project import open_project

    folder = tmp_path / "images"
    folder.mkdir()
    for k in range(3):
        Image.new("RGB", (12, 8), (40 * k, 0, 0)).save(folder / f"im{k}.png")
    store, paths = open_project(folder)
    cls = store.add_class("thing")
    for k, rec in enumerate(store.images()):
        m = np.zeros((8, 12), bool)
        m[k:k + 3, 2:9] = True
        store.add_segment(rec.id, m, cls.id)
    yield store, folder
    store.close()


def _run_export(store, **kw):
    from engine.curation import ExportRequest, run_export
    from engine.jobs import run_sync

    return run_sync(lambda ctx: run_export(ctx, store=store, request=ExportRequest(**kw)))


def test_export_never_overwrites_an_image_and_asks_before_a_foreign_file(folder_project, tmp_path):
    from engine.export.report import ExportTargetExists

    store, folder = folder_project
    image = folder / "im0.png"
    before = image.read_bytes()
    for force in (False, True):
        with pytest.raises(ExportError, match="image of this project"):
            _run_export(store, format="coco", out=image, force=force)
    assert image.read_bytes() == before
    with pytest.raises(ExportError, match="project database"):
        _run_export(store, format="coco", out=store.path, force=True)
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes")
    with pytest.raises(ExportTargetExists, match="force") as info:
        _run_export(store, format="coco", out=notes)
    assert info.value.path == notes and notes.read_text() == "my notes"
    assert _run_export(store, format="coco", out=notes, force=True).n_annotations == 3
    out = tmp_path / "a.json"
    _run_export(store, format="coco", out=out)
    _run_export(store, format="coco", out=out)  # a previous export of the same kind: replaced
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"images": [], "annotations": [], "categories": []}))
    _run_export(store, format="coco", out=other)  # a COCO file (another tool's): recognised
    # folder formats: never the image folder (its images would be swapped away), asked for a foreign one
    with pytest.raises(ExportError, match="holds images of this project"):
        _run_export(store, format="semantic", out=folder, force=True)
    with pytest.raises(ExportError, match="holds images of this project"):
        _run_export(store, format="semantic", out=tmp_path, force=True)
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("text")
    with pytest.raises(ExportTargetExists):
        _run_export(store, format="semantic", out=foreign)
    _run_export(store, format="semantic", out=foreign, force=True)
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("thesis.replaced-")]
    assert len(kept) == 1 and (kept[0] / "chapter1.tex").read_text() == "text"  # moved aside, not deleted
    assert (foreign / "classes.json").exists()
    _run_export(store, format="semantic", out=foreign)  # now our own export: no force needed


def test_failed_semantic_export_leaves_the_previous_one_intact(folder_project, tmp_path, monkeypatch):
    """It used to overwrite label maps one by one and then claim "Nothing was written"."""
    from engine.export import semantic as semantic_mod

    store, folder = folder_project
    out = tmp_path / "sem"
    _run_export(store, format="semantic", out=out)
    snapshot = {p.name: p.read_bytes() for p in out.iterdir()}
    for rec in store.images():  # every label map of the next export differs
        for seg in store.segments(rec.id):
            store.delete_segment(seg.id)
    real_write = semantic_mod.atomic_write_bytes
    calls = []

    def fail_third(path, data):
        calls.append(path)
        if len(calls) == 3:
            raise ExportError(f"Cannot write {path}: the disk is full. Nothing was written.")
        real_write(path, data)

    monkeypatch.setattr(semantic_mod, "atomic_write_bytes", fail_third)
    store.set_image_status(1, "accepted")
    store.set_image_status(2, "accepted")
    store.set_image_status(3, "accepted")
    with pytest.raises(ExportError, match="Nothing was written"):
        _run_export(store, format="semantic", out=out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == snapshot
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "sem"]  # no temporary folder left


def test_coco_file_name_is_relative_to_the_image_folder(folder_project, tmp_path):
    store, folder = folder_project
    out = tmp_path / "a.json"
    _run_export(store, format="coco", out=out)
    assert [im["file_name"] for im in json.loads(out.read_text())["images"]] == ["im0.png", "im1.png", "im2.png"]
    _run_export(store, format="coco", out=out, absolute_paths=True)
    assert [im["file_name"] for im in json.loads(out.read_text())["images"]] == \
        [str(folder / f"im{k}.png") for k in range(3)]


_KILLED_EXPORT = r"""
import os, sys
sys.path.insert(0, sys.argv[1])
from engine import fileio
def write(f):
    f.write(b"half of a file")
    f.flush()
    os._exit(9)  # killed mid-write: the temp file stays behind
fileio.atomic_write(sys.argv[2], write)
"""


def test_killed_export_leaves_a_temp_file_the_next_export_removes(folder_project, tmp_path):
    import subprocess
    import sys

    store, _ = folder_project
    out = tmp_path / "exports" / "a.json"
    out.parent.mkdir()
    repo = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", _KILLED_EXPORT, str(repo), str(out)], timeout=60)
    assert proc.returncode == 9
    assert [p.name for p in out.parent.iterdir() if p.name.endswith(".tmp")], "the kill left a temp file"
    _run_export(store, format="coco", out=out)
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.json"]


def test_a_kill_between_the_folder_swap_renames_is_repaired(folder_project, tmp_path):
    """Killed after the old export was moved aside: the next export puts it back before anything else,
    and a leftover of a completed swap is removed."""
    store, _ = folder_project
    out = tmp_path / "sem"
    _run_export(store, format="semantic", out=out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    os.rename(out, tmp_path / ".sem.old-99999999-abc")  # the kill: out missing, old aside (dead pid)
    from engine.export.atomic import _restore_interrupted_swap

    _restore_interrupted_swap(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    (tmp_path / ".sem.old-99999999-def").mkdir()  # killed after the swap, before the removal
    _run_export(store, format="semantic", out=out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images", "sem"]
