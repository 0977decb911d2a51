"""Interactive evaluation: both ground-truth layouts, NoC conventions, report fields."""

from __future__ import annotations

import json
from dataclasses import asdict

import numpy as np
import pytest
from PIL import Image

from engine.prompts.data import interactive_samples
from engine.prompts.evaluation import SampleTrace, evaluate_interactive, noc, summarise


def _write_scene(path, seed):
    rng = np.random.default_rng(seed)
    rgb = np.full((80, 100, 3), (200, 190, 170), np.float32)
    rgb[20:60, 30:70] = (30, 60, 160)
    rgb = np.clip(rgb + rng.normal(0, 5, rgb.shape), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    gt = np.zeros((80, 100), np.uint8)
    gt[20:60, 30:70] = 255
    return gt


def test_paired_mask_layout_end_to_end(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for i in range(2):
        gt = _write_scene(tmp_path / "images" / f"im{i}.png", i)
        Image.fromarray(gt).save(tmp_path / "masks" / f"im{i}.png")
    seen = []
    rep = evaluate_interactive(tmp_path, ["ours", "grabcut"], max_clicks=5,
                               progress=lambda f, m: seen.append(f))
    assert rep.samples == 2 and seen[-1] == 1.0
    assert [s.method for s in rep.scores] == ["ours", "grabcut"]
    ours = rep.scores[0]
    assert ours.noc90 <= 2 and ours.failures == 0 and ours.miou_at_1 > 0.9
    assert "NoC@90" in rep.table() and "ours" in rep.table()
    json.dumps(asdict(rep))  # plain data all the way down


def test_coco_layout_one_sample_per_large_instance(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "annotations").mkdir()
    _write_scene(tmp_path / "images" / "a.png", 0)
    square = [30, 20, 69, 20, 69, 59, 30, 59]
    data = {"images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 80}],
            "annotations": [
                {"id": 5, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [30, 20, 40, 40],
                 "segmentation": [square], "area": 1600},
                {"id": 6, "image_id": 1, "category_id": 1, "iscrowd": 0, "bbox": [0, 0, 10, 10],
                 "segmentation": [[0, 0, 9, 0, 9, 9, 0, 9]], "area": 100}],  # too small: skipped
            "categories": [{"id": 1, "name": "thing"}]}
    (tmp_path / "annotations" / "instances_val.json").write_text(json.dumps(data))
    samples = interactive_samples(tmp_path)
    assert [s.annotation_id for s in samples] == [5]
    gt = samples[0].load_gt()
    assert gt.shape == (80, 100) and 1500 < gt.sum() < 1800
    rep = evaluate_interactive(tmp_path, ["ours"], max_clicks=3)
    assert rep.samples == 1 and rep.scores[0].miou_at_1 > 0.85


def test_noc_conventions():
    assert noc([0.5, 0.86, 0.91], 0.85, 20) == 2
    assert noc([0.5, 0.86, 0.91], 0.90, 20) == 3
    assert noc([0.5] * 20, 0.90, 20) == 20  # never reached: max_clicks
    traces = [SampleTrace("a", "m", (0.95, 0.96, 0.97, 0.97, 0.98), (1.0,) * 5, 0.0),
              SampleTrace("b", "m", (0.2,) * 20, (3.0,) * 20, 0.0)]
    s = summarise("m", traces, 20)
    assert s.noc90 == pytest.approx(10.5) and s.failures == 1
    assert s.miou_at_3 == pytest.approx((0.97 + 0.2) / 2)
