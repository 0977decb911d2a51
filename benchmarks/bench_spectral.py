"""Throughput of Deep Spectral Methods, stage by stage: ViT features, eigenvectors, per-image rest.

    python benchmarks/bench_spectral.py --device auto --n 16 --backbone random_vits16 --max-side 480

Prints images/s for feature extraction (batched by size) and for graph + eigenvectors (batched per grid
size: torch eigh on GPU, scipy eigsh on CPU) separately, then for the per-image remainder (box, CRF
mask, segments, matting), with peak memory. Random weights give the same timings as DINO weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.device import peak_memory_mb, pick_device, reset_peak_memory, synchronize  # noqa: E402
from engine.features import extract_features  # noqa: E402
from engine.imageio import list_images, load_image  # noqa: E402
from engine.pipeline import Analyzer, SpectralSettings  # noqa: E402

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_val_subset" / "images"



def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--n", type=int, default=16, help="number of images")
    ap.add_argument("--backbone", default="random_vits16")
    ap.add_argument("--max-side", type=int, default=480)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    ap.add_argument("--no-matting", action="store_true")
    ap.add_argument("--no-crf", action="store_true")
    args = ap.parse_args(argv)

    device = pick_device(args.device)
    settings = SpectralSettings(backbone=args.backbone, max_side=args.max_side, matting=not args.no_matting,
                                crf=not args.no_crf)
    paths = list_images(args.images)[: args.n]
    if not paths:
        raise SystemExit(f"no images in {args.images}")
    analyzer = Analyzer(settings, device)
    rgbs = [load_image(p) for p in paths]
    extract_features(analyzer.backbone, rgbs[:1], args.max_side)  # warm-up (cuDNN, allocator)
    n = len(paths)

    reset_peak_memory(device)
    synchronize(device)
    t0 = time.perf_counter()
    feats = extract_features(analyzer.backbone, rgbs, args.max_side, args.batch_size)
    synchronize(device)
    t_feat = time.perf_counter() - t0
    mem_feat = peak_memory_mb(device)

    reset_peak_memory(device)
    t0 = time.perf_counter()
    spectra = analyzer._spectra(feats, device, None)
    synchronize(device)
    t_eig = time.perf_counter() - t0
    mem_eig = peak_memory_mb(device)

    t0 = time.perf_counter()
    for p, rgb, f, (vals, vecs, labels) in zip(paths, rgbs, feats, spectra):
        analyzer._finish(p, rgb, f, vals, vecs, labels, device)
    synchronize(device)
    t_rest = time.perf_counter() - t0

    nodes = [f.grid_hw[0] * f.grid_hw[1] for f in feats]
    mem_unit = "MiB allocated" if device.type == "cuda" else "MiB max RSS"
    print(f"device={device} backbone={args.backbone} max_side={args.max_side} images={n} "
          f"tokens/image={min(nodes)}..{max(nodes)} threads={torch.get_num_threads()}")
    print(f"features     : {n / t_feat:8.2f} images/s  ({t_feat:.2f} s, peak {mem_feat:.0f} {mem_unit})")
    print(f"eigenvectors : {n / t_eig:8.2f} images/s  ({t_eig:.2f} s, peak {mem_eig:.0f} {mem_unit}, "
          f"K={settings.n_eigenvectors}, knn λ={settings.knn_weight})")
    print(f"box+mask+seg+alpha: {n / t_rest:8.2f} images/s  ({t_rest:.2f} s; crf={settings.crf}, "
          f"matting={settings.matting})")


if __name__ == "__main__":
    main()
