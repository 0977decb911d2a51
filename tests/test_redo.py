"""ReDO: networks, losses, a learning signal, collapse restarts, checkpoints, predictor, evaluation.

Everything runs at 32 px with narrow networks on real Weizmann horse photos so the file stays well
under a minute on one CPU core.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch

from engine.imageio import load_image
from engine.jobs import JobCancelled, JobContext, run_sync
from engine.methods.base import TrainingImage, TrainingSet, trainable_methods
from engine.methods.redo import RedoConfig, load_predictor, train
from engine.methods.redo.checkpoint import CheckpointError, save_checkpoint
from engine.methods.redo.collapse import CollapseMonitor
from engine.methods.redo.data import BatchSampler, build_image_tensor
from engine.methods.redo.evaluate import (evaluate, evaluate_baseline, pairs_from_folder, score_masks)
from engine.methods.redo.mask_net import MaskNet
from engine.methods.redo.networks import RedoNetworks
from engine.methods.redo.regions import background_region, foreground, hard_masks
from engine.methods.redo.trainer import STAT_NAMES, RedoTrainer, hinge_d_loss, hinge_g_loss

torch.set_num_threads(1)
TINY = dict(image_size=32, nf_mask=8, nf_generator=4, nf_discriminator=8, nf_encoder=4, batch_size=4)


def tiny(**kw) -> RedoConfig:
    return RedoConfig(**{**TINY, **kw})


@pytest.fixture(scope="module")
def horse_pairs(shared_data):
    return pairs_from_folder(shared_data / "weizmann_horse", limit=12)


@pytest.fixture(scope="module")
def horse_images(horse_pairs):
    return build_image_tensor([p.image for p in horse_pairs], 32)


@pytest.fixture(scope="module")
def trained(horse_pairs, tmp_path_factory):
    """One short real training run shared by the checkpoint / predictor / evaluation tests."""
    work = tmp_path_factory.mktemp("redo")
    ds = TrainingSet([TrainingImage(p.image) for p in horse_pairs[:8]])
    cfg = tiny(steps=6, validate_every=3, checkpoint_every=3, collapse_check_every=3)
    path = run_sync(lambda ctx: train(ds, cfg, ctx, work, validation=horse_pairs[8:10]), "cpu")
    return path, work


def _ctx(cancel_after: int | None = None) -> tuple[JobContext, list]:
    calls: list = []
    ev = threading.Event()

    def progress(_rid, frac, msg):
        calls.append((frac, msg))
        if cancel_after is not None and len(calls) >= cancel_after:
            ev.set()

    return JobContext(0, torch.device("cpu"), ev, progress, lambda _rid, text: calls.append(("msg", text))), calls


# -- networks and losses ---------------------------------------------------------------------------

@pytest.mark.parametrize("size,k", [(32, 2), (64, 3)])
def test_network_shapes(size, k):
    cfg = tiny(image_size=size, n_regions=k)
    nets = RedoNetworks(cfg)
    x = torch.rand(3, 3, size, size) * 2 - 1
    z = nets.sample_z(3)
    red = nets.redraw(x, z)
    assert red.masks.shape == (3, k, size, size)
    assert torch.allclose(red.masks.sum(1), torch.ones(3, size, size), atol=1e-5)
    assert red.contents.shape == (3, k, 3, size, size)
    assert red.contents.abs().max() <= 1.0
    assert red.fakes.shape == (3 * k, 3, size, size)
    assert nets.discriminator(red.fakes).shape == (3 * k,)
    assert nets.encoder(red.contents.sum(1)).shape == (3, k, cfg.z_dim)
    # generated content lives only inside its region: zero mask -> zero content
    zero = torch.zeros(3, k, size, size)
    assert nets.generators(zero, z).abs().max() == 0


def test_mask_net_is_fully_convolutional():
    net = MaskNet(n_regions=2, nf=8, n_res=1)
    out = net(torch.zeros(1, 3, 37, 53))
    assert out.shape == (1, 2, 37, 53)


def test_hinge_losses():
    assert hinge_d_loss(torch.tensor([2.0]), torch.tensor([-3.0])).item() == 0.0
    assert hinge_d_loss(torch.zeros(4), torch.zeros(8)).item() == pytest.approx(2.0)
    assert hinge_d_loss(torch.tensor([0.5]), torch.tensor([0.25])).item() == pytest.approx(1.75)
    assert hinge_g_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


def test_config_validation():
    with pytest.raises(ValueError, match="image_size"):
        RedoConfig(image_size=96)
    with pytest.raises(ValueError, match="collapse_min_area"):
        RedoConfig(collapse_min_area=0.6, collapse_max_area=0.4)
    assert RedoConfig().n_up_blocks == 5 and RedoConfig(image_size=32).n_up_blocks == 3


def test_batch_sampler_shapes_and_range(horse_images):
    s = BatchSampler(horse_images.images, 5, seed=0)
    seen = torch.cat([s.next() for _ in range(4)])
    assert seen.shape == (20, 3, 32, 32) and seen.min() >= 0 and seen.max() <= 1


# -- learning signal -------------------------------------------------------------------------------

def test_few_dozen_steps_move_the_losses(horse_images):
    """D separates reals from redrawings (hinge loss falls from ~2) and δ learns to recover z."""
    trainer = RedoTrainer(tiny(lr_discriminator=4e-4), horse_images.images, torch.device("cpu"), seed=0)
    stats = torch.stack([trainer.step() for _ in range(36)])
    assert torch.isfinite(stats).all()
    d, zl = stats[:, STAT_NAMES.index("loss_d")], stats[:, STAT_NAMES.index("loss_z")]
    assert d[-10:].mean() < d[:3].mean() - 0.3, d.tolist()
    assert zl[-10:].mean() < 0.8 * zl[:3].mean(), zl.tolist()
    areas = stats[:, len(STAT_NAMES):]
    assert torch.allclose(areas.sum(1), torch.ones(len(areas)))


# -- collapse and restarts -------------------------------------------------------------------------

def test_collapse_monitor_needs_consecutive_checks():
    m = CollapseMonitor(0.05, 0.95, patience=2)
    assert not m.update([0.02, 0.98])
    assert not m.update([0.4, 0.6])  # healthy check resets the streak
    assert not m.update([0.97, 0.03])
    assert m.update([0.01, 0.99])


def test_forced_collapse_restarts_with_new_seeds(horse_pairs, tmp_path):
    """With min area 0.5 two regions always count as collapsed: every attempt restarts until the cap."""
    ds = TrainingSet([TrainingImage(p.image) for p in horse_pairs[:6]])
    cfg = tiny(steps=4, collapse_min_area=0.5, collapse_max_area=0.50001, collapse_check_every=2,
               collapse_patience=1, max_restarts=2, validate_every=2, checkpoint_every=0, log_every=1)
    ctx, calls = _ctx()
    best = train(ds, cfg, ctx, tmp_path)
    log = json.loads((tmp_path / "training_log.json").read_text())
    assert [r["attempt"] for r in log["restarts"]] == [0, 1]
    assert len({r["seed"] for r in log["restarts"]}) == 2
    assert sorted(set(log["attempts"])) == [0, 1, 2]  # the last attempt ran to the end
    assert any("restarting from scratch" in str(c[1]) for c in calls if c[0] == "msg")
    assert any("still collapse" in str(c[1]) for c in calls if c[0] == "msg")
    assert best.is_file()


# -- training job, checkpoints, predictor ----------------------------------------------------------

def test_training_writes_best_checkpoint_and_log(trained):
    path, work = trained
    assert path.name == "redo_best.pt" and path.is_file() and (work / "redo_last.pt").is_file()
    log = json.loads((work / "training_log.json").read_text())
    assert log["steps"] and all(np.isfinite(log["losses"]))
    assert [v["step"] for v in log["validations"]] == [3, 6]
    assert all(v["kind"] == "iou" and 0.0 <= v["score"] <= 1.0 for v in log["validations"])
    assert log["best"]["score"] == max(v["score"] for v in log["validations"])


def test_checkpoint_round_trip(tmp_path):
    cfg = tiny()
    nets = RedoNetworks(cfg)
    path = save_checkpoint(tmp_path / "c.pt", nets, cfg, background_region=1)
    pred = load_predictor(path, "cpu")
    assert pred.cfg == cfg and pred.background_region == 1
    for a, b in zip(nets.mask.state_dict().values(), pred.net.state_dict().values()):
        assert torch.equal(a, b)
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.allclose(nets.mask(x), pred.net(x))


def test_wrong_checkpoints_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_predictor(tmp_path / "missing.pt", "cpu")
    torch.save({"state_dict": {}, "config": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a ReDO checkpoint"):
        load_predictor(tmp_path / "other.pt", "cpu")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_predictor(tmp_path / "junk.pt", "cpu")


def test_predictor_returns_full_resolution_bool_mask(trained, horse_pairs):
    pred = load_predictor(trained[0], "cpu")
    rgb = load_image(horse_pairs[0].image)
    props = pred.predict(rgb)
    assert len(props) == 1
    p = props[0]
    assert p.source == "redo" and p.mask.dtype == bool and p.mask.shape == rgb.shape[:2]
    assert 0.0 <= p.score <= 1.0
    with pytest.raises(ValueError, match="uint8 RGB"):
        pred.predict(rgb.astype(np.float32))


def test_background_is_the_region_touching_the_border():
    m = torch.zeros(2, 2, 16, 16)
    m[:, 1] = 1.0
    m[:, 0, 4:12, 4:12], m[:, 1, 4:12, 4:12] = 1.0, 0.0  # region 0 = central object
    assert background_region(hard_masks(m)) == 1
    fg = foreground(m, 1)
    assert fg[0, 8, 8] == 1 and fg[0, 0, 0] == 0


def test_cancellation_stops_training(horse_pairs, tmp_path):
    ds = TrainingSet([TrainingImage(p.image) for p in horse_pairs[:6]])
    cfg = tiny(steps=500, validate_every=0, checkpoint_every=0)
    ctx, calls = _ctx(cancel_after=5)
    with pytest.raises(JobCancelled):
        train(ds, cfg, ctx, tmp_path)
    log = json.loads((tmp_path / "training_log.json").read_text())  # written on the way out
    assert len([c for c in calls if c[0] != "msg"]) < 20
    assert not log["steps"] or max(log["steps"]) < 20


def test_empty_and_unreadable_sets_are_refused(tmp_path):
    ctx, _ = _ctx()
    with pytest.raises(ValueError, match="empty"):
        train(TrainingSet([]), tiny(), ctx, tmp_path)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"nope")
    with pytest.raises(ValueError, match="could be read"):
        train(TrainingSet([TrainingImage(bad)]), tiny(), ctx, tmp_path / "w")


# -- evaluation ------------------------------------------------------------------------------------

def test_evaluate_scores_are_fractions(trained, horse_pairs):
    scores = evaluate(load_predictor(trained[0], "cpu"), horse_pairs[:3])
    assert scores.n_images == 3
    for v in (scores.iou, scores.accuracy, scores.iou_best_polarity, scores.accuracy_best_polarity):
        assert 0.0 <= v <= 1.0
    assert scores.iou_best_polarity >= scores.iou


def test_score_masks_and_baselines(horse_pairs):
    gt = np.zeros((10, 10), bool)
    gt[2:6, 2:6] = True
    perfect = score_masks([gt], [gt])
    assert perfect.iou == 1.0 and perfect.accuracy == 1.0
    flipped = score_masks([~gt], [gt])
    assert flipped.iou == 0.0 and flipped.iou_best_polarity == 1.0
    box, allfg = evaluate_baseline(horse_pairs, "center_box"), evaluate_baseline(horse_pairs, "all")
    assert 0.0 < allfg.iou < box.iou < 1.0


def test_registered():
    info = trainable_methods()["redo"]
    assert info.config_type is RedoConfig and info.train is train and info.load_predictor is load_predictor


@pytest.mark.slow
@pytest.mark.gpu
def test_learned_masks_beat_all_foreground_baseline(shared_data, tmp_path):
    """A real (64 px, reduced-width) ReDO run on Weizmann horses beats 'everything is foreground'.

    Needs thousands of GAN steps, hence GPU-only: on CPU it would take hours.
    """
    pairs = pairs_from_folder(shared_data / "weizmann_horse")
    val, train_pairs = pairs[:24], pairs[24:]
    cfg = RedoConfig(image_size=64, nf_mask=32, nf_generator=16, nf_discriminator=32, nf_encoder=16,
                     batch_size=20, steps=6000, validate_every=500, checkpoint_every=0)
    ds = TrainingSet([TrainingImage(p.image) for p in train_pairs])
    best = run_sync(lambda ctx: train(ds, cfg, ctx, tmp_path, validation=val), "auto")
    learned = evaluate(load_predictor(best, "cpu"), val)
    baseline = evaluate_baseline(val, "all")
    assert learned.iou > baseline.iou + 0.05, (learned, baseline)


# -- fidelity to the reference networks (mickaelChen/ReDO models.py, train.py) --------------------

def test_mask_res_block_normalises_and_rectifies_after_the_skip_addition():
    """_resBloc: activationF(blocs(x) + x) = relu(IN(conv(relu(IN(conv x))) + x)), zero padding."""
    from engine.methods.redo.mask_net import _ResBlock

    blk = _ResBlock(4)
    last = [m for m in blk.modules() if isinstance(m, torch.nn.Conv2d)][-1]
    torch.nn.init.zeros_(last.weight)
    torch.nn.init.zeros_(last.bias)
    x = torch.randn(2, 4, 6, 6)
    expected = torch.relu(torch.nn.functional.instance_norm(x))
    torch.testing.assert_close(blk(x), expected, atol=1e-5, rtol=1e-5)
    convs = [m for m in blk.modules() if isinstance(m, torch.nn.Conv2d)]
    assert all(c.padding == (1, 1) and c.padding_mode == "zeros" for c in convs)
    assert not any(isinstance(m, torch.nn.ReflectionPad2d) for m in blk.modules())


def test_mask_net_two_regions_is_one_sigmoid_logit_and_psp_pools_like_avgpool2d():
    from engine.methods.redo.mask_net import psp_pool

    net = MaskNet(n_regions=2, nf=8, n_res=1, temperature=2.0)
    head = [m for m in net.head.modules() if isinstance(m, torch.nn.Conv2d)][0]
    assert head.out_channels == 1  # _upConv(1 if nMasks == 2 ...)
    assert net.up1[0].out_channels == (8 + 4) // 2 and net.up2[0].out_channels == (8 + 4) // 4
    x = torch.rand(1, 3, 32, 32)
    logits = net.logits(x)
    sig = torch.sigmoid(logits[:, :1] / 2.0)
    torch.testing.assert_close(net(x), torch.cat([sig, 1 - sig], 1))
    f = torch.randn(1, 2, 32, 32)
    torch.testing.assert_close(psp_pool(f, 3), torch.nn.AvgPool2d(32 // 3, 32 // 3)(f))
    torch.testing.assert_close(psp_pool(f, 6), torch.nn.AvgPool2d(32 // 6, 32 // 6)(f))


def test_conditional_instance_norm_scale_is_gamma_of_z_not_one_plus():
    from engine.methods.redo.layers import ConditionalInstanceNorm

    cin = ConditionalInstanceNorm(4, 3, 0.8)
    torch.nn.init.zeros_(cin.gamma.weight)
    torch.nn.init.zeros_(cin.gamma.bias)
    z = torch.randn(2, 3)
    out = cin(torch.randn(2, 4, 5, 5), z)
    torch.testing.assert_close(out, cin.beta(z)[:, :, None, None].expand_as(out))


def test_generator_block_takes_the_mask_once_before_upsampling():
    from engine.methods.redo.generator import RegionGenerator

    gen = RegionGenerator(32, z_dim=4, nf=4, self_attention=True)
    for block in gen.blocks:
        assert block.c1.in_channels == block.n1.norm.num_features + 1  # features + mask
        assert block.c2.in_channels == block.c2.out_channels  # features only (convB)
        assert block.c1.bias is None and block.c2.bias is not None
    assert not torch.nn.utils.parametrize.is_parametrized(gen.fc)  # plain nn.Linear(nc, 4*4*16nf)
    assert all(not torch.nn.utils.parametrize.is_parametrized(m) for m in (gen.blocks[0].n1.gamma,))
    # The block sees the mask at its *input* resolution (avg-pooled by mask_ratio), upsampled with h.
    block = gen.blocks[0]
    seen = {}
    block.c1.register_forward_hook(lambda m, inp, out: seen.update(mask=inp[0][:, -1:]))
    mask = torch.zeros(1, 1, 32, 32)
    mask[..., :16, :] = 1.0
    gen(mask, torch.randn(1, 4))
    pooled = torch.nn.functional.avg_pool2d(mask, 8)  # 4x4, the first block's input size
    torch.testing.assert_close(seen["mask"], torch.nn.functional.interpolate(pooled, scale_factor=2))


def test_discriminator_sums_the_last_block_without_relu_into_a_plain_linear():
    from engine.methods.redo.discriminator import Discriminator, LatentEncoder

    d = Discriminator(32, nf=4, self_attention=True)
    assert isinstance(d.fc, torch.nn.Linear) and not torch.nn.utils.parametrize.is_parametrized(d.fc)
    x = torch.randn(3, 3, 32, 32)
    with torch.no_grad():
        feats = d.blocks(x)
        assert feats.min() < 0  # so a ReLU before the sum would change the score
        torch.testing.assert_close(d(x), d.fc(feats.sum(dim=(2, 3))).squeeze(1))
    enc = LatentEncoder(32, 2, 4)
    assert not torch.nn.utils.parametrize.is_parametrized(enc.fc)


def test_reference_defaults_encoder_width_no_flip_nearest_resize_unit_range():
    from PIL import Image
    from torchvision import transforms

    from engine.methods.redo.data import square_crop, to_model_input

    cfg = RedoConfig()
    assert (cfg.nf_mask, cfg.nf_generator, cfg.nf_discriminator, cfg.nf_encoder) == (64, 32, 64, 64)
    assert cfg.hflip is False and cfg.batch_size == 20 and cfg.lambda_z == 5.0
    rng = np.random.default_rng(0)
    for shape in ((50, 77, 3), (91, 40, 3), (33, 33, 3)):
        rgb = (rng.random(shape) * 255).astype(np.uint8)
        ref = transforms.Compose([transforms.Resize(32, transforms.InterpolationMode.NEAREST),
                                  transforms.CenterCrop(32)])(Image.fromarray(rgb))
        np.testing.assert_array_equal(square_crop(rgb, 32), np.asarray(ref))
    u8 = torch.tensor([[[[0, 255]]]], dtype=torch.uint8).expand(1, 3, 1, 2)
    torch.testing.assert_close(to_model_input(u8), torch.tensor([0.0, 1.0]).expand(1, 3, 1, 2))


def test_checkpoints_of_the_old_network_layout_are_refused(tmp_path):
    cfg = tiny()
    path = save_checkpoint(tmp_path / "v1.pt", RedoNetworks(cfg), cfg)
    blob = torch.load(path, weights_only=True)
    blob["version"] = 1
    torch.save(blob, path)
    with pytest.raises(CheckpointError, match="older ReDO network layout"):
        load_predictor(path, "cpu")
