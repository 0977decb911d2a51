"""Time to the first proposal of a newly opened image, and to the full analysis (issue 16, target 2).

    python benchmarks/bench_first_result.py [--n 12] [--max-side 640] [--backbone random_vits16]
                                            [--device auto] [--json out.json]

A warm analyzer (backbone loaded, one warm-up image) analyses ``--n`` images it has never seen, as the
app does when a person opens one: decode → ViT features → graph + eigenvectors → box + patch-level object
mask (**first result**, ``on_partial``) → CRF, segments, matting (**full**). Each image is analysed twice,
alternating which goes first, by the current path and by the *previous* one in the same process (dense ``eigh`` up to 600
nodes, default thread pools, full-size decode, float32 ViT on the CPU; no first result, so its "first" is its full time), so
both see the same load on a shared machine; ratios are the figures to trust. Also prints the feature
cache size per image (target 3) of the new format and of the previous one (float16 + input image).
Random weights time exactly like DINO weights.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.device import cpu_bf16_matmul, pick_device, synchronize  # noqa: E402
from engine.imageio import ImageFile, list_images  # noqa: E402
from engine.pipeline import Analyzer, SpectralSettings  # noqa: E402

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_val_subset" / "images"
TARGET_FIRST_P95_S = 1.0
TARGET_CACHE_MIB = 0.5


@contextlib.contextmanager
def previous_paths():
    """The per-image path before issue 16 (same emulation as tests/test_speed_paths.py)."""
    import engine.device
    import engine.pipeline as pipeline
    from engine.methods.spectral import eigen

    saved = (eigen.DENSE_MAX_NODES_CPU, pipeline.small_cpu_ops, Analyzer._decode_working)
    saved_bf16 = engine.device.cpu_bf16_matmul
    engine.device.cpu_bf16_matmul = lambda: False  # float32 ViT on the CPU

    def full_decode(self, file):
        rgb = file.decode()
        return rgb, tuple(rgb.shape[:2])

    eigen.DENSE_MAX_NODES_CPU = 600
    pipeline.small_cpu_ops = lambda device: contextlib.nullcontext()
    Analyzer._decode_working = full_decode
    try:
        yield
    finally:
        eigen.DENSE_MAX_NODES_CPU, pipeline.small_cpu_ops, Analyzer._decode_working = saved
        engine.device.cpu_bf16_matmul = saved_bf16


def time_one(analyzer: Analyzer, path: Path, device) -> tuple[float, float, float, float]:
    """Wall seconds to the first result and to the full analysis of one uncached image, then the same
    as process CPU seconds (less sensitive to other processes on a shared machine)."""
    t0, c0 = time.perf_counter(), time.process_time()
    first: list[tuple[float, float]] = []
    file = ImageFile.read(path)
    analyzer.analyze(path, file=file, on_partial=lambda r: first.append(
        (time.perf_counter() - t0, time.process_time() - c0)))
    synchronize(device)
    full, full_cpu = time.perf_counter() - t0, time.process_time() - c0
    f, f_cpu = first[0] if first else (full, full_cpu)
    return f, full, f_cpu, full_cpu


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def cache_sizes(analyzer: Analyzer, paths: list[Path]) -> tuple[float, float, int]:
    """Mean MiB per image of the feature cache now and in the previous format; mean tokens per image."""
    from engine.features import FeatureCache

    new, old, tokens = [], [], []
    with tempfile.TemporaryDirectory() as d:
        cache = FeatureCache(d, analyzer.settings.max_side)
        for p in paths:
            file = ImageFile.read(p)
            rgb, _ = analyzer._decode_working(file)
            f = analyzer.provider.features([(file.sha1, rgb)])[0]
            cache.put("k" + file.sha1, f)
            new.append(next(Path(d).glob(f"*/k{file.sha1}.npz")).stat().st_size)
            buf = io.BytesIO()
            np.savez(buf, keys=f.keys.astype(np.float16), tokens=f.tokens.astype(np.float16),
                     cls=f.cls.astype(np.float16), patch_size=f.patch_size, input_rgb=f.input_rgb,
                     image_hw=np.asarray(f.image_hw))
            old.append(len(buf.getvalue()))
            tokens.append(f.grid_hw[0] * f.grid_hw[1])
    return float(np.mean(new)) / 2**20, float(np.mean(old)) / 2**20, int(np.mean(tokens))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n", type=int, default=12)
    ap.add_argument("--backbone", default="random_vits16")
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--no-baseline", action="store_true", help="skip the previous path (half the time)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)

    import torch

    device = pick_device(args.device)
    settings = SpectralSettings(backbone=args.backbone, max_side=args.max_side)
    paths = list_images(args.images)[: args.n + 1]
    if len(paths) < 2:
        raise SystemExit(f"need at least 2 images in {args.images}")
    analyzer = Analyzer(settings, device)  # no feature cache: every image is new
    analyzer.analyze(paths[0])  # warm-up (allocator, first-call costs)
    new_first, new_full, old_full, cpu_first, cpu_full, cpu_old = [], [], [], [], [], []
    for j, p in enumerate(paths[1:]):
        def current():
            f, full, f_cpu, full_cpu = time_one(analyzer, p, device)
            new_first.append(f)
            new_full.append(full)
            cpu_first.append(f_cpu)
            cpu_full.append(full_cpu)

        def previous():
            with previous_paths():
                _, o_full, _, o_cpu = time_one(analyzer, p, device)
            old_full.append(o_full)
            cpu_old.append(o_cpu)

        # alternate which path sees the image first (file cache, allocator state)
        order = [current] if args.no_baseline else ([current, previous] if j % 2 == 0 else [previous, current])
        for run in order:
            run()
    new_mib, old_mib, tokens = cache_sizes(analyzer, paths[1:])
    n = len(new_first)
    res = {
        "device": str(device), "backbone": args.backbone, "max_side": args.max_side, "images": n,
        "tokens_per_image": tokens, "torch_threads": torch.get_num_threads(),
        "first_result_p50_s": pct(new_first, 50), "first_result_p95_s": pct(new_first, 95),
        "full_p50_s": pct(new_full, 50), "full_p95_s": pct(new_full, 95),
        "feature_cache_mib": new_mib, "feature_cache_previous_mib": old_mib,
        "cpu_first_result_p50_s": pct(cpu_first, 50), "cpu_full_p50_s": pct(cpu_full, 50),
        "load_average_1min": os.getloadavg()[0], "cores": os.cpu_count(),
    }
    print(f"device={device} backbone={args.backbone} max_side={args.max_side} images={n} "
          f"tokens/image≈{tokens} torch threads={torch.get_num_threads()} "
          f"cpu bf16={'yes' if device.type == 'cpu' and cpu_bf16_matmul() else 'no'} "
          f"load average {res['load_average_1min']:.1f} on {res['cores']} cores")
    print(f"first result (eigenvectors + box + object mask): p50 {res['first_result_p50_s']:.2f} s, "
          f"p95 {res['first_result_p95_s']:.2f} s   target p95 < {TARGET_FIRST_P95_S:.1f} s "
          f"{'OK' if res['first_result_p95_s'] < TARGET_FIRST_P95_S else 'MISSED'}")
    print(f"full analysis (+ CRF, segments, matting):   p50 {res['full_p50_s']:.2f} s, "
          f"p95 {res['full_p95_s']:.2f} s")
    print(f"process CPU seconds (p50): first result {res['cpu_first_result_p50_s']:.2f}, full "
          f"{res['cpu_full_p50_s']:.2f}" + (f", previous full {pct(cpu_old, 50):.2f}" if cpu_old else ""))
    if old_full:
        res.update(previous_cpu_full_p50_s=pct(cpu_old, 50),
                   previous_full_p50_s=pct(old_full, 50), previous_full_p95_s=pct(old_full, 95),
                   first_vs_previous_full=pct(new_first, 50) / pct(old_full, 50),
                   full_vs_previous_full=pct(new_full, 50) / pct(old_full, 50))
        print(f"previous path, full analysis (same run):    p50 {res['previous_full_p50_s']:.2f} s, "
              f"p95 {res['previous_full_p95_s']:.2f} s")
        print(f"ratios (p50): first / previous full = {res['first_vs_previous_full']:.2f}, "
              f"full / previous full = {res['full_vs_previous_full']:.2f}")
    print(f"feature cache: {new_mib:.2f} MiB/image (previous format {old_mib:.2f} MiB)   "
          f"target <= {TARGET_CACHE_MIB} MiB {'OK' if new_mib <= TARGET_CACHE_MIB else 'MISSED'}")
    if args.json:
        args.json.write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
