"""The headless CLI end to end on real photos: batch → store → COCO export, tags, info, clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from engine.cli import main as cli
from engine.project import project_paths


@pytest.fixture()
def small_folder(tmp_path, demo_dir):
    """Three demo photos downscaled (fast on CPU) plus one corrupt file."""
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        img = Image.open(demo_dir / name).convert("RGB")
        img.thumbnail((160, 160))
        img.save(tmp_path / name)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    return tmp_path


def test_batch_then_export_roundtrips_with_pycocotools(small_folder, tmp_path_factory, capsys):
    from pycocotools.coco import COCO

    out = tmp_path_factory.mktemp("export") / "proposals.json"
    rc = cli(["-q", "batch", str(small_folder), "--backbone", "random_vitt16", "--max-side", "128",
              "--no-matting", "--segments", "3", "--clusters", "3", "--device", "cpu", "--export", str(out)])
    captured = capsys.readouterr()
    assert rc == 3, captured.err  # finished; 3 = some files could not be read
    assert "broken.jpg" in captured.err  # reported, not fatal
    assert "analysed 3/3 images" in captured.out
    coco = COCO(str(out))
    assert len(coco.getImgIds()) == 3
    anns = coco.loadAnns(coco.getAnnIds())
    assert anns, "proposals were exported"
    for ann in anns:
        img = coco.loadImgs(ann["image_id"])[0]
        m = coco.annToMask(ann)
        assert m.shape == (img["height"], img["width"]) and m.sum() == ann["area"]
    # second run reuses the cached analyses and keeps the project; more clusters than segments are
    # clamped (the app's rule), a single cluster is skipped
    assert cli(["-q", "batch", str(small_folder), "--backbone", "random_vitt16", "--max-side", "128",
                "--no-matting", "--segments", "3", "--clusters", "50", "--device", "cpu"]) == 3
    assert project_paths(small_folder).database.exists()
    assert cli(["-q", "batch", str(small_folder), "--backbone", "random_vitt16", "--max-side", "128",
                "--no-matting", "--segments", "3", "--clusters", "1", "--device", "cpu"]) == 3
    assert "clustering skipped" in capsys.readouterr().err
    assert cli(["info", str(small_folder)]) == 0
    info = capsys.readouterr().out
    assert "dsm.object" in info and "dsm.semantic" in info and "error 1" in info
    # export formats come from the registry
    sem = tmp_path_factory.mktemp("semantic")
    assert cli(["export", str(small_folder), "--out", str(sem), "--format", "semantic", "--states", "proposed"]) == 0
    assert (sem / "classes.json").exists()


def test_tags_import_creates_classes_and_tags(small_folder, capsys):
    from engine.store import ProjectStore

    tags = small_folder / "tags.csv"
    tags.write_text("chelsea.png,cat\ncoffee.png,cup;table\nmissing.png,dog\n")
    assert cli(["tags", "import", str(small_folder), str(tags)]) == 0
    assert "missing.png" in capsys.readouterr().err
    store = ProjectStore.open(project_paths(small_folder).database)
    try:
        names = {c.id: c.name for c in store.classes()}
        by_file = {r.path.split("/")[-1]: r for r in store.images()}
        assert sorted(names[t] for t in store.image_tags(by_file["coffee.png"].id)) == ["cup", "table"]
        assert [names[t] for t in store.image_tags(by_file["chelsea.png"].id)] == ["cat"]
    finally:
        store.close()


def test_clear_errors(tmp_path, capsys):
    assert cli(["batch", str(tmp_path), "--backbone", "random_vitt16"]) == 2
    assert "no images found" in capsys.readouterr().err
    assert cli(["export", str(tmp_path), "--out", str(tmp_path / "x.json")]) == 2
    assert "no MaskCurator project" in capsys.readouterr().err
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "a.png")
    assert cli(["train", "nosuch", str(tmp_path)]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert cli(["train", "stego", str(tmp_path), "--set", "nosuchkey=1"]) == 2
    assert "valid:" in capsys.readouterr().err
    assert cli(["batch", str(tmp_path), "--backbone", "random_vitt16", "--clusters", "-2"]) == 2
    assert "n_clusters must be an integer >= 0" in capsys.readouterr().err
    assert cli(["batch", str(tmp_path), "--backbone", "dino_vits16", "--device", "cpu", "-q"]) == 2
    err = capsys.readouterr().err
    assert "dino_vits16" in err and ("offline" in err.lower() or "download" in err.lower())


def test_tags_file_formats(tmp_path):
    from engine.cli import CliError, read_tags_file

    j = tmp_path / "t.json"
    j.write_text(json.dumps({"a.png": ["cat", "dog"]}))
    assert read_tags_file(j) == {"a.png": ["cat", "dog"]}
    j.write_text("{not json")
    with pytest.raises(CliError, match="not valid JSON"):
        read_tags_file(j)


def test_train_predict_and_eval_stego_headless(tmp_path, shared_data, capsys):
    """The CLI trains a real (tiny) STEGO on VOC photos, stores its proposals and evaluates it."""
    import shutil

    from engine.store import ProjectStore

    voc = shared_data / "voc12_samples"
    for name in ("0.png", "1.png"):
        shutil.copy(voc / "images" / name, tmp_path / name)
    args = ["-q", "train", "stego", str(tmp_path), "--device", "cpu", "--predict",
            "--labels", str(voc / "masks")]
    for kv in ("backbone=random_vitt16", "resolution=64", "steps=6", "batch_size=4", "n_clusters=4",
               "crf=false", "predict_resolution=64", "flip_tta=false", "checkpoint_every=0"):
        args += ["--set", kv]
    assert cli(args) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    ckpt = out.split("checkpoint: ")[1].split()[0]
    store = ProjectStore.open(project_paths(tmp_path).database)
    try:
        stego = [s for r in store.images() for s in store.segments(r.id, source="stego")]
        assert stego and all(s.state == "proposed" for s in stego)
        assert store.get_setting("checkpoint.stego") == ckpt
    finally:
        store.close()
    assert cli(["eval", "stego", "--data", str(voc), "--limit", "2", "--checkpoint", ckpt, "-q"]) == 0
    report = capsys.readouterr().out
    assert "cluster_miou" in report and "linear_miou" in report
