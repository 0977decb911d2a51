"""IAL: CAM seeds, unary / affinity learning, random walk, SLIC mining, training, prediction, evaluation.

Tiny on purpose (2 CPU cores shared): 4 VOC samples at 128 px with a random ViT-S/16 and tags derived
from the ground-truth masks. A random ViT carries no semantics, so mask quality is checked on
synthetic colour-coded objects (where the pipeline's own learning must do the work) in a slow test.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.jobs import run_sync
from engine.methods.base import TrainingImage, TrainingSet, trainable_methods
from engine.methods.ial import IalConfig, load_predictor, train
from engine.methods.ial.affinity import (affinities, affinity_loss, local_distances, random_walk, transition,
                                         window_offsets)
from engine.methods.ial.cam import (CamClassifier, make_seeds, multiscale_cams, normalise_cams, seed_stats,
                                    train_classifier)
from engine.methods.ial.data import resize_square, rgb_tensor, scaled_tokens
from engine.methods.ial.evaluate import (EvalSample, evaluate, load_semantic_samples, tags_from_mask,
                                         training_set)
from engine.methods.ial.mining import mine_regions, superpixels
from engine.methods.ial.predict import CheckpointError
from engine.methods.ial.train import NO_TAGS_MESSAGE, tagged_images
from engine.methods.ial.unary import UnaryHead, train_unary

CPU = torch.device("cpu")
TINY = dict(backbone="random_vits16", image_size=128, cam_scales=(1.0, 1.25), cam_steps=40, unary_steps=25,
            affinity_steps=20, unary_dim=32, affinity_dim=16, affinity_radius=3, rw_iterations=32,
            rounds=2, batch_size=4, slic_segments=40)


def _quiet(_f: float, _m: str) -> None:
    pass


@pytest.fixture(scope="module")
def voc(shared_data):
    return load_semantic_samples(shared_data / "voc12_samples", limit=4)


@pytest.fixture(scope="module")
def prepared(voc, random_backbone):
    """Square images, tokens and multi-hot targets of the 4 VOC samples."""
    cfg = IalConfig(**TINY)
    paths, names, targets = tagged_images(training_set(voc))
    from engine.imageio import load_image

    rgbs = np.stack([resize_square(load_image(p), 128) for p in paths])
    tokens = scaled_tokens(random_backbone, rgbs)
    return cfg, rgbs, tokens, torch.from_numpy(targets), names


def _first_last(losses: list[float], k: int = 5) -> tuple[float, float]:
    return float(np.mean(losses[:k])), float(np.mean(losses[-k:]))


def _rgb_batches(rgbs):
    return lambda idx: rgb_tensor(rgbs[idx.numpy()], CPU)


# -- CAM and seeds ---------------------------------------------------------------------------------


def test_cam_classifier_loss_falls_and_seeds_have_three_kinds(prepared, random_backbone):
    cfg, rgbs, tokens, targets, _ = prepared
    torch.manual_seed(0)
    clf = CamClassifier(tokens.shape[1], targets.shape[1])
    log = train_classifier(clf, tokens, targets, cfg, CPU, _quiet)
    first, last = _first_last(log.losses)
    assert last < 0.5 * first
    cams = normalise_cams(multiscale_cams(random_backbone, clf, rgbs, cfg), targets > 0)
    assert cams.shape == (4, targets.shape[1], 128, 128)
    assert float(cams.max()) <= 1.0 + 1e-5 and float(cams.min()) >= 0.0
    assert float(cams[targets == 0].abs().max()) == 0.0  # untagged classes never seed
    kinds = set()
    for i in range(4):
        ids = np.flatnonzero(targets[i].numpy())
        seeds = make_seeds(rgbs[i], cams[i].numpy()[ids], ids, cfg)
        assert set(np.unique(seeds)) <= {0, 255} | {int(c) + 1 for c in ids}
        stats = seed_stats(seeds)
        assert abs(stats.foreground + stats.background + stats.ignored - 1.0) < 1e-6
        kinds |= {"fg" if stats.foreground > 0 else "", "bg" if stats.background > 0 else "",
                  "ignore" if stats.ignored > 0 else ""}
    assert {"fg", "bg", "ignore"} <= kinds


def test_seed_rule_follows_low_and_high_alpha():
    """No CRF: strong CAM -> class, flat zero CAM -> background, mid CAM -> ignored."""
    cfg = IalConfig(use_crf=False)
    cam = np.zeros((1, 8, 8), np.float32)
    cam[0, :, :3] = 1.0  # confident object
    cam[0, :, 3:5] = 0.3  # fg under alpha 4 ((0.7)^4 = 0.24 < 0.3), ignored under alpha 32? see below
    rgb = np.zeros((8, 8, 3), np.uint8)
    seeds = make_seeds(rgb, cam, np.array([6]), cfg)
    assert (seeds[:, :3] == 7).all()
    assert (seeds[:, 5:] == 0).all()
    assert (seeds[:, 3:5] == 7).all()  # (1-0.3)^4 < 0.3: low alpha keeps it as foreground
    cam[0, :, 3:5] = 0.1  # (0.9)^4 = 0.66 > 0.1 -> not fg; (0.9)^32 = 0.03 < 0.1 -> not bg
    seeds = make_seeds(rgb, cam, np.array([6]), cfg)
    assert (seeds[:, 3:5] == 255).all()


# -- unary -------------------------------------------------------------------------------------------


def test_unary_loss_falls_on_confident_pixels_only(prepared):
    cfg, rgbs, tokens, targets, _ = prepared
    seeds = torch.full((4, 128, 128), 255, dtype=torch.uint8)
    seeds[:, :, :40] = 0
    seeds[:, :, 90:] = torch.from_numpy(np.flatnonzero(targets[0].numpy())[:1] + 1).to(torch.uint8)
    torch.manual_seed(0)
    head = UnaryHead(tokens.shape[1], targets.shape[1] + 1, 32, pixel_stride=8)
    log = train_unary(head, tokens, _rgb_batches(rgbs), seeds, 16, cfg, CPU, _quiet, seed=0)
    first, last = _first_last(log.losses)
    assert last < 0.7 * first
    with pytest.raises(ValueError, match="no image has any confident pixel"):
        train_unary(head, tokens, _rgb_batches(rgbs), torch.full_like(seeds, 255), 16, cfg, CPU, _quiet, seed=0)


# -- affinity and random walk ------------------------------------------------------------------------


def _two_regions(h: int = 10, w: int = 12) -> torch.Tensor:
    """Embedding with two constant halves (left / right) far apart."""
    f = torch.zeros(1, 4, h, w)
    f[:, :, :, w // 2:] = 5.0
    return f


def test_affinity_rows_normalised_and_walk_preserves_shape_and_mass():
    radius = 3
    f = torch.randn(2, 8, 9, 11)
    aff, valid = affinities(f, radius)
    k = 2 * radius - 1
    assert aff.shape == (2, k * k, 9, 11) and valid.shape == (1, k * k, 9, 11)
    assert float(aff.max()) <= 1.0 and float(aff.min()) >= 0.0
    centre = k * k // 2  # self offset: affinity exp(0) = 1
    assert torch.allclose(aff[:, centre], torch.ones(2, 9, 11))
    assert not valid[0, :, 0, 0][window_offsets(radius)[0].index((-1, -1))]  # outside the image
    trans = transition(aff, valid, beta=8.0)
    assert torch.allclose(trans.sum(1), torch.ones(2, 9, 11), atol=1e-5)
    probs = torch.rand(2, 5, 9, 11).softmax(1)
    out = random_walk(probs, trans, 20, radius)
    assert out.shape == probs.shape
    assert torch.allclose(out.sum(1), torch.ones(2, 9, 11), atol=1e-4)
    assert torch.equal(random_walk(probs, trans, 0, radius), probs)
    with pytest.raises(ValueError, match="transition must be"):
        random_walk(probs, trans[:, :5], 1, radius)


def test_random_walk_fills_each_region_from_its_own_seed():
    """Hand-built affinities: 1 inside each half, 0 across; one labelled cell per half."""
    radius, h, w = 3, 10, 12
    offsets, disc = window_offsets(radius)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    right = xx >= w // 2
    aff = torch.zeros(1, len(offsets), h, w)
    for k, (dy, dx) in enumerate(offsets):
        ny, nx = yy + dy, xx + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w) & bool(disc[k])
        same = right[ny.clamp(0, h - 1), nx.clamp(0, w - 1)] == right
        aff[0, k] = (inside & same).float()
    valid = aff > 0
    trans = transition(aff, valid, beta=8.0)
    probs = torch.full((1, 2, h, w), 0.5)
    probs[0, :, 4, 1] = torch.tensor([1.0, 0.0])  # label 0 seed on the left
    probs[0, :, 5, 10] = torch.tensor([0.0, 1.0])  # label 1 seed on the right
    out = random_walk(probs, trans, 200, radius)
    labels = out.argmax(1)[0]
    assert (labels[:, : w // 2] == 0).all() and (labels[:, w // 2:] == 1).all()
    # nothing leaks across the zero-affinity boundary
    assert float(out[0, 1, :, : w // 2].max()) <= 0.5 + 1e-4


def test_affinity_loss_prefers_embeddings_that_match_seed_agreement():
    radius = 3
    labels = torch.zeros(1, 10, 12, dtype=torch.long)
    labels[:, :, 6:] = 3
    labels[:, 0, :] = 255
    good = _two_regions()
    bad = torch.zeros(1, 4, 10, 12)  # everything affine, including the negative pairs
    loss_good = affinity_loss(local_distances(good, radius)[0], labels, radius)
    loss_bad = affinity_loss(local_distances(bad, radius)[0], labels, radius)
    assert float(loss_good) < 0.05 < float(loss_bad)
    ignored = affinity_loss(local_distances(bad, radius)[0], torch.full_like(labels, 255), radius)
    assert float(ignored) == 0.0


# -- mining --------------------------------------------------------------------------------------------


def test_slic_mining_keeps_only_confident_superpixels():
    segments = np.zeros((8, 8), np.int64)
    segments[:, 4:] = 1
    segments[4:, :4] = 2
    probs = np.zeros((3, 8, 8), np.float32)
    probs[1, :4, :4] = 0.9  # segment 0: unanimous, confident label 1
    probs[0, :4, :4] = 0.1
    probs[2, :, 4:] = 0.55  # segment 1: unanimous label 2 but only 0.55 confident
    probs[0, :, 4:] = 0.45
    probs[0, 4:, :4] = 0.9  # segment 2: split vote (half label 0, half label 1)
    probs[1, 4:, 2:4] = 0.95
    out = mine_regions(segments, probs, vote_threshold=0.7, confidence_threshold=0.6)
    assert (out.labels[:4, :4] == 1).all()
    assert (out.labels[:, 4:] == 255).all()
    assert (out.labels[4:, :4] == 255).all()
    assert (out.n_superpixels, out.n_kept) == (3, 1)
    relaxed = mine_regions(segments, probs, vote_threshold=0.5, confidence_threshold=0.5)
    assert (relaxed.labels[:, 4:] == 2).all() and (relaxed.labels[4:, :4] != 255).all()
    rgb = (np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)
    sp = superpixels(rgb, 10, 10.0)
    assert sp.shape == (32, 32) and sp.min() == 0


# -- training set checks ----------------------------------------------------------------------------


def test_training_set_without_tags_is_refused(tmp_path, voc):
    untagged = TrainingSet([TrainingImage(s.path) for s in voc], ("cat",))
    with pytest.raises(ValueError) as err:
        run_sync(lambda ctx: train(untagged, IalConfig(**TINY), ctx, tmp_path), "cpu")
    assert str(err.value) == NO_TAGS_MESSAGE
    with pytest.raises(ValueError, match="not in the project's class list"):
        tagged_images(TrainingSet([TrainingImage(voc[0].path, ("unicorn",))], ("cat",)))
    with pytest.raises(ValueError, match="empty"):
        tagged_images(TrainingSet([], ("cat",)))
    with pytest.raises(ValueError, match="alpha_low"):
        IalConfig(alpha_low=40.0)


# -- end to end ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(voc, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("ial")
    seen = []
    t0 = time.perf_counter()
    ckpt = run_sync(lambda ctx: train(training_set(voc), IalConfig(**TINY), ctx, workdir), "cpu",
                    lambda f, m: seen.append(f))
    return ckpt, time.perf_counter() - t0, seen, workdir


def test_two_round_training_writes_checkpoint_and_log(trained):
    ckpt, seconds, seen, workdir = trained
    assert seconds < 60, f"2-round IAL training took {seconds:.1f}s"
    assert ckpt.exists() and ckpt.name == "ial.pt"
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 50
    raw = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert raw["method"] == "ial" and raw["round"] == 2 and raw["config"]["rounds"] == 2
    log = json.loads((workdir / "training_log.json").read_text())
    assert [r["round"] for r in log["rounds"]] == [1, 2]
    for r in log["rounds"]:
        assert len(r["unary"]["losses"]) == TINY["unary_steps"] and r["unary"]["final_loss"] >= 0
        assert len(r["affinity"]["losses"]) == TINY["affinity_steps"]
    assert not list(workdir.glob("*.tmp"))


def test_predictor_outputs_full_resolution_masks(trained, voc):
    predictor = load_predictor(trained[0], CPU)
    from engine.imageio import load_image

    rgb = load_image(voc[0].path)[:300, :200]
    props = predictor.predict(rgb, voc[0].tags)
    assert props, "tagged image produced no proposal"
    for p in props:
        assert p.mask.shape == (300, 200) and p.mask.dtype == bool
        assert p.source == "ial" and p.name in voc[0].tags and predictor.class_names[p.label] == p.name
    free = predictor.predict(rgb)  # no tags: the classifier decides
    assert all(p.mask.shape == (300, 200) for p in free) and free
    assert trainable_methods()["ial"].needs_tags


def test_wrong_checkpoints_are_refused_clearly(tmp_path, trained):
    other = tmp_path / "stego.pt"
    torch.save({"method": "stego", "state_dict": {}}, other)
    with pytest.raises(CheckpointError, match="not an IAL checkpoint"):
        load_predictor(other, CPU)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_predictor(junk, CPU)
    with pytest.raises(CheckpointError, match="not found"):
        load_predictor(tmp_path / "missing.pt", CPU)
    raw = torch.load(trained[0], map_location="cpu", weights_only=True)
    raw["state_dict"] = {k: v for k, v in raw["state_dict"].items() if not k.startswith("unary.")}
    broken = tmp_path / "broken.pt"
    torch.save(raw, broken)
    with pytest.raises(CheckpointError, match="do not match"):
        load_predictor(broken, CPU)


def test_evaluate_scores_and_baseline(trained, voc):
    result = evaluate(load_predictor(trained[0], CPU), voc[:2])
    assert result.n_images == 2 and 0.0 <= result.scores.miou <= 1.0
    assert 0.0 < result.baseline.miou < 1.0 and result.baseline.per_class_iou[0] > 0.5


# -- quality on data a random ViT can separate --------------------------------------------------------

COLOURS = {1: (200, 50, 40), 2: (40, 60, 200), 3: (220, 210, 40)}
SYN_CLASSES = ("redthing", "bluething", "yellowthing")


def _synthetic(root: Path, n: int, size: int = 128, seed: int = 0) -> list[EvalSample]:
    """Grey noisy backgrounds with 1-2 coloured ellipses / boxes; the colour encodes the class."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for i in range(n):
        img = rng.uniform(90, 170) + rng.normal(0, 12, (size, size, 1)) + np.zeros((1, 1, 3))
        gt = np.zeros((size, size), np.uint8)
        for k in rng.choice([1, 2, 3], size=int(rng.integers(1, 3)), replace=False):
            cy, cx = rng.uniform(30, size - 30, 2)
            ry, rx = rng.uniform(15, 28, 2)
            m = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1) if k != 2 else (
                (abs(yy - cy) < ry) & (abs(xx - cx) < rx))
            img[m] = np.array(COLOURS[int(k)]) + rng.normal(0, 10, (int(m.sum()), 3))
            gt[m] = k
        path = root / f"{i}.png"
        Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
        out.append(EvalSample(path, gt, tags_from_mask(gt, SYN_CLASSES)))
    return out


@pytest.mark.slow
def test_masks_beat_all_background_baseline(tmp_path):
    samples = _synthetic(tmp_path, 10)
    cfg = IalConfig(**{**TINY, "cam_steps": 100, "unary_steps": 60, "affinity_steps": 40,
                       "cam_pixel_branch": True, "rw_iterations": 64})
    ckpt = run_sync(lambda ctx: train(training_set(samples, SYN_CLASSES), cfg, ctx, tmp_path / "w"), "cpu")
    result = evaluate(load_predictor(ckpt, CPU), samples, SYN_CLASSES)
    assert result.scores.miou > result.baseline.miou + 0.1, (result.scores, result.baseline)
    assert min(result.scores.per_class_iou[1:]) > 0.0  # every colour class is found somewhere


def test_training_length_is_in_epochs_with_psa_defaults_and_a_step_cap():
    """PSA trains the CAM net 15 epochs (train_cls.py) and AffinityNet 8 (train_aff.py); steps follow
    from the number of images; explicit steps and max_steps remain for quick runs."""
    from engine.methods.ial.cam import CamClassifier, train_classifier

    cfg = IalConfig()
    assert (cfg.cam_epochs, cfg.affinity_epochs) == (15.0, 8.0)
    assert cfg.cam_steps is None and cfg.affinity_steps is None and cfg.max_steps is None
    assert cfg.phase_steps("cam", 1464, 16) == 1373  # ceil(15 * 1464 / 16): PSA on VOC train
    assert cfg.phase_steps("affinity", 1464, 8) == 1464
    assert IalConfig(max_steps=50).phase_steps("cam", 1464, 16) == 50
    assert IalConfig(cam_steps=7).phase_steps("cam", 1464, 16) == 7
    with pytest.raises(ValueError, match="epochs"):
        IalConfig(cam_epochs=0)
    torch.manual_seed(0)
    tokens, targets = torch.randn(6, 8, 2, 2), (torch.rand(6, 3) > 0.5).float()
    log = train_classifier(CamClassifier(8, 3), tokens, targets, IalConfig(cam_epochs=2.0, batch_size=2),
                           torch.device("cpu"), lambda f, m: None)
    assert len(log.losses) == 3  # ceil(2 epochs * 6 images / batch of 4)
