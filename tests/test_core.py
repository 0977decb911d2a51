"""Engine core: image decoding edge cases, job engine semantics, k-means, metrics, CRF, config parsing."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from PIL import Image

from engine import clustering, metrics
from engine.configs import build_config, parse_set_args
from engine.crf import DSM_CRF, STEGO_CRF, crf_labels, dense_crf
from engine.imageio import ImageLoadError, list_images, load_image, read_image_info
from engine.jobs import Engine, EngineCallbacks, JobCancelled


# -- image I/O -------------------------------------------------------------------------------------

def _save(img: Image.Image, path, **kw):
    img.save(path, **kw)
    return path


def test_load_image_modes(tmp_path):
    rgb = (np.random.default_rng(0).random((20, 30, 3)) * 255).astype(np.uint8)
    base = Image.fromarray(rgb)
    paths = {
        "grey": _save(base.convert("L"), tmp_path / "g.png"),
        "rgba": _save(base.convert("RGBA"), tmp_path / "a.png"),
        "cmyk": _save(base.convert("CMYK"), tmp_path / "c.jpg"),
        "palette": _save(base.convert("P"), tmp_path / "p.png"),
        "i16": _save(Image.fromarray((np.arange(600).reshape(20, 30) * 100).astype(np.uint16)), tmp_path / "s.png"),
    }
    for name, p in paths.items():
        out = load_image(p)
        assert out.dtype == np.uint8 and out.shape == (20, 30, 3), name
    # 16-bit keeps its dynamic range instead of clipping to 255
    s = load_image(paths["i16"])[..., 0]
    assert s.max() > 200 and s.min() < 10


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    p = tmp_path / "rot.jpg"
    img.save(p, exif=exif)
    assert load_image(p).shape == (40, 20, 3)
    info = read_image_info(p)
    assert (info.width, info.height) == (20, 40)


def test_corrupt_and_truncated_images_raise_clear_errors(tmp_path, demo_dir):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(ImageLoadError, match="bad.jpg"):
        load_image(bad)
    data = (demo_dir / "rocket.jpg").read_bytes()
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageLoadError, match="truncated|corrupt"):
        load_image(trunc)
    with pytest.raises(ImageLoadError, match="not found"):
        load_image(tmp_path / "missing.png")


def test_list_images_sorted_and_filtered(tmp_path):
    for name in ("b.png", "a.JPG", ".hidden.png", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png"]
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "nope")


# -- job engine ------------------------------------------------------------------------------------

class _Recorder(EngineCallbacks):
    def __init__(self):
        super().__init__()
        self.events: list[tuple] = []
        self.on_result = lambda rid, r: self.events.append(("result", rid, r))
        self.on_cancelled = lambda rid: self.events.append(("cancelled", rid))
        self.on_error = lambda rid, m, tb: self.events.append(("error", rid, m))
        self.on_progress = lambda rid, f, m: self.events.append(("progress", rid, f))


def test_engine_results_errors_and_channels():
    rec = _Recorder()
    engine = Engine("cpu", rec)
    gate = threading.Event()

    def slow(ctx):
        while not gate.is_set():
            ctx.progress(0.5)
            time.sleep(0.01)
        return "slow"

    first = engine.submit(slow, channel="current")
    time.sleep(0.05)
    second = engine.submit(lambda ctx: "fast", channel="current")  # latest wins: cancels `first`
    gate.set()
    bad = engine.submit(lambda ctx: 1 / 0, name="divide")
    assert engine.wait_idle(5)
    engine.shutdown()
    kinds = {(e[0], e[1]) for e in rec.events}
    assert ("cancelled", first) in kinds and ("result", first) not in kinds
    assert ("result", second, "fast") in rec.events
    assert any(e[0] == "error" and e[1] == bad and "divide failed" in e[2] for e in rec.events)


def test_engine_priority_and_cancel_queued():
    rec = _Recorder()
    engine = Engine("cpu", rec)
    gate = threading.Event()
    order = []
    engine.submit(lambda ctx: gate.wait(5))
    time.sleep(0.05)
    low = engine.submit(lambda ctx: order.append("prefetch"), priority=10)
    engine.submit(lambda ctx: order.append("user"), priority=0)
    dropped = engine.submit(lambda ctx: order.append("dropped"), priority=5)
    engine.cancel(dropped)
    gate.set()
    assert engine.wait_idle(5)
    engine.shutdown()
    assert order == ["user", "prefetch"]
    assert ("cancelled", dropped) in rec.events and low > 0


def test_engine_retries_on_cpu_after_gpu_oom(monkeypatch):
    rec = _Recorder()
    messages = []
    rec.on_message = lambda rid, text: messages.append(text)
    engine = Engine("cpu", rec)
    engine.device = torch.device("cuda")  # pretend: the job decides what happens on "cuda"

    def job(ctx):
        if ctx.device.type == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        return ctx.device.type

    rid = engine.submit(job, name="analyze")
    assert engine.wait_idle(5)
    engine.shutdown()
    assert ("result", rid, "cpu") in rec.events
    assert messages and "out of memory" in messages[0]


def test_job_context_cancellation():
    from engine.jobs import run_sync

    def job(ctx):
        ctx._cancel.set()
        ctx.progress(0.1)

    with pytest.raises(JobCancelled):
        run_sync(job, "cpu")


# -- clustering ------------------------------------------------------------------------------------

def test_kmeans_recovers_separated_blobs():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    x = torch.cat([c + 0.3 * torch.randn(50, 2, generator=g) for c in centres])
    labels, found = clustering.kmeans(x, 3, seed=1)
    truth = torch.arange(3).repeat_interleave(50)
    conf = metrics.confusion_matrix(labels.numpy(), truth.numpy(), 3, 3)
    assert (conf > 0).sum() == 3  # a permutation: every blob is one cluster
    assert found.shape == (3, 2)


def test_batched_cosine_kmeans_and_k_clamp():
    x = torch.nn.functional.normalize(torch.randn(4, 30, 8), dim=-1)
    labels, centers = clustering.batched_kmeans(x, 5, cosine=True)
    assert labels.shape == (4, 30) and centers.shape == (4, 5, 8)
    assert torch.allclose(centers.norm(dim=-1), torch.ones(4, 5), atol=1e-5)
    labels, centers = clustering.kmeans(torch.randn(3, 2), 8)
    assert centers.shape[0] == 3 and len(set(labels.tolist())) == 3


# -- metrics ---------------------------------------------------------------------------------------

def test_mask_metrics():
    gt = np.zeros((10, 10), bool)
    gt[2:6, 2:6] = True
    pred = np.zeros_like(gt)
    pred[2:6, 2:4] = True
    assert metrics.iou(pred, gt) == pytest.approx(0.5)
    assert metrics.iou(gt, gt) == 1.0
    assert metrics.max_f_beta(gt.astype(float), gt) == pytest.approx(1.0)
    assert metrics.max_f_beta(pred.astype(float), gt) < 1.0
    assert metrics.pixel_accuracy(pred, gt) == pytest.approx(0.92)


def test_box_metrics():
    assert metrics.box_iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert metrics.box_iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
    assert metrics.corloc([(0, 0, 10, 10), (0, 0, 1, 1)], [[(0, 0, 9, 9)], [(5, 5, 9, 9)]]) == 0.5


def test_hungarian_scores_are_permutation_invariant():
    gt = np.array([[0, 0, 1, 1], [2, 2, 255, 1]])
    perm = np.array([2, 0, 1])
    scores = metrics.hungarian_scores([perm[gt.clip(0, 2)]], [gt], 3, 3)
    assert scores.miou == pytest.approx(1.0) and scores.accuracy == pytest.approx(1.0)
    # an extra, unmatched cluster counts as an error
    pred = perm[gt.clip(0, 2)].copy()
    pred[0, 0] = 3
    scores = metrics.hungarian_scores([pred], [gt], 4, 3)
    assert scores.accuracy == pytest.approx(6 / 7)
    direct = metrics.linear_scores([gt.clip(0, 2)], [gt], 3)
    assert direct.miou == pytest.approx(1.0)


# -- CRF -------------------------------------------------------------------------------------------

def test_dense_crf_snaps_coarse_mask_to_colour_edge():
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, 20:] = 255  # a sharp vertical edge at x = 20
    fg = np.zeros((1, 40, 40), np.float32)
    fg[0, :, 14:] = 0.7  # blurry, misplaced guess of the white half
    fg[0, :, :14] = 0.3
    labels = crf_labels(rgb, fg, DSM_CRF)
    assert labels[:, 22:].mean() > 0.95 and labels[:, :18].mean() < 0.05
    q = dense_crf(rgb, np.stack([1 - fg[0], fg[0]]), STEGO_CRF)
    assert q.shape == (2, 40, 40) and np.allclose(q.sum(0), 1, atol=1e-4)
    with pytest.raises(ValueError):
        dense_crf(rgb, fg[:, :10], DSM_CRF)


# -- configs ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Cfg:
    steps: int = 10
    lr: float = 1e-3
    crf: bool = True
    name: str = "x"
    scales: tuple[float, ...] = (1.0,)
    checkpoint: str | None = None


def test_build_config_parses_declared_types():
    cfg = build_config(_Cfg, parse_set_args(["steps=5", "lr=0.1", "crf=no", "scales=0.5,1,1.5", "checkpoint=none"]))
    assert cfg == _Cfg(5, 0.1, False, "x", (0.5, 1.0, 1.5), None)
    with pytest.raises(ValueError, match="valid: steps"):
        build_config(_Cfg, {"stpes": "3"})
    with pytest.raises(ValueError, match="bad value for steps"):
        build_config(_Cfg, {"steps": "many"})
    with pytest.raises(ValueError, match="key=value"):
        parse_set_args(["steps"])


# -- hostile inputs (issue 12) ---------------------------------------------------------------------

def test_truncated_jpeg_is_refused_even_with_load_truncated_images(tmp_path, demo_dir, monkeypatch):
    """Some libraries switch PIL's LOAD_TRUNCATED_IMAGES on; a truncated file must still be an error."""
    from PIL import ImageFile

    data = (demo_dir / "rocket.jpg").read_bytes()
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(data[: len(data) * 2 // 3])
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageLoadError, match="truncated"):
        load_image(trunc)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the process-wide switch is left as it was


def test_scan_images_reports_entries_that_only_look_like_images(tmp_path):
    import os

    from engine.imageio import scan_images

    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    (tmp_path / "dir.jpg").mkdir()
    os.symlink(tmp_path / "loop1.jpg", tmp_path / "loop2.jpg")
    os.symlink(tmp_path / "loop2.jpg", tmp_path / "loop1.jpg")
    os.symlink(tmp_path / "nowhere.png", tmp_path / "broken.png")
    os.mkfifo(tmp_path / "pipe.png")
    scan = scan_images(tmp_path)
    assert [p.name for p in scan.images] == ["a.png"]
    reasons = {p.name: r for p, r in scan.problems}
    assert set(reasons) == {"dir.jpg", "loop1.jpg", "loop2.jpg", "broken.png", "pipe.png"}
    assert "folder" in reasons["dir.jpg"] and "loop" in reasons["loop1.jpg"]
    assert "broken" in reasons["broken.png"] and "regular file" in reasons["pipe.png"]
    assert [p.name for p in list_images(tmp_path)] == ["a.png"]


def test_reduced_decode_keeps_at_least_max_side_and_orientation(tmp_path):
    rgb = (np.random.default_rng(1).random((300, 500, 3)) * 255).astype(np.uint8)
    jpg = _save(Image.fromarray(rgb), tmp_path / "a.jpg", quality=95)
    png = _save(Image.fromarray(rgb), tmp_path / "a.png")
    rot = Image.fromarray(rgb)
    exif = rot.getexif()
    exif[0x0112] = 6  # rotate 90° clockwise to be upright
    rotated = _save(rot, tmp_path / "r.jpg", exif=exif)
    for path in (jpg, png):
        small = load_image(path, max_side=100)
        assert max(small.shape[:2]) >= 100 and small.shape[0] < 300
        assert abs(small.shape[0] / small.shape[1] - 0.6) < 0.05
    full, small = load_image(rotated), load_image(rotated, max_side=100)
    assert full.shape[:2] == (500, 300) and 500 > small.shape[0] >= 100 and small.shape[0] > small.shape[1]


def test_atomic_write_respects_umask_and_keeps_an_existing_mode(tmp_path):
    """mkstemp makes private 0600 files; exports and caches must get the usual 0666 & ~umask."""
    import os

    from engine.fileio import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "a.json", b"{}")
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
        os.umask(0o002)
        atomic_write_bytes(tmp_path / "b.json", b"{}")
        assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o664
        os.chmod(tmp_path / "a.json", 0o640)
        atomic_write_bytes(tmp_path / "a.json", b"[]")
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)
