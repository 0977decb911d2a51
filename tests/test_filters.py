"""Weight-free `filters` backbone: definitions against scikit-image, the Backbone contract, and
quality on real images next to the trivial baselines (fast: few images, small max side)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine.backbone import (FILTER_MODELS, BackboneLoadError, BackboneSpec, TokenBatch, available_backbones,
                             load_backbone)
from engine.features import extract_features
from engine.filters import (FAMILIES, FEATURE_VERSION, SIGMAS, FilterSettings, fit_fixed_stats, fixed_stats,
                            patch_features, pixel_features, rgb_to_lab, to_tensor)


@pytest.fixture(scope="module")
def cat(demo_dir):
    from engine.imageio import load_image

    return np.ascontiguousarray(load_image(demo_dir / "chelsea.png")[40:200, 100:340])  # 160 x 240


def _channel(name: str) -> int:
    return FilterSettings().channel_names().index(name)


def test_lab_matches_skimage(cat):
    from skimage.color import rgb2lab

    ours = rgb_to_lab(to_tensor(cat))[0].permute(1, 2, 0).numpy()
    assert np.abs(ours - rgb2lab(cat)).max() < 1e-3


def test_gaussian_hessian_gradient_follow_skimage_definitions(cat):
    """Gaussian = skimage.filters.gaussian(mode='nearest'); Hessian eigenvalues = skimage's
    multiscale_basic_features texture (np.gradient twice), exactly in the interior; our gradient
    magnitude |∇G| times √2 is skimage's sobel(G) up to sobel's [1,2,1]/4 cross-smoothing."""
    from skimage import color, feature, filters

    f = pixel_features(cat, FilterSettings(exact=True))[0].numpy()
    lab = color.rgb2lab(cat)
    inner = (slice(3, -3), slice(3, -3))
    for sigma in SIGMAS:
        for c, name in enumerate("Lab"):
            g = filters.gaussian(lab[..., c], sigma=sigma, mode="nearest", preserve_range=True)
            assert np.abs(f[_channel(f"gaussian[s={sigma:g}]{name}")] - g).max() < 2e-3
            h = [np.gradient(np.gradient(g)[a0], axis=a1) for a0, a1 in ((0, 0), (0, 1), (1, 1))]
            ev = feature.hessian_matrix_eigvals(h)
            for k in (0, 1):
                ours = f[_channel(f"hessian_eig{k + 1}[s={sigma:g}]{name}")]
                assert np.abs(ours[inner] - ev[k][inner]).max() < 2e-3
            ours = f[_channel(f"gradient_magnitude[s={sigma:g}]{name}")] * np.sqrt(2)
            sob = filters.sobel(g)
            corr = np.corrcoef(ours[inner].ravel(), sob[inner].ravel())[0, 1]
            assert corr > (0.99 if sigma >= 1.0 else 0.98), (sigma, name, corr)
            ratio = np.median(sob[inner] / np.maximum(ours[inner], 1e-6))
            assert 0.9 < ratio < 1.05, (sigma, name, ratio)
        lap = f[_channel(f"laplacian[s={sigma:g}]L")]
        np.testing.assert_allclose(lap, f[_channel(f"hessian_eig1[s={sigma:g}]L")]
                                   + f[_channel(f"hessian_eig2[s={sigma:g}]L")], atol=1e-3)


def test_pyramid_features_agree_with_exact_after_pooling(cat):
    """The fast path (σ ≥ 1.6 on a 2×2-average pyramid, 16-px cells sampled at half resolution) keeps
    every channel's pattern across patches (correlation with the exact full-resolution filters)."""
    x = to_tensor(cat)
    fast = patch_features(x, 16)[0].reshape(len(SIGMAS) * len(FAMILIES) * 3, -1).numpy()
    exact = patch_features(x, 16, FilterSettings(exact=True))[0].reshape(fast.shape[0], -1).numpy()
    corr = np.array([np.corrcoef(a, b)[0, 1] for a, b in zip(fast, exact)])
    assert np.nanmin(corr) > 0.7 and np.nanmedian(corr) > 0.95, (np.nanmin(corr), np.nanmedian(corr))
    pix = pixel_features(cat)[0]  # pyramid + bilinear upsampling, full resolution
    assert pix.shape == (fast.shape[0], *cat.shape[:2]) and torch.isfinite(pix).all()


def test_fixed_stats_are_the_demo_fit(demo_dir):
    from engine.imageio import load_image, resize_max_side

    paths = sorted(p for p in demo_dir.iterdir() if p.suffix.lower() in (".png", ".jpg"))
    refit = fit_fixed_stats([resize_max_side(load_image(p), 512) for p in paths])
    st = fixed_stats()
    for a, b in ((refit.scale, st.scale), (refit.mean, st.mean), (refit.std, st.std)):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)


def test_backbone_contract(cat):
    assert {"filters", "filters8"} <= set(available_backbones())
    bb = load_backbone(BackboneSpec("filters"), "cpu")
    assert bb.patch_size == 16 and bb.embed_dim == len(SIGMAS) * len(FAMILIES) * 3
    assert FEATURE_VERSION in BackboneSpec("filters").identity
    tb = bb(torch.stack([bb.normalise(cat), bb.normalise(cat[:, ::-1])]))
    assert isinstance(tb, TokenBatch) and tb.patch_size == 16
    assert tb.keys.shape[:3] == tb.tokens.shape[:3] == (2, 10, 15) and tb.cls.shape == (2, bb.embed_dim)
    # keys: the tokens scaled by 1/sqrt(C) (or standardised per image); cls: the mean token
    torch.testing.assert_close(tb.keys, tb.tokens / np.sqrt(bb.embed_dim))
    torch.testing.assert_close(tb.cls, tb.tokens.mean(dim=(1, 2)))
    bb.key_norm = "image"
    k = bb(bb.normalise(cat)[None]).keys[0].reshape(-1, bb.embed_dim)
    assert k.mean(0).abs().max() < 1e-4
    # a mirrored image gives mirrored tokens (no position in the tokens; the pyramid's pooling is not
    # exactly mirror-symmetric, hence a tolerance)
    diff = (tb.tokens[1] - tb.tokens[0].flip(1)).abs()
    assert diff.mean() < 0.02 and diff.max() < 0.3, (diff.mean(), diff.max())
    f8 = extract_features(load_backbone(BackboneSpec("filters8")), [cat], max_side=None)[0]
    assert f8.grid_hw == (20, 30) and f8.patch_size == 8 and FILTER_MODELS["filters8"] == 8


def test_offline_hub_error_names_the_filters_backbone(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackboneLoadError, match="--backbone filters"):
        load_backbone(BackboneSpec("dino_vits16"))


# -- quality on real images, next to the trivial baselines ----------------------------------------------
# Pairs that beat their baseline in the full evaluation (README, "Weight-free features") are pinned here
# on the first images of each set at a small max side. Each fails when DSM's minority-side rule or the
# normalised-Laplacian step is broken (checked by breaking each once; see the README section).


#: First images of each set, small max side: a few seconds of CPU each; margins well inside the full run's.
LOC_IMAGES, LOC_MAX_SIDE, LOC_MARGIN = 60, 320, 0.01
OBJ_IMAGES, OBJ_MAX_SIDE, OBJ_MARGIN = 20, 320, 0.05
SOD_MAX_SIDE = 640  # BSDS photos are 481 x 321: native resolution (at 320 px the margin shrinks to ~0.02)
SEM_MAX_SIDE = 640  # VOC photos are ~500 px: native resolution


def _eval(fn, analyzer_kw=None, **kw):
    import argparse

    from engine.evaluation.dsm import spectral_analyzer
    from engine.runner import run_with_progress

    args = argparse.Namespace(evaluation="test", **kw)
    analyzer = spectral_analyzer(args, "cpu", **analyzer_kw) if analyzer_kw is not None else None
    return run_with_progress(lambda ctx: fn(args, ctx, analyzer), "cpu", "", True).scores


def test_dsm_corloc_with_filters_beats_the_trivial_boxes(shared_data):
    from engine.evaluation.dsm import eval_dsm_localization

    s = _eval(eval_dsm_localization, data=str(shared_data / "coco_val_subset"), limit=LOC_IMAGES,
              backbone="filters", max_side=LOC_MAX_SIDE)
    # 0.317 vs 0.283 here (2 images of 60; 1 image at 640 px): a regression pin, not a clear win — the
    # centre box (0.133) is beaten by far, but it is also beaten with the sign rule broken (0.217).
    assert s["corloc"] > s["baseline_whole_image_corloc"] + LOC_MARGIN, s
    assert s["corloc"] > s["baseline_centre_box_corloc"] + 0.1, s


def test_dsm_object_with_filters8_beats_all_foreground(shared_data):
    """Horse masks (no CRF / matting here, for speed): better than calling everything foreground.
    (The centre box is *not* beaten: see the README table.)"""
    from engine.evaluation.dsm import eval_dsm_object

    s = _eval(eval_dsm_object, analyzer_kw=dict(crf=False, matting=False),
              data=str(shared_data / "weizmann_horse"), limit=OBJ_IMAGES, backbone="filters8", max_side=OBJ_MAX_SIDE)
    assert s["iou"] >= s["baseline_all_fg_iou"] + OBJ_MARGIN, s
    assert s["max_f_beta"] >= s["baseline_all_fg_max_f_beta"] + OBJ_MARGIN, s


def test_dsm_object_with_filters_beats_all_foreground_on_sod(shared_data):
    """Salient objects (SOD on BSDS300; CRF on, no matting): better than everything-foreground."""
    from engine.evaluation.dsm import eval_dsm_object

    s = _eval(eval_dsm_object, analyzer_kw=dict(crf=True, matting=False),
              data=str(shared_data / "sod_bsds"), limit=OBJ_IMAGES, backbone="filters", max_side=SOD_MAX_SIDE)
    assert s["iou"] >= s["baseline_all_fg_iou"] + OBJ_MARGIN, s
    assert s["max_f_beta"] >= s["baseline_all_fg_max_f_beta"] + OBJ_MARGIN, s


def test_dsm_semantic_with_filters_beats_all_background(shared_data):
    """VOC clusters (21, Hungarian): above the all-background map, and above what a random ViT's
    DSM clusters reach on the same images (0.17 at 640 px), which one bound covers: 0.2."""
    from engine.evaluation.dsm import eval_dsm_semantic

    s = _eval(eval_dsm_semantic, data=str(shared_data / "voc12_samples"), limit=0, backbone="filters",
              max_side=SEM_MAX_SIDE, clusters=21, preset="default")
    assert s["miou"] >= max(s["baseline_all_background_miou"] + 0.1, 0.2), s
