"""Every CUDA path against the CPU path on the same inputs (``pytest -m gpu``; skipped without CUDA).

Run by ``scripts/gpu_check.sh``. Tolerances: eigenvectors |cos| > 0.99, eigenvalues 1e-3; k-means
agreement ARI > 0.95; ViT features cos > 0.999 per token; whole analyses as in
tests/test_speed_paths.py (object mask IoU > 0.98); trained methods: the first training losses within
10 % and the same checkpoint predicting masks with IoU > 0.95 on both devices.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.gpu

CUDA = torch.device("cuda")
CPU = torch.device("cpu")


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else float(np.logical_and(a, b).sum() / union)


def _ari(a, b) -> float:
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(np.ravel(a), np.ravel(b)))


@pytest.fixture(scope="module")
def photos(shared_data) -> list[Path]:
    return sorted((shared_data / "coco_val_subset" / "images").glob("*.jpg"))[:4]


def test_eigenvectors_cuda_eigh_match_cpu_eigsh(photos):
    import cv2

    from engine.backbone import BackboneSpec, load_backbone
    from engine.features import extract_features
    from engine.imageio import load_image
    from engine.methods.spectral.affinity import spectral_affinity
    from engine.methods.spectral.eigen import laplacian_eigs

    bb = load_backbone(BackboneSpec("random_vits16", seed=0), CPU)
    for path in photos[:2]:
        f = extract_features(bb, [load_image(path)], 480)[0]
        h, w = f.grid_hw
        cell = cv2.resize(f.input_rgb, (w, h), interpolation=cv2.INTER_AREA)
        keys = torch.from_numpy(f.keys.reshape(h * w, -1))
        vals_c, vecs_c = laplacian_eigs(spectral_affinity(keys, cell, 10.0), 8)
        vals_g, vecs_g = laplacian_eigs(spectral_affinity(keys.to(CUDA), cell, 10.0), 8)
        assert vecs_g.device.type == "cuda"
        np.testing.assert_allclose(vals_c.numpy(), vals_g.cpu().numpy(), atol=1e-3)
        for i in range(1, 4):
            assert abs(float(vecs_c[i] @ vecs_g[i].cpu())) > 0.99


def test_kmeans_cuda_matches_cpu():
    from engine.clustering import StreamingKMeans, batched_kmeans, kmeans

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(10, 32, generator=g)
    x = centres[torch.randint(10, (20000,), generator=g)] + 0.2 * torch.randn(20000, 32, generator=g)
    for cosine in (False, True):
        lc, _ = kmeans(x, 10, seed=0, cosine=cosine)
        lg, _ = kmeans(x.to(CUDA), 10, seed=0, cosine=cosine)
        assert _ari(lc.numpy(), lg.cpu().numpy()) > 0.95
    bc, _ = batched_kmeans(x.reshape(4, 5000, 32), 5, seed=1)
    bg, _ = batched_kmeans(x.reshape(4, 5000, 32).to(CUDA), 5, seed=1)
    for i in range(4):
        assert _ari(bc[i].numpy(), bg[i].cpu().numpy()) > 0.95
    sc, sg = StreamingKMeans(10, cosine=True), StreamingKMeans(10, cosine=True, device=CUDA)
    for chunk in x.split(2500):
        sc.partial_fit(chunk)
        sg.partial_fit(chunk)
    assert _ari(sc.predict(x).numpy(), sg.predict(x).cpu().numpy()) > 0.95


def test_features_cuda_match_cpu(photos):
    from engine.backbone import BackboneSpec, load_backbone
    from engine.features import extract_features
    from engine.imageio import load_image

    rgbs = [load_image(p) for p in photos]
    fc = extract_features(load_backbone(BackboneSpec("random_vits16", seed=0), CPU), rgbs, 640)
    fg = extract_features(load_backbone(BackboneSpec("random_vits16", seed=0), CUDA), rgbs, 640)
    for a, b in zip(fc, fg):
        for x, y in ((a.keys, b.keys), (a.tokens, b.tokens)):
            cos = (x * y).sum(-1) / (np.linalg.norm(x, axis=-1) * np.linalg.norm(y, axis=-1) + 1e-12)
            assert cos.min() > 0.999


def test_whole_analysis_cuda_matches_cpu(photos):
    from engine.pipeline import Analyzer, SpectralSettings

    settings = SpectralSettings(backbone="random_vits16", max_side=480)
    cpu = Analyzer(settings, CPU).analyze_many(photos)
    gpu = Analyzer(settings, CUDA).analyze_many(photos)
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(a.eigenvalues, b.eigenvalues, atol=1e-3)
        for i in range(1, 4):
            assert abs(float((a.eigenvectors[i] * b.eigenvectors[i]).sum())) > 0.99
        assert _iou(a.object_mask, b.object_mask) > 0.98
        assert _ari(a.segment_labels, b.segment_labels) > 0.9
        assert np.abs(a.alpha - b.alpha).mean() < 0.02


# -- trainable methods: a short training on each device, and one checkpoint predicting on both --------

def _method_cases(shared_data: Path):
    from engine.methods.base import TrainingImage, TrainingSet

    voc = shared_data / "voc12_samples"
    voc_images = sorted((voc / "images").glob("*.png"))[:4]
    horses = sorted((shared_data / "weizmann_horse" / "images").glob("*"))[:8]
    from engine.methods.ial.evaluate import load_semantic_samples, training_set
    from engine.methods.ial import IalConfig
    from engine.methods.redo import RedoConfig
    from engine.methods.stego import StegoConfig

    return {
        "stego": (StegoConfig(backbone="random_vits16", resolution=112, batch_size=10, dropout=0.0, n_clusters=6,
                              steps=10, checkpoint_every=10, predict_resolution=128, max_side=160, crf=False,
                              seed=0),
                  TrainingSet([TrainingImage(p) for p in voc_images[:2]]),
                  dict(labels=[voc / "masks" / p.name for p in voc_images[:2]], n_classes=21), voc_images[0]),
        "redo": (RedoConfig(image_size=32, nf_mask=8, nf_generator=4, nf_discriminator=8, nf_encoder=4,
                            batch_size=4, steps=6),
                 TrainingSet([TrainingImage(p) for p in horses]), {}, horses[0]),
        "ial": (IalConfig(backbone="random_vits16", image_size=128, cam_scales=(1.0,), cam_steps=10,
                          unary_steps=8, affinity_steps=6, unary_dim=32, affinity_dim=16, affinity_radius=3,
                          rw_iterations=16, rounds=1, batch_size=4, slic_segments=40),
                training_set(load_semantic_samples(voc, limit=4)), {}, voc_images[0]),
    }


@pytest.mark.parametrize("name", ["stego", "redo", "ial"])
def test_method_train_step_and_predict_cuda_match_cpu(name, shared_data, tmp_path):
    from engine.imageio import load_image
    from engine.jobs import run_sync
    from engine.methods.base import get_method

    info = get_method(name)
    config, dataset, extras, probe = _method_cases(shared_data)[name]
    ckpts, logs = {}, {}
    for device in ("cpu", "cuda"):
        work = tmp_path / device
        work.mkdir()
        ckpts[device] = run_sync(lambda ctx: info.train(dataset, config, ctx, work, **extras), device)
        log = work / "training_log.json"
        logs[device] = json.loads(log.read_text()) if log.exists() else {}
    lc, lg = logs["cpu"].get("losses"), logs["cuda"].get("losses")
    if lc and lg:  # same seed, same data: the first steps' losses agree (later ones may drift apart)
        first_c, first_g = np.asarray(lc[:1], float), np.asarray(lg[:1], float)
        np.testing.assert_allclose(first_g, first_c, rtol=0.1, atol=1e-3)
        assert np.isfinite(np.asarray(lg, float)).all()
    rgb = load_image(probe)
    on_cpu = info.load_predictor(ckpts["cpu"], CPU).predict(rgb)
    on_gpu = info.load_predictor(ckpts["cpu"], CUDA).predict(rgb)
    assert len(on_cpu) == len(on_gpu)
    for a, b in zip(sorted(on_cpu, key=lambda p: (p.label, p.name)), sorted(on_gpu, key=lambda p: (p.label, p.name))):
        assert a.mask.shape == b.mask.shape == rgb.shape[:2]
        assert _iou(a.mask, b.mask) > 0.95, (name, a.name)
    assert info.load_predictor(ckpts["cuda"], CPU).predict(rgb) is not None  # a CUDA checkpoint loads on CPU
