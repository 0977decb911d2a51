"""Importing existing annotations (COCO, labelme, class-index masks) as ``import`` proposals.

The COCO round trip is on the real COCO subset: import the file into a project of copied images,
export it again with the COCO exporter, and every non-crowd instance comes back with IoU = 1.
Crowd annotations are not imported (a crowd region is not one object; the plan says so).
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.curation.imports import (AnnotationImportError, ImportRequest, import_formats, plan_import,
                                     run_import)
from engine.export import export_coco
from engine.export.labelme import export_labelme
from engine.export.voc import export_voc
from engine.store import ProjectStore
from engine.store.rle import decode

IMAGES = ("000000000139.jpg", "000000000802.jpg", "000000011813.jpg", "000000005001.jpg", "000000022192.jpg",
          "000000051712.jpg")


class _Ctx:
    """Minimal JobContext stand-in: records progress."""

    device = "cpu"

    def __init__(self):
        self.messages = []

    def progress(self, frac, msg=""):
        self.messages.append((frac, msg))

    def check_cancelled(self):
        pass

    def message(self, text):
        pass


def _load_coco(path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture(scope="module")
def coco_file(shared_data):
    return shared_data / "coco_val_subset" / "annotations" / "instances_val2017.json"


@pytest.fixture(scope="module")
def gt(coco_file):
    return _load_coco(coco_file)


def _project(tmp_path, shared_data, names=IMAGES, sub="imgs"):
    folder = tmp_path / sub
    folder.mkdir(parents=True)
    for n in names:
        shutil.copy(shared_data / "coco_val_subset" / "images" / n, folder / n)
    store = ProjectStore.open(folder / ".maskcurator" / "project.sqlite", image_root=folder)
    store.add_images(sorted(folder.glob("*.jpg")))
    return store, folder


def test_import_formats_registered():
    assert {f.name for f in import_formats()} >= {"coco", "labelme", "masks"}


def test_coco_round_trip_is_exact(tmp_path, shared_data, coco_file, gt):
    store, _ = _project(tmp_path, shared_data)
    existing = store.add_class("Person")  # matched case-insensitively, not duplicated
    plan = plan_import(store, "coco", coco_file)
    by_name = {i["file_name"]: i for i in gt.dataset["images"]}
    anns = [a for n in IMAGES for a in gt.imgToAnns[by_name[n]["id"]]]
    crowd = [a for a in anns if a["iscrowd"]]
    solid = [a for a in anns if not a["iscrowd"]]
    assert crowd, "the chosen images should include a crowd annotation"
    assert plan.n_segments == len(solid) and len(plan.images) == len(IMAGES)
    assert len(plan.unmatched) == len(gt.dataset["images"]) - len(IMAGES)
    person = next(c for c in plan.classes if c.source == "person")
    assert person.target == "Person" and person.existing_id == existing.id and not person.is_new
    assert "Person" in plan.existing_classes and "person" not in plan.new_classes
    cat_names = {c["id"]: c["name"] for c in gt.dataset["categories"]}
    assert set(plan.new_classes) == {cat_names[a["category_id"]] for a in solid} - {"person"}
    assert any("crowd" in s for s in plan.skipped)
    assert any("Person" in line for line in plan.summary_lines())

    ctx = _Ctx()
    report = run_import(ctx, store=store, plan=plan)
    assert report.n_segments == len(solid) and set(report.new_classes) == set(plan.new_classes)
    segs = [s for r in store.images() for s in store.segments(r.id)]
    assert {(s.source, s.state) for s in segs} == {("import", "proposed")}
    assert store.undo_description() == report.undo

    out = tmp_path / "export.json"
    export_coco(store, out, states=("proposed", "accepted"))
    exported = _load_coco(out)
    from pycocotools import mask as mask_utils

    exp_by_base = {Path(i["file_name"]).name: i for i in exported.dataset["images"]}
    exp_cats = {c["id"]: c["name"] for c in exported.dataset["categories"]}
    n_checked = 0
    for n in IMAGES:
        want = [a for a in gt.imgToAnns[by_name[n]["id"]] if not a["iscrowd"]]
        got = exported.imgToAnns[exp_by_base[n]["id"]]
        assert len(got) == len(want)
        info = by_name[n]
        rles_want = [gt.annToRLE(a) for a in want]
        rles_got = [exported.annToRLE(a) for a in got]
        iou = mask_utils.iou(rles_got, rles_want, [0] * len(rles_want))
        for k, a in enumerate(want):  # import keeps the file order: instance k <-> segment k
            assert iou[k, k] == 1.0, (n, a["id"])
            assert exp_cats[got[k]["category_id"]].lower() == cat_names[a["category_id"]]
            n_checked += 1
        assert (info["height"], info["width"]) == (exp_by_base[n]["height"], exp_by_base[n]["width"])
    assert n_checked == len(solid)


def test_import_is_one_undo_step_with_its_classes(tmp_path, shared_data, coco_file):
    store, _ = _project(tmp_path, shared_data, IMAGES[:2])
    store.add_class("keep")
    report = run_import(_Ctx(), store=store, request=ImportRequest("coco", coco_file))
    assert report.n_segments > 0 and report.new_classes
    assert store.undo() == report.undo
    assert [c.name for c in store.classes()] == ["keep"]
    assert all(not store.segments(r.id) for r in store.images())
    assert store.redo() == report.undo
    assert len([s for r in store.images() for s in store.segments(r.id)]) == report.n_segments
    seg = next(s for r in store.images() for s in store.segments(r.id))
    other = next(s for s in store.segments(seg.image_id) if s.id != seg.id)
    merged = store.merge_segments([seg.id, other.id])  # curated like any proposal
    assert merged.state == "accepted"


def test_class_map_and_matching_rules(tmp_path, shared_data, coco_file):
    store, folder = _project(tmp_path, shared_data, IMAGES[:3])
    sub = folder / "more"
    sub.mkdir()
    shutil.copy(folder / IMAGES[0], sub / IMAGES[0])  # same base name twice: ambiguous by base name
    store.add_images([sub / IMAGES[0]])
    doc = json.loads(coco_file.read_text())
    keep = {IMAGES[0], IMAGES[1], IMAGES[2]}
    doc["images"] = [i for i in doc["images"] if i["file_name"] in keep]
    for i in doc["images"]:
        if i["file_name"] == IMAGES[0]:
            i["file_name"] = f"more/{IMAGES[0]}"  # relative to the image folder: exact
        elif i["file_name"] == IMAGES[2]:
            i["width"] += 1  # a size that does not fit the project image
    ids = {i["id"] for i in doc["images"]}
    doc["annotations"] = [a for a in doc["annotations"] if a["image_id"] in ids]
    doc["images"].append({"id": 1, "file_name": "elsewhere/nothere.jpg", "height": 10, "width": 10})
    f = tmp_path / "subset.json"
    f.write_text(json.dumps(doc))
    plan = plan_import(store, "coco", f, class_map={"person": "people", "chair": None})
    how = {m.file_name: m.how for m in plan.images}
    assert how == {f"more/{IMAGES[0]}": "relative", IMAGES[1]: "relative"}
    assert plan.images[0].image_path.endswith(f"more/{IMAGES[0]}")
    assert plan.unmatched == ("elsewhere/nothere.jpg",)
    assert any("annotated at" in s and IMAGES[2] in s for s in plan.skipped)
    targets = {c.source: c.target for c in plan.classes}
    assert targets.get("person") == "people"
    assert targets["chair"] is None  # 000000000139.jpg has chairs
    report = run_import(_Ctx(), store=store, plan=plan)
    assert "people" in [c.name for c in store.classes()] and "chair" not in [c.name for c in store.classes()]
    assert report.n_segments == plan.n_segments
    # base-name fallback, ambiguous when two project images share it
    doc2 = dict(doc, images=[dict(i, file_name="train/" + Path(i["file_name"]).name) for i in doc["images"][:2]])
    (tmp_path / "base.json").write_text(json.dumps(doc2))
    plan2 = plan_import(store, "coco", tmp_path / "base.json")
    assert [(m.file_name, m.how) for m in plan2.images] == [(f"train/{IMAGES[1]}", "basename")]
    assert any("share its basename" in s for s in plan2.skipped)


def test_bad_sources_raise_clear_errors(tmp_path, shared_data):
    store, _ = _project(tmp_path, shared_data, IMAGES[:1])
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(AnnotationImportError, match="not a readable JSON"):
        plan_import(store, "coco", tmp_path / "x.json")
    (tmp_path / "y.json").write_text(json.dumps({"foo": 1}))
    with pytest.raises(AnnotationImportError, match="not a COCO"):
        plan_import(store, "coco", tmp_path / "y.json")
    with pytest.raises(AnnotationImportError, match="not found"):
        plan_import(store, "masks", tmp_path / "missing")
    with pytest.raises(AnnotationImportError):
        plan_import(store, "labelme", tmp_path / "y.json")  # no 'shapes': not labelme


def test_labelme_export_import_round_trip(tmp_path, shared_data, coco_file, gt):
    source, folder = _project(tmp_path, shared_data, IMAGES[:3])
    run_import(_Ctx(), store=source, request=ImportRequest("coco", coco_file))
    source.set_segments_state([s.id for r in source.images() for s in source.segments(r.id)], "accepted")
    out = tmp_path / "labelme"
    export_labelme(source, out)
    original = {(Path(r.path).name, s.id): (source.class_(s.class_id).name, source.segment_mask(s.id))
                for r in source.images() for s in source.segments(r.id)}
    target = ProjectStore.open(tmp_path / "p2" / "project.sqlite", image_root=folder)
    target.add_images(sorted(folder.glob("*.jpg")))
    plan = plan_import(target, "labelme", out)
    assert {m.how for m in plan.images} == {"path"} and not plan.unmatched
    run_import(_Ctx(), store=target, plan=plan)
    for r in target.images():
        got = [(target.class_(s.class_id).name, target.segment_mask(s.id)) for s in target.segments(r.id)]
        want = [v for (name, _), v in sorted(original.items()) if name == Path(r.path).name]
        assert len(got) == len(want)
        for (gname, gm), (wname, wm) in zip(got, want):
            assert gname == wname
            iou = np.count_nonzero(gm & wm) / np.count_nonzero(gm | wm)
            assert iou >= 0.94  # polygons at the export tolerance (holes are lost)


def test_masks_import_voc_samples(tmp_path, shared_data):
    voc = shared_data / "voc12_samples"
    names = sorted(p.name for p in (voc / "masks").iterdir())[:4]
    folder = tmp_path / "imgs"
    masks = tmp_path / "masks"
    folder.mkdir()
    masks.mkdir()
    for n in names:
        shutil.copy(voc / "images" / n, folder / n)
        shutil.copy(voc / "masks" / n, masks / n)
    voc_names = ["background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
                 "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
                 "train", "tvmonitor"]
    (masks / "class_names.txt").write_text("\n".join(voc_names) + "\n")
    store = ProjectStore.open(folder / ".maskcurator" / "project.sqlite", image_root=folder)
    store.add_images(sorted(folder.glob("*.png")))
    plan = plan_import(store, "masks", masks)
    assert {m.how for m in plan.images} == {"relative"} and len(plan.images) == len(names)
    run_import(_Ctx(), store=store, plan=plan)
    for r in store.images():
        labels = np.asarray(Image.open(masks / Path(r.path).name))
        segs = store.segments(r.id)
        values = [v for v in np.unique(labels) if v not in (0, 255)]
        assert len(segs) == len(values) > 0
        for s in segs:
            k = voc_names.index(store.class_(s.class_id).name)
            assert np.array_equal(store.segment_mask(s.id), labels == k)


def test_voc_export_masks_import_round_trip(tmp_path, shared_data, coco_file):
    source, folder = _project(tmp_path, shared_data, IMAGES[:2])
    run_import(_Ctx(), store=source, request=ImportRequest("coco", coco_file))
    out = tmp_path / "voc"
    export_voc(source, out, states=("proposed",))
    target = ProjectStore.open(tmp_path / "p2" / "project.sqlite", image_root=folder)
    target.add_images(sorted(folder.glob("*.jpg")))
    plan = plan_import(target, "masks", out / "SegmentationClass")  # class list read from the parent
    assert {m.how for m in plan.images} == {"relative"}
    run_import(_Ctx(), store=target, plan=plan)
    for r_src, r_dst in zip(source.images(), target.images()):
        with Image.open(out / "SegmentationClass" / f"{Path(r_src.path).stem}.png") as im:
            labels = np.asarray(im)
        for s in target.segments(r_dst.id):
            name = target.class_(s.class_id).name
            value = 1 + [c.name for c in source.classes()].index(name)
            assert np.array_equal(target.segment_mask(s.id), labels == value)
            # where a class is alone in the source, the import reproduces the source's union exactly
            union = np.zeros_like(labels, dtype=bool)
            for t in source.segments(r_src.id):
                if source.class_(t.class_id).name == name:
                    union |= decode(source.segment_rle(t.id))
            assert not (target.segment_mask(s.id) & ~union).any()


def test_cli_import_dry_run_then_apply(tmp_path, shared_data, coco_file, capsys):
    from engine.cli import main as cli_main

    store, folder = _project(tmp_path, shared_data, IMAGES[:2])
    store.close()
    assert cli_main(["-q", "import", str(folder), str(coco_file), "--format", "coco", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "new class 'person'" in out and "dry run" in out
    store = ProjectStore.open(folder / ".maskcurator" / "project.sqlite")
    assert not store.classes()
    store.close()
    assert cli_main(["-q", "import", str(folder), str(coco_file), "--format", "coco", "--map", "person=human"]) == 0
    out = capsys.readouterr().out
    assert "imported" in out
    store = ProjectStore.open(folder / ".maskcurator" / "project.sqlite")
    assert "human" in [c.name for c in store.classes()] and "person" not in [c.name for c in store.classes()]
    store.close()
    assert cli_main(["-q", "import", str(folder), str(tmp_path / "nope.json"), "--format", "coco"]) == 2
