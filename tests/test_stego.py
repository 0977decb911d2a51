"""STEGO: loss semantics on hand-built tensors, shapes, training on real VOC images with a random ViT,
checkpoints, prediction, evaluation and cancellation. Kept tiny (112-px crops, 30 steps)."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from engine.configs import build_config
from engine.imageio import load_image
from engine.jobs import JobCancelled, JobContext, run_sync
from engine.methods.base import TrainingImage, TrainingSet, trainable_methods
from engine.methods.stego import StegoCheckpointError, StegoConfig, evaluate, load_predictor, train
from engine.methods.stego.data import build_crop_features, five_crop_boxes, image_crops, knn_indices
from engine.methods.stego.loss import (LossSettings, PairTerm, correlation, derangement, pair_loss,
                                       stego_loss)
from engine.methods.stego.model import ClusterProbe, LinearProbe, SegmentationHead
from engine.methods.stego.predict import read_checkpoint
from engine.metrics import hungarian_scores
from engine.proposals import Proposal

torch.set_num_threads(1)

TINY = dict(backbone="random_vits16", resolution=112, batch_size=10, dropout=0.0, n_clusters=6, steps=30,
            checkpoint_every=10, predict_resolution=128, max_side=160, crf=False, seed=0)


# ------------------------------------------------------------------------------------------------
# loss on hand-built tensors


def _const(vec: torch.Tensor, hw: int = 3) -> torch.Tensor:
    """(1, C, hw, hw) map holding the same vector everywhere."""
    return vec.view(1, -1, 1, 1).expand(1, -1, hw, hw).clone()


def test_identical_features_and_codes_give_negative_loss_of_one_minus_shift():
    f = _const(torch.tensor([1.0, 2.0, 3.0]))
    c = _const(torch.tensor([0.5, -1.0]))
    loss = pair_loss(f, f, c, c, shift=0.3)
    assert loss.shape == (1, 3, 3, 3, 3)
    torch.testing.assert_close(loss, torch.full_like(loss, -0.7))


def test_zero_clamp_ignores_anti_correlated_codes_and_shift_sets_the_sign():
    f = _const(torch.tensor([1.0, 0.0]))
    c1, c2 = _const(torch.tensor([1.0, 0.0])), _const(torch.tensor([-1.0, 0.0]))
    assert torch.all(pair_loss(f, f, c1, c2, shift=0.3) == 0)  # S = -1 clamped to 0
    unclamped = pair_loss(f, f, c1, c2, shift=0.3, zero_clamp=False)
    torch.testing.assert_close(unclamped, torch.full_like(unclamped, 0.7))
    # feature correlation (1) below the shift: aligned codes are penalised
    assert torch.all(pair_loss(f, f, c1, c1, shift=1.5) > 0)
    stab = pair_loss(f, f, c1, c1, shift=0.0, stabilize=True)
    torch.testing.assert_close(stab, torch.full_like(stab, -0.8))


def test_pointwise_centring_keeps_global_mean_and_removes_per_row_offsets():
    torch.manual_seed(0)
    f1, f2 = torch.randn(2, 8, 4, 4), torch.randn(2, 8, 4, 4)
    c = torch.ones(2, 3, 4, 4)  # S = 1 everywhere, so loss = -(F_centred - shift)
    raw = correlation(f1, f2)
    centred = -pair_loss(f1, f2, c, c, shift=0.0, pointwise=True)
    torch.testing.assert_close(centred.mean(), raw.mean())
    row_means = centred.mean(dim=(3, 4))
    torch.testing.assert_close(row_means, torch.full_like(row_means, float(raw.mean())))


def _off_diagonal_positive_corr(code: torch.Tensor) -> float:
    corr = correlation(code, code).reshape(16, 16).clamp(min=0)
    return ((corr.sum() - corr.diagonal().sum()) / (16 * 15)).item()


def _optimise_codes(shift: float) -> tuple[float, float]:
    torch.manual_seed(0)
    f = _const(torch.tensor([1.0, 1.0, 1.0]), hw=4)  # every location looks the same: F = 1
    code = torch.randn(1, 5, 4, 4, requires_grad=True)
    before = _off_diagonal_positive_corr(code)
    opt = torch.optim.Adam([code], lr=0.1)
    for _ in range(60):
        opt.zero_grad()
        pair_loss(f, f, code, code, shift=shift).mean().backward()
        opt.step()
    return before, _off_diagonal_positive_corr(code)


def test_gradient_pulls_codes_together_below_the_shift_and_apart_above_it():
    before, after = _optimise_codes(shift=0.2)  # F - b > 0: attract
    assert after > 0.9 > before
    before, after = _optimise_codes(shift=1.5)  # F - b < 0: repel (down to orthogonal)
    assert after < 0.5 * before


def test_derangement_is_a_permutation_without_fixed_points():
    gen = torch.Generator().manual_seed(0)
    for n in (2, 3, 7, 16):
        perm = derangement(n, gen)
        assert sorted(perm.tolist()) == list(range(n))
        assert not torch.any(perm == torch.arange(n))
    with pytest.raises(ValueError):
        derangement(1, gen)


def test_stego_loss_terms_are_finite_and_weighted():
    torch.manual_seed(0)
    settings = LossSettings(PairTerm(0.67, 0.18), PairTerm(0.25, 0.12), PairTerm(0.63, 0.46), feature_samples=5)
    f, fp = torch.randn(4, 16, 6, 6), torch.randn(4, 16, 6, 6)
    c, cp = torch.randn(4, 7, 6, 6, requires_grad=True), torch.randn(4, 7, 6, 6)
    terms = stego_loss(f, fp, c, cp, settings, torch.Generator().manual_seed(1))
    expected = 0.67 * terms.self_term + 0.25 * terms.knn_term + 0.63 * terms.rand_term
    torch.testing.assert_close(terms.total.detach(), expected)
    assert torch.isfinite(terms.total)
    terms.total.backward()
    assert c.grad is not None and torch.isfinite(c.grad).all()


# ------------------------------------------------------------------------------------------------
# shapes and data


def test_head_and_probe_shapes():
    head = SegmentationHead(384, 70, 0.1)
    f = torch.randn(2, 384, 7, 9)
    dropped, code = head(f)
    assert dropped.shape == f.shape and code.shape == (2, 70, 7, 9)
    probe = ClusterProbe(70, 6)
    loss, assign = probe(code.detach())
    assert loss.ndim == 0 and assign.shape == (2, 6, 7, 9)
    assert torch.all(assign.sum(1) == 1)
    probs = probe.log_probs(code.detach()).exp()
    torch.testing.assert_close(probs.sum(1), torch.ones(2, 7, 9))
    assert LinearProbe(70, 21)(code).shape == (2, 21, 7, 9)


def test_five_crops_and_knn_exclude_self():
    boxes = five_crop_boxes(100, 60, 0.5)
    assert boxes[0] == (0, 0, 50, 30) and boxes[3] == (50, 30, 50, 30) and boxes[4] == (25, 15, 50, 30)
    crops = image_crops(np.zeros((100, 60, 3), np.uint8), StegoConfig(backbone="random_vits16", resolution=32))
    assert len(crops) == 5 and all(c.shape == (32, 32, 3) for c in crops)
    pooled = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    knn = knn_indices(pooled, 7)
    assert knn.shape == (4, 3)  # clamped to N - 1
    assert knn[:, 0].tolist() == [1, 0, 3, 2]
    assert not torch.any(knn == torch.arange(4)[:, None])


def test_config_validation_and_cli_parsing():
    with pytest.raises(ValueError, match="batch_size"):
        StegoConfig(batch_size=1)
    cfg = build_config(StegoConfig, {"steps": "12", "crf": "off", "backbone": "random_vits16"})
    assert cfg.steps == 12 and cfg.crf is False and cfg.dim == 70 and cfg.n_neighbors == 7
    assert StegoConfig(backbone="/tmp/some/dino.pth").backbone_spec().checkpoint == "/tmp/some/dino.pth"
    assert trainable_methods()["stego"].config_type is StegoConfig


# ------------------------------------------------------------------------------------------------
# training on real images (random ViT-S/16: no weights can be downloaded here)


@pytest.fixture(scope="module")
def voc(shared_data):
    root = shared_data / "voc12_samples"
    images = sorted((root / "images").glob("*.png"))
    return images, [root / "masks" / p.name for p in images]


@pytest.fixture(scope="module")
def trained(voc, random_backbone, tmp_path_factory):
    images, masks = voc
    workdir = tmp_path_factory.mktemp("stego")
    cfg = StegoConfig(**TINY)
    dataset = TrainingSet([TrainingImage(p) for p in images[:2]])
    ckpt = run_sync(lambda ctx: train(dataset, cfg, ctx, workdir, labels=masks[:2], n_classes=21,
                                      backbone=random_backbone), device="cpu")
    return ckpt, workdir, cfg


def test_training_loss_is_finite_and_falls(trained):
    _, workdir, _ = trained
    log = json.loads((workdir / "training_log.json").read_text())
    losses = np.array(log["losses"])
    assert log["steps"] == list(range(1, 31)) and np.isfinite(losses).all()
    assert losses[-5:].mean() < losses[:5].mean()
    linear = np.array(log["terms"]["linear"])
    assert linear[-5:].mean() < linear[:5].mean()  # the linear probe learns the labels


def test_checkpoints_round_trip_with_weights_only(trained):
    ckpt, workdir, cfg = trained
    assert ckpt == workdir / "stego_final.pt"
    assert sorted(p.name for p in workdir.glob("stego_step*.pt")) == ["stego_step000010.pt",
                                                                      "stego_step000020.pt"]
    assert not list(workdir.glob("*.tmp"))
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert raw["config"]["steps"] == 30 and raw["step"] == 30
    loaded = read_checkpoint(ckpt)
    assert loaded.config == cfg and loaded.n_classes == 21
    assert loaded.backbone_spec.name == "random_vits16"
    assert loaded.state_dict["cluster_probe.clusters"].shape == (6, 70)
    assert loaded.state_dict["linear_probe.conv.weight"].shape == (21, 70, 1, 1)


def test_predictor_gives_full_resolution_bool_masks(trained, voc, random_backbone):
    ckpt, _, _ = trained
    predictor = load_predictor(ckpt, "cpu", backbone=random_backbone)
    rgb = load_image(voc[0][3])
    props = predictor.predict(rgb)
    assert props and all(isinstance(p, Proposal) for p in props)
    assert all(p.source == "stego" and p.mask.dtype == bool and p.mask.shape == rgb.shape[:2] for p in props)
    assert sum(p.area for p in props) == rgb.shape[0] * rgb.shape[1]  # clusters partition the image
    assert all(0.0 < p.score <= 1.0 for p in props)
    crf_props = load_predictor(ckpt, "cpu", crf=True, backbone=random_backbone).predict(rgb[:200, :300])
    assert all(p.mask.shape == (200, 300) for p in crf_props)


def test_predictor_loads_backbone_from_checkpoint(trained, voc):
    ckpt, _, _ = trained
    predictor = load_predictor(ckpt, "cpu")
    assert predictor.backbone.spec.name == "random_vits16" and predictor.n_clusters == 6


def test_evaluate_scores_in_range_and_match_manual_hungarian(trained, voc, random_backbone):
    ckpt, _, _ = trained
    images, masks = voc[0][:3], voc[1][:3]
    predictor = load_predictor(ckpt, "cpu", backbone=random_backbone)
    scores = evaluate(None, images, masks, n_classes=21, predictor=predictor)
    for s in (scores.cluster, scores.linear):
        assert s is not None and 0.0 <= s.miou <= 1.0 and 0.0 <= s.accuracy <= 1.0
    preds = [predictor.segment(load_image(p)).clusters for p in images]
    gts = [np.asarray(Image.open(m)) for m in masks]
    manual = hungarian_scores(preds, gts, 6, 21)
    assert (scores.cluster.miou, scores.cluster.accuracy) == (manual.miou, manual.accuracy)
    with_crf = evaluate(None, images[:1], masks[:1], n_classes=21, predictor=predictor, crf=True)
    assert with_crf.crf and 0.0 <= with_crf.cluster.miou <= 1.0


# ------------------------------------------------------------------------------------------------
# errors and cancellation


def test_corrupt_and_foreign_checkpoints_give_clear_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(StegoCheckpointError, match="not a readable STEGO checkpoint"):
        load_predictor(bad, "cpu")
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"w": torch.zeros(1)}}, foreign)
    with pytest.raises(StegoCheckpointError, match="not a STEGO checkpoint"):
        load_predictor(foreign, "cpu")
    with pytest.raises(StegoCheckpointError, match="not found"):
        load_predictor(tmp_path / "missing.pt", "cpu")


def test_empty_dataset_is_rejected(tmp_path, random_backbone):
    with pytest.raises(ValueError, match="empty"):
        run_sync(lambda ctx: train(TrainingSet([]), StegoConfig(**TINY), ctx, tmp_path,
                                   backbone=random_backbone), device="cpu")


def test_cancellation_stops_training(voc, random_backbone, tmp_path):
    cancel = threading.Event()
    messages = []

    def progress(_rid, frac, msg):
        messages.append(msg)
        if msg.startswith("Step 3/"):
            cancel.set()

    ctx = JobContext(1, torch.device("cpu"), cancel, progress, lambda *_: None)
    cfg = replace(StegoConfig(**TINY), steps=1000, checkpoint_every=2)
    with pytest.raises(JobCancelled):
        train(TrainingSet([TrainingImage(voc[0][0])]), cfg, ctx, tmp_path, backbone=random_backbone)
    assert messages[-1].startswith("Step 3/")
    assert not (tmp_path / "stego_final.pt").exists()
    assert (tmp_path / "stego_step000002.pt").exists()


def test_features_reject_resolution_off_the_patch_grid(voc, random_backbone):
    cfg = replace(StegoConfig(**TINY), resolution=100)
    with pytest.raises(ValueError, match="multiple of the backbone patch size"):
        build_crop_features(TrainingSet([TrainingImage(voc[0][0])]), random_backbone, cfg)


# ------------------------------------------------------------------------------------------------
# reference presets and evaluation protocol

def test_presets_fill_reference_values_unless_overridden():
    from engine.configs import build_config
    from engine.methods.stego.config import PRESETS

    base = build_config(StegoConfig, {"preset": "cocostuff27_vitb8"})
    assert base.backbone == "dino_vitb8" and base.n_clusters == 27
    assert (base.lambda_self, base.lambda_knn, base.lambda_rand) == (0.1, 1.0, 0.1538476246415498)
    assert (base.shift_self, base.shift_knn, base.shift_rand) == (0.12, 0.2, 1.0)
    own = build_config(StegoConfig, {"preset": "potsdam_vits8", "shift_rand": "0.3", "backbone": "random_vits16"})
    assert own.shift_rand == 0.3 and own.backbone == "random_vits16"  # explicit values win
    assert own.n_clusters == 3 and own.shift_knn == 0.02
    assert {"iaroa_vits8", "cocostuff27_vits8", "cocostuff27_vitb8", "cityscapes_vitb8", "potsdam_vits8"} <= set(PRESETS)
    assert StegoConfig(preset="iaroa_vits8") == replace(StegoConfig(), preset="iaroa_vits8")  # = defaults
    with pytest.raises(ValueError, match="unknown preset"):
        StegoConfig(preset="voc_vitl")


def test_reference_eval_crops_320_with_flip_tta_and_keeps_the_best_checkpoint(trained, voc, tmp_path):
    from torchvision import transforms

    from engine.methods.stego.evaluate import evaluate_reference, reference_center_crop

    ckpt, _, _ = trained
    images, masks = voc[0][:2], voc[1][:2]
    rgb, gt = load_image(images[0]), np.asarray(Image.open(masks[0]))
    crop_rgb, crop_gt = reference_center_crop(rgb, gt)
    ref = transforms.Compose([transforms.Resize(320, transforms.InterpolationMode.NEAREST), transforms.CenterCrop(320)])
    np.testing.assert_array_equal(crop_rgb, np.asarray(ref(Image.fromarray(rgb))))
    np.testing.assert_array_equal(crop_gt, np.asarray(ref(Image.fromarray(gt))))
    # A second, worse candidate: its cluster probe puts every pixel in one cluster.
    blob = torch.load(ckpt, weights_only=True)
    state = blob["state_dict"]
    key = next(k for k in state if k.startswith("cluster_probe"))
    state[key] = torch.zeros_like(state[key])
    worse = tmp_path / "stego_step000010.pt"
    torch.save(blob, worse)
    result = evaluate_reference([worse, ckpt], images, masks, n_classes=21, crf=False)
    assert [p for p, _ in result.candidates] == [worse, ckpt]
    assert result.scores.cluster.miou == max(s.cluster.miou for _, s in result.candidates)
    assert result.best == max(result.candidates, key=lambda c: c[1].cluster.miou)[0]
    # Same numbers as scoring the centre crops by hand at 320 px (code and labels) with flip TTA.
    predictor = load_predictor(ckpt, "cpu", crf=False)
    predictor.cfg = replace(predictor.cfg, predict_resolution=320, flip_tta=True, max_side=320)
    crops = [reference_center_crop(load_image(i), np.asarray(Image.open(m))) for i, m in zip(images, masks)]
    manual = evaluate(None, [c[0] for c in crops], [c[1] for c in crops], n_classes=21, predictor=predictor)
    assert dict(result.candidates)[ckpt].cluster.miou == pytest.approx(manual.cluster.miou)
