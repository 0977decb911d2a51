"""engine.pipeline on real photos with a *random* ViT-S/16 at 224 px.

These tests check shapes, invariants and plumbing, not quality: with random weights the eigenvectors
follow colour/texture only; DSM's published quality needs real DINO weights.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from engine.backbone import BackboneLoadError
from engine.imageio import ImageLoadError, load_image
from engine.jobs import JobCancelled, JobContext, run_sync
from engine.methods.spectral.localization import foreground_side, largest_component
from engine.pipeline import (SOURCE_OBJECT, SOURCE_SEGMENT, SOURCE_SEMANTIC, Analyzer, AnalysisStore,
                             ImageAnalysis, SpectralSettings, cluster_dataset)

SETTINGS = SpectralSettings(backbone="random_vits16", max_side=224, n_eigenvectors=6, n_segments=3,
                            matting_max_side=128)


@pytest.fixture(scope="module")
def images(shared_data) -> list[Path]:
    return sorted((shared_data / "sod_bsds" / "images").glob("*.jpg"))[:3]


@pytest.fixture(scope="module")
def analyzer(random_backbone) -> Analyzer:
    return Analyzer(SETTINGS, "cpu", backbone=random_backbone)


@pytest.fixture(scope="module")
def corrupt(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("bad") / "broken.jpg"
    p.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    return p


@pytest.fixture(scope="module")
def results(analyzer, images, corrupt) -> list:
    fractions: list[float] = []
    out = run_sync(lambda ctx: analyzer.analyze_many([images[0], corrupt, *images[1:]], ctx, batch_size=2),
                   "cpu", progress=lambda f, m: fractions.append(f))
    assert fractions and fractions[-1] == 1.0 and fractions == sorted(fractions)
    return out


@pytest.fixture(scope="module")
def analyses(results) -> list[ImageAnalysis]:
    return [r for r in results if isinstance(r, ImageAnalysis)]


def test_corrupt_file_is_returned_in_place(results, corrupt, analyzer):
    assert len(results) == 4
    assert isinstance(results[1], ImageLoadError) and "broken.jpg" in str(results[1])
    assert all(isinstance(r, ImageAnalysis) for i, r in enumerate(results) if i != 1)
    with pytest.raises(ImageLoadError):
        analyzer.analyze(corrupt)


def test_eigenvectors_on_real_images(analyses):
    for a in analyses:
        k, (h, w) = SETTINGS.n_eigenvectors, a.grid_hw
        assert a.eigenvalues.shape == (k,) and a.eigenvalues.dtype == np.float32
        assert a.eigenvectors.shape == (k, h, w) and a.eigenvectors.dtype == np.float32
        assert np.all(np.diff(a.eigenvalues) >= -1e-5)
        assert a.eigenvalues[0] < 1e-3 and np.all(a.eigenvalues >= 0) and np.all(a.eigenvalues < 2)
        flat = a.eigenvectors.reshape(k, -1)
        np.testing.assert_allclose(np.linalg.norm(flat, axis=1), 1.0, atol=1e-4)
        assert np.all(flat[0] > 0)  # trivial vector: D^-1/2-weighted constant, made positive
        assert np.all((flat[1:] > 0).mean(axis=1) <= 0.5 + 1e-9)  # sign rule: positive = minority


def test_box_is_the_extent_of_the_largest_component(analyses, images):
    for a, path in zip(analyses, images):
        hh, ww = load_image(path).shape[:2]
        assert a.image_hw == (hh, ww)
        x0, y0, x1, y1 = a.box
        assert 0 <= x0 < x1 <= ww and 0 <= y0 < y1 <= hh
        component = largest_component(foreground_side(a.eigenvectors[1]))
        ys, xs = np.nonzero(a.grid_to_image(component))
        assert a.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_masks_segments_alpha_and_proposals(analyses):
    for a in analyses:
        hh, ww = a.image_hw
        assert a.object_mask.dtype == bool and a.object_mask.shape == (hh, ww)
        assert a.segment_labels.dtype == np.int32 and a.segment_labels.shape == a.grid_hw
        assert set(np.unique(a.segment_labels)) == set(range(SETTINGS.n_segments))
        assert a.segment_features.shape == (SETTINGS.n_segments, 384)
        assert a.segment_features.dtype == np.float32
        assert a.alpha is not None and a.alpha.shape == (hh, ww) and a.alpha.dtype == np.float32
        assert a.alpha.min() >= 0 and a.alpha.max() <= 1
        objects = [p for p in a.proposals if p.source == SOURCE_OBJECT]
        segments = [p for p in a.proposals if p.source == SOURCE_SEGMENT]
        assert len(objects) == 1 and np.array_equal(objects[0].mask, a.object_mask)
        assert len(segments) == SETTINGS.n_segments
        cover = np.sum([p.mask.astype(np.int32) for p in segments], axis=0)
        assert cover.shape == (hh, ww) and np.all(cover == 1)  # segments partition the image


def test_crf_off_gives_the_upsampled_patch_mask(random_backbone, images):
    a = Analyzer(replace(SETTINGS, crf=False, matting=False), backbone=random_backbone).analyze(images[0])
    assert a.alpha is None
    np.testing.assert_array_equal(a.object_mask, a.grid_to_image(foreground_side(a.eigenvectors[1])))


def test_native_resolution_grey_and_tiny_images(tmp_path, random_backbone, images):
    """Images below max_side run at native size (read-only decoded arrays reach the CRF directly)."""
    from PIL import Image

    crop = load_image(images[0])[:120, :150]
    Image.fromarray(crop).save(tmp_path / "small.png")
    Image.fromarray(crop[..., 0]).save(tmp_path / "grey.png")
    Image.fromarray(crop[:10, :12]).save(tmp_path / "tiny.png")  # smaller than one patch
    out = Analyzer(SETTINGS, backbone=random_backbone).analyze_many(sorted(tmp_path.glob("*.png")))
    for a in out:
        assert isinstance(a, ImageAnalysis)
        assert a.object_mask.shape == a.image_hw and a.alpha.shape == a.image_hw
        x0, y0, x1, y1 = a.box
        assert 0 <= x0 < x1 <= a.image_hw[1] and 0 <= y0 < y1 <= a.image_hw[0]
    assert out[2].grid_hw == (1, 1) and out[2].image_hw == (10, 12)


def test_analysis_store_round_trip(tmp_path, analyses, images):
    store = AnalysisStore(tmp_path / "analyses")
    a = analyses[0]
    assert store.get(images[0], SETTINGS) is None
    store.put(a, SETTINGS)
    b = store.get(images[0], SETTINGS)
    assert b is not None and b.path == a.path and b.image_hw == a.image_hw and b.box == a.box
    for name in ("eigenvalues", "eigenvectors", "object_mask", "segment_labels", "segment_features", "alpha"):
        np.testing.assert_array_equal(getattr(b, name), getattr(a, name), err_msg=name)
    assert b.cell_hw == a.cell_hw
    assert [(p.source, p.label) for p in b.proposals] == [(p.source, p.label) for p in a.proposals]
    assert all(np.array_equal(p.mask, q.mask) for p, q in zip(a.proposals, b.proposals))
    assert store.get(images[0], replace(SETTINGS, knn_weight=0.0)) is None  # settings are in the key
    file = next((tmp_path / "analyses").glob("*/*.npz"))
    file.write_bytes(b"garbage")
    assert store.get(images[0], SETTINGS) is None and not file.exists()


def test_cluster_dataset_semantic_proposals(analyses):
    n_clusters = 3
    out = cluster_dataset(analyses, n_clusters, seed=0)
    assert set(out) == {a.path for a in analyses}
    labels_seen = set()
    for a in analyses:
        props = out[a.path]
        assert props and all(p.source == SOURCE_SEMANTIC for p in props)
        assert [p.label for p in props] == sorted({p.label for p in props})  # one per cluster present
        cover = np.sum([p.mask.astype(np.int32) for p in props], axis=0)
        assert cover.shape == a.image_hw and np.all(cover == 1)
        assert props[0].label == 0  # background segment → cluster 0
        labels_seen |= {p.label for p in props}
    assert labels_seen <= set(range(n_clusters)) and len(labels_seen) >= 2
    with pytest.raises(ValueError, match="no analysed images"):
        cluster_dataset([], 3)


def test_feature_cache_gives_identical_results(tmp_path, random_backbone, images, analyses):
    cached = Analyzer(SETTINGS, backbone=random_backbone, cache_dir=tmp_path / "feats")
    first = cached.analyze(images[0])
    assert list((tmp_path / "feats").glob("*/*.npz"))
    again = cached.analyze(images[0])  # from the float16 cache
    assert again.grid_hw == first.grid_hw
    assert np.abs(again.eigenvalues - first.eigenvalues).max() < 1e-2
    np.testing.assert_array_equal(first.eigenvalues, analyses[0].eigenvalues)


def test_cancellation_stops_the_batch(analyzer, images):
    cancel = threading.Event()
    cancel.set()
    ctx = JobContext(1, analyzer.device, cancel, lambda *a: None, lambda *a: None)
    with pytest.raises(JobCancelled):
        analyzer.analyze_many(images, ctx)


def test_bad_settings_and_backbones_are_explained(tmp_path):
    with pytest.raises(ValueError, match="n_eigenvectors"):
        SpectralSettings(n_eigenvectors=1)
    with pytest.raises(BackboneLoadError, match="not found"):
        Analyzer(replace(SETTINGS, backbone=str(tmp_path / "missing.pth")))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"nope")
    with pytest.raises(BackboneLoadError):
        Analyzer(replace(SETTINGS, backbone=str(bad)))
