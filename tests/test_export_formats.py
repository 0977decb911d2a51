"""labelme / YOLO / VOC exporters and the mask <-> polygon helpers, on real COCO masks.

Each format is read back by its own rules: labelme by its schema, YOLO by its normalisation rules,
VOC by decoding the palette PNGs and comparing them with the store's masks.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from engine.export import EXPORT_FORMATS, ExportError
from engine.export.labelme import export_labelme
from engine.export.voc import export_voc, voc_palette
from engine.export.yolo import export_yolo
from engine.polygons import mask_to_polygons, polygons_to_mask
from engine.store import ProjectStore

IMAGES = ("000000000802.jpg", "000000011813.jpg", "000000022192.jpg")


def _load_coco(path):
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


@pytest.fixture(scope="module")
def gt(shared_data):
    return _load_coco(shared_data / "coco_val_subset" / "annotations" / "instances_val2017.json")


def _iou(a, b):
    return np.count_nonzero(a & b) / max(1, np.count_nonzero(a | b))


@pytest.fixture()
def curated(tmp_path, shared_data, gt):
    """Images copied into tmp_path/imgs; every non-crowd GT instance an accepted labelled segment, one
    unlabelled segment; returns (store, {segment_id: (image record, mask, class name or None)})."""
    folder = tmp_path / "imgs"
    folder.mkdir()
    for n in IMAGES:
        shutil.copy(shared_data / "coco_val_subset" / "images" / n, folder / n)
    store = ProjectStore.open(folder / ".maskcurator" / "project.sqlite")
    records = store.add_images([folder / n for n in IMAGES])
    by_name = {i["file_name"]: i for i in gt.dataset["images"]}
    cat_names = {c["id"]: c["name"] for c in gt.dataset["categories"]}
    classes = {}
    expected = {}
    for rec in records:
        for a in gt.imgToAnns[by_name[Path(rec.path).name]["id"]]:
            if a["iscrowd"]:
                continue
            name = cat_names[a["category_id"]]
            if name not in classes:
                classes[name] = store.add_class(name).id
            mask = gt.annToMask(a).astype(bool)
            seg = store.add_segment(rec.id, mask, classes[name], source="gt")
            expected[seg.id] = (rec, mask, name)
    blob = np.zeros((records[0].height, records[0].width), bool)
    blob[5:25, 5:40] = True
    seg = store.add_segment(records[0].id, blob, None, source="gt")
    expected[seg.id] = (records[0], blob, None)
    yield store, expected
    store.close()


# -- polygons ------------------------------------------------------------------------------------

def test_polygon_round_trip_on_real_coco_masks(gt):
    """Every non-crowd instance of 40 images: exact outline at tolerance 0, mean IoU > 0.95 at 1.0 px,
    and with min_iou=0.95 every instance stays >= 0.95 (small objects get a smaller tolerance)."""
    anns = [a for img in gt.dataset["images"][:40] for a in gt.imgToAnns[img["id"]] if not a["iscrowd"]]
    assert len(anns) > 200
    exact, at_one, guarded, vertices = [], [], [], []
    for a in anns:
        m = gt.annToMask(a).astype(bool)
        exact.append(_iou(m, polygons_to_mask(mask_to_polygons(m, 0.0), m.shape)))
        at_one.append(_iou(m, polygons_to_mask(mask_to_polygons(m, 1.0), m.shape)))
        polys = mask_to_polygons(m, 1.0, min_iou=0.95)
        guarded.append(_iou(m, polygons_to_mask(polys, m.shape)))
        vertices.append(sum(len(p) for p in polys))
    assert min(exact) > 0.98
    assert np.mean(at_one) > 0.95
    assert min(guarded) >= 0.95
    assert np.mean(vertices) < 60  # simplified: editable, not one vertex per pixel corner


def test_polygon_helpers_edge_cases():
    hw = (40, 60)
    assert mask_to_polygons(np.zeros(hw, bool)) == []
    ring = np.zeros(hw, bool)
    ring[5:35, 5:35] = True
    ring[15:25, 15:25] = False  # a hole: polygons keep the outline only
    ring[10:13, 45:48] = True  # a second part
    polys = mask_to_polygons(ring, 0.0)
    assert len(polys) == 2 and abs(polys[0]).max() <= 60 and polys[0].shape[1] == 2
    back = polygons_to_mask(polys, hw)
    assert back[20, 20] and not ring[20, 20]  # hole filled
    filled = ring.copy()
    filled[15:25, 15:25] = True
    assert np.array_equal(back, filled)
    square = np.array([[5, 5], [35, 5], [35, 35], [5, 35]], float)
    assert polygons_to_mask([square, [[1, 1], [2, 2]]], hw).sum() == 30 * 30  # degenerate one ignored
    assert polygons_to_mask([square.ravel().tolist()], hw).sum() == 900  # flat form
    with pytest.raises(ValueError):
        mask_to_polygons(ring, -1)


# -- registry and folder safety -----------------------------------------------------------------

def test_new_formats_are_registered_as_folders():
    for name in ("labelme", "yolo", "voc"):
        fmt = EXPORT_FORMATS.get(name)
        assert fmt.target == "folder" and fmt.default_name


def test_folder_exports_replace_their_own_and_refuse_foreign_folders(curated, tmp_path, monkeypatch):
    from engine.curation.export import ExportRequest, run_export
    from engine.export.report import ExportTargetExists
    from engine.jobs import run_sync

    store, _ = curated
    for name in ("labelme", "yolo", "voc"):
        out = tmp_path / name
        run_sync(lambda ctx: run_export(ctx, store=store, request=ExportRequest(name, out)), "cpu")
        first = sorted(p.relative_to(out) for p in out.rglob("*"))
        # a previous export of the format is recognised (its marker) and replaced, nothing kept aside
        run_sync(lambda ctx: run_export(ctx, store=store, request=ExportRequest(name, out)), "cpu")
        assert sorted(p.relative_to(out) for p in out.rglob("*")) == first
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(f"{name}.")
                      or p.name.startswith(f".{name}")) == []
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.json").write_text("{}")  # looks like labelme's *.json, still not ours
    with pytest.raises(ExportTargetExists):
        run_sync(lambda ctx: run_export(ctx, store=store, request=ExportRequest("labelme", foreign)), "cpu")
    assert [p.name for p in foreign.iterdir()] == ["notes.json"]

    import engine.export.voc as voc_mod

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(voc_mod, "_png", broken)
    out = tmp_path / "voc"
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(ExportError, match="disk is full"):
        export_voc(store, out)
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before  # old export intact
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp folder left


# -- formats read back --------------------------------------------------------------------------

def test_labelme_export_schema(curated, tmp_path):
    store, expected = curated
    out = tmp_path / "labelme"
    report = export_labelme(store, out, include_unlabelled=True)
    files = sorted(f for f in out.glob("*.json") if not f.name.startswith("."))  # not the export marker
    assert report.n_images == len(files) == len(IMAGES)
    n_groups = {}
    for f in files:
        doc = json.loads(f.read_text())
        assert {"version", "flags", "shapes", "imagePath", "imageData", "imageHeight", "imageWidth"} <= set(doc)
        assert doc["imageData"] is None and isinstance(doc["version"], str)
        image = (out / doc["imagePath"]).resolve()
        assert not Path(doc["imagePath"]).is_absolute() and image.is_file()
        with Image.open(image) as im:
            assert (doc["imageWidth"], doc["imageHeight"]) == im.size
        for s in doc["shapes"]:
            assert s["shape_type"] == "polygon" and isinstance(s["label"], str) and s["label"]
            assert s["group_id"] is None or isinstance(s["group_id"], int)
            pts = np.asarray(s["points"], float)
            assert pts.ndim == 2 and pts.shape[1] == 2 and len(pts) >= 3
            assert (pts >= 0).all() and (pts[:, 0] <= doc["imageWidth"]).all()
            assert (pts[:, 1] <= doc["imageHeight"]).all()
            if s["group_id"] is not None:
                n_groups[(f.name, s["group_id"])] = n_groups.get((f.name, s["group_id"]), 0) + 1
        labels = {s["label"] for s in doc["shapes"]}
        names = {n or "object" for rec, _, n in expected.values() if Path(rec.path).stem == f.stem}
        assert labels == names
    assert all(v >= 2 for v in n_groups.values())  # group_id only joins parts of one segment


def test_yolo_export_normalisation(curated, tmp_path):
    store, expected = curated
    out = tmp_path / "yolo"
    report = export_yolo(store, out)  # the unlabelled segment is left out
    data = yaml.safe_load((out / "data.yaml").read_text())
    assert data["nc"] == len(data["names"]) == len(store.classes())
    assert data["names"] == [c.name for c in store.classes()]
    listed = (out / "images.txt").read_text().split()
    assert len(listed) == len(IMAGES) and all((out / p).resolve().is_file() for p in listed)
    n_lines = 0
    for p in listed:
        stem = Path(p).stem
        label_file = out / "labels" / f"{stem}.txt"
        rec = next(r for r, _, _ in expected.values() if Path(r.path).stem == stem)
        union = np.zeros((rec.height, rec.width), bool)
        for line in label_file.read_text().splitlines():
            n_lines += 1
            fields = line.split()
            cid, coords = int(fields[0]), np.array(fields[1:], float)
            assert 0 <= cid < data["nc"]
            assert len(coords) % 2 == 0 and len(coords) >= 6
            assert ((coords >= 0) & (coords <= 1)).all()
            pts = coords.reshape(-1, 2) * [rec.width, rec.height]
            union |= polygons_to_mask([pts], union.shape)
        truth = np.zeros_like(union)
        for r, m, n in expected.values():
            if r.id == rec.id and n is not None:
                truth |= m
        assert _iou(union, truth) > 0.9  # the denormalised polygons cover the labelled objects
    assert n_lines >= report.n_annotations == sum(1 for *_, n in expected.values() if n is not None)


def test_voc_export_decodes_to_store_masks(curated, tmp_path):
    store, expected = curated
    out = tmp_path / "voc"
    export_voc(store, out, states=("accepted",))
    names = (out / "class_names.txt").read_text().splitlines()
    assert names[0] == "background" and names[1:] == [c.name for c in store.classes()]
    value_of = {n: i for i, n in enumerate(names)}
    for rec in store.images():
        with Image.open(out / "SegmentationClass" / f"{Path(rec.path).stem}.png") as im:
            assert im.mode == "P" and im.getpalette()[:768] == voc_palette()
            labels = np.asarray(im)
        assert labels.shape == (rec.height, rec.width)
        segs = [(m, n) for r, m, n in expected.values() if r.id == rec.id]
        covered = np.zeros(labels.shape, bool)
        for m, _ in segs:
            covered |= m
        assert (labels[~covered] == 0).all()
        for m, n in segs:
            want = 255 if n is None else value_of[n]
            alone = m.copy()
            for m2, n2 in segs:
                if m2 is not m and n2 != n:
                    alone &= ~m2
            assert (labels[alone] == want).all()  # pixels no other class claims carry the class value
            assert np.isin(labels[m], (want, 255)).all()  # elsewhere: the value or void (overlap)
