"""Prompted refinement (engine/prompts): real-image quality vs GrabCut, the ViT term on planted
features, the click simulator, box / scribble / negative prompts and prior-mask refinement."""

from __future__ import annotations

import numpy as np
import pytest

from engine.features import PatchFeatures
from engine.metrics import iou
from engine.prompts import PromptContext, Prompts, RefineSettings, refine
from engine.prompts.clicks import Click, next_click


def _scene(h: int = 120, w: int = 160, seed: int = 0):
    """Light noisy background with a blue disk (object) and a blue square (same colour, elsewhere)."""
    rng = np.random.default_rng(seed)
    rgb = np.empty((h, w, 3), np.float32)
    rgb[:] = (200, 180, 160)
    yy, xx = np.mgrid[0:h, 0:w]
    disk = (yy - 60) ** 2 + (xx - 50) ** 2 <= 25**2
    square = (yy >= 40) & (yy < 80) & (xx >= 110) & (xx < 150)
    rgb[disk | square] = (40, 80, 150)
    rgb += rng.normal(0, 6, rgb.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8), disk, square


# --- click simulator ---------------------------------------------------------------------------
def test_first_click_is_farthest_interior_point():
    gt = np.zeros((50, 80), bool)
    gt[10:31, 30:51] = True  # 21 x 21 square: unique most interior pixel (x=40, y=20)
    gt[40:45, 0:80] = True  # a thin bar elsewhere must not attract the click
    c = next_click(np.zeros_like(gt), gt)
    assert c == Click(40, 20, True)


def test_next_click_goes_to_larger_error_with_its_sign():
    gt = np.zeros((60, 100), bool)
    gt[10:50, 10:50] = True
    pred = gt.copy()
    pred[10:50, 10:20] = False  # false negative strip 10 px wide (inner radius 5)
    pred[5:55, 60:95] = True  # false positive block 35 px wide (inner radius ~17): larger
    c = next_click(pred, gt)
    assert not c.positive and 60 <= c.x < 95 and 5 <= c.y < 55
    pred[5:55, 60:95] = False  # fix it: the strip is now the only error
    c = next_click(pred, gt)
    assert c.positive and 10 <= c.x < 20 and 10 <= c.y < 50
    assert next_click(gt, gt) is None


def test_click_simulator_counts_image_border_as_boundary():
    gt = np.zeros((40, 40), bool)
    gt[:, :30] = True  # touches the left, top and bottom borders
    c = next_click(np.zeros_like(gt), gt)
    # Without padding the border column x = 0 would be "farthest" from any boundary.
    assert 14 <= c.x <= 15  # centred between the left border and the edge at x = 30
    assert 14 <= c.y <= 25


# --- prompts on a synthetic scene --------------------------------------------------------------
@pytest.fixture(scope="module")
def scene():
    rgb, disk, square = _scene()
    return rgb, disk, square, PromptContext.build(rgb)


def test_click_selects_the_connected_object_only(scene):
    rgb, disk, square, ctx = scene
    res = refine(rgb, ctx, Prompts(positive=[(50, 60)]))
    assert iou(res.mask, disk) > 0.9
    assert not (res.mask & square).any()  # same colour, not connected to the click
    assert res.mask.shape == rgb.shape[:2] and res.mask.dtype == bool
    assert 0.5 < res.score <= 1.0


def _bridged(rgb, square, colour):
    out = rgb.astype(int)
    out[square] += np.array(colour) - (40, 80, 150)
    out[57:63, 74:112] = colour  # a bridge joins the square to the disk
    return np.clip(out, 0, 255).astype(np.uint8)


def test_negative_click_removes_a_part(scene):
    rgb, disk, square, _ = scene
    # A similar-coloured square bridged to the disk: one click takes both, a negative click on the
    # square removes it (the colour model learns the difference from the click).
    bridged = _bridged(rgb, square, (80, 80, 150))
    ctx = PromptContext.build(bridged)
    both = refine(bridged, ctx, Prompts(positive=[(50, 60)])).mask
    assert both[square].mean() > 0.9
    cut = refine(bridged, ctx, Prompts(positive=[(50, 60)], negative=[(130, 60)])).mask
    assert cut[square].mean() < 0.1
    assert cut[disk].mean() > 0.9


def test_negative_click_on_identical_colour_acts_locally(scene):
    """Known limit: with exactly the object's colour only the click's neighbourhood is removed."""
    rgb, disk, square, _ = scene
    bridged = _bridged(rgb, square, (40, 80, 150))
    ctx = PromptContext.build(bridged)
    both = refine(bridged, ctx, Prompts(positive=[(50, 60)])).mask
    cut = refine(bridged, ctx, Prompts(positive=[(50, 60)], negative=[(130, 60)])).mask
    assert not cut[55:66, 125:136].any()  # the clicked spot is background
    assert cut[square].mean() < both[square].mean() - 0.05
    assert cut[disk].mean() > 0.9


def test_box_alone_segments_inside_and_nothing_outside(scene):
    rgb, disk, square, ctx = scene
    box = (18, 28, 82, 92)  # around the disk with a margin
    res = refine(rgb, ctx, Prompts(box=box))
    assert iou(res.mask, disk) > 0.85
    outside = np.ones_like(res.mask)
    outside[28:93, 18:83] = False
    assert not (res.mask & outside).any()


def test_scribbles(scene):
    rgb, disk, square, ctx = scene
    pos = refine(rgb, ctx, Prompts(positive_scribbles=[np.array([[40, 55], [60, 65]])]))
    assert iou(pos.mask, disk) > 0.9
    # A negative scribble across the disk's right half takes that part away from a click on the left.
    neg = refine(rgb, ctx, Prompts(positive=[(35, 60)],
                                   negative_scribbles=[np.array([[62, 40], [62, 80], [70, 80], [70, 40]])]))
    assert neg.mask[:, 66:].sum() < 0.2 * disk[:, 66:].sum()
    assert neg.mask[disk & (np.arange(160)[None, :] < 45)].mean() > 0.9


def test_prior_mask_is_refined_to_the_object(scene):
    import cv2

    rgb, disk, square, ctx = scene
    rough = cv2.dilate(disk.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    rough = np.roll(rough, 4, axis=1)  # too big and shifted
    res = refine(rgb, ctx, Prompts(), prior=rough)
    assert iou(res.mask, disk) > iou(rough, disk) + 0.1
    assert iou(res.mask, disk) > 0.9


def test_empty_prompts_give_an_empty_mask(scene):
    rgb, _, _, ctx = scene
    res = refine(rgb, ctx, Prompts())
    assert not res.mask.any() and res.score == 0.0
    with pytest.raises(ValueError):
        refine(rgb[:50], ctx, Prompts(positive=[(1, 1)]))


def test_single_precision_solves_match_double_precision(scene):
    """The factors are float32 (twice as fast to stream): solutions stay within 1e-4 relative of a
    float64 solve of the same system, and a click's mask is the same."""
    from scipy.sparse.linalg import spsolve

    rgb, _, _, ctx = scene
    dom = ctx.domain(None)
    rhs = np.random.default_rng(0).random(dom.size)
    exact = spsolve(ctx.matrix.astype(np.float64), rhs)
    double = PromptContext.build(rgb, settings=RefineSettings(single_precision=False))
    assert ctx.solve(dom, rhs).dtype == np.float32
    assert double.solve(double.domain(None), rhs).dtype == np.float64
    assert np.abs(ctx.solve(dom, rhs) - exact).max() <= 1e-4 * np.abs(exact).max()
    prompts = Prompts(positive=[(50, 60)], negative=[(130, 60)])
    assert np.array_equal(refine(rgb, ctx, prompts).mask, refine(rgb, double, prompts).mask)


def test_green_functions_solved_together_equal_one_by_one(scene):
    """New seeds' Green's functions share one multi-column solve with the free solution; each
    column equals its own solve and comes from the cache the next time."""
    _, _, _, ctx = scene
    dom = ctx.domain((10, 10, 100, 100))  # a fresh box domain: nothing cached yet
    seeds = [np.array([5, 6, 7]), np.array([400, 401])]
    rhs = np.linspace(0.0, 1.0, dom.size)
    cols, free = ctx.greens(dom, seeds, rhs)
    for nodes, col in zip(seeds, cols):
        d = np.zeros(dom.size)
        d[nodes] = 1.0
        np.testing.assert_allclose(col, ctx.solve(dom, d), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(free, ctx.solve(dom, rhs), rtol=1e-5, atol=1e-7)
    again, none = ctx.greens(dom, seeds)
    assert none is None and all(a is b for a, b in zip(again, cols))


def test_preview_size_is_the_full_mask_at_that_size(scene):
    """``out_hw`` (the app's preview of a huge photo) gives the same answer as the full-resolution
    mask, only smaller; a preview can be the ``previous`` of the next click."""
    import cv2

    rgb, disk, _, ctx = scene
    prompts = Prompts(positive=[(50, 60)], negative=[(130, 60)], box=(10, 10, 100, 110))
    full = refine(rgb, ctx, prompts).mask
    small = refine(rgb, ctx, prompts, out_hw=(60, 80)).mask
    assert small.shape == (60, 80)
    shrunk = cv2.resize(full.view(np.uint8), (80, 60), interpolation=cv2.INTER_AREA) > 0
    assert iou(small, shrunk) > 0.95 and iou(full, disk) > 0.9
    nxt = prompts.with_click(50, 40, True)
    assert iou(refine(rgb, ctx, nxt, previous=small).mask, refine(rgb, ctx, nxt, previous=full).mask) > 0.98


# --- ViT term ----------------------------------------------------------------------------------
def _planted(feature_weight: float):
    """Uniform noisy grey image; one-hot patch features plant a 4×5-patch region colour cannot see."""
    rng = np.random.default_rng(1)
    p, gh, gw = 16, 8, 10
    h, w = gh * p, gw * p
    rgb = np.clip(rng.normal(128, 20, (h, w, 3)), 0, 255).astype(np.uint8)
    region = np.zeros((gh, gw), bool)
    region[2:6, 3:8] = True
    keys = np.zeros((gh, gw, 8), np.float32)
    keys[region, 0] = 1.0
    keys[~region, 1] = 1.0
    keys += rng.normal(0, 0.05, keys.shape).astype(np.float32)
    feats = PatchFeatures(keys, keys.copy(), np.zeros(8, np.float32), p, rgb, (h, w))
    gt = np.kron(region, np.ones((p, p), bool))
    ctx = PromptContext.build(rgb, feats, RefineSettings(feature_weight=feature_weight))
    prompts = Prompts(positive=[(88, 64)], negative=[(20, 20)])
    return iou(refine(rgb, ctx, prompts).mask, gt)


def test_feature_term_recovers_a_planted_region():
    with_features = _planted(0.8)
    without = _planted(0.0)
    assert with_features > 0.85
    assert without < 0.6  # colour alone cannot find it: the features did the work


# --- real images vs GrabCut ------------------------------------------------------------------------
def test_beats_grabcut_after_three_clicks_on_real_images(shared_data):
    from engine.imageio import load_image
    from engine.prompts.data import interactive_samples
    from engine.prompts.evaluation import make_method, run_clicks

    samples = []
    for name in ("weizmann_horse", "sod_bsds"):
        if (shared_data / name).is_dir():
            samples += interactive_samples(shared_data / name, 3)
    if len(samples) < 6:
        pytest.skip("sod_bsds / weizmann_horse not available")
    scores = {"ours": [], "grabcut": []}
    for s in samples:
        rgb, gt = load_image(s.image), s.load_gt()
        for m in scores:
            scores[m].append(run_clicks(make_method(m), m, s.name, rgb, gt, 3).ious[-1])
    ours, grabcut = np.mean(scores["ours"]), np.mean(scores["grabcut"])
    assert ours > grabcut, (scores, ours, grabcut)
