"""Throughput of STEGO: crop-feature precomputation, training steps, and prediction.

    python benchmarks/bench_stego.py --device auto --steps 50 --batch 16 --backbone random_vits8

Prints crops/s for the frozen-backbone pass over five-crops, training steps/s of the head + probes
(correlation loss with 11×11 samples, 5 random derangements) with peak memory, and images/s of the
predictor with and without CRF. Random weights give the same timings as DINO weights.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.backbone import load_backbone  # noqa: E402
from engine.device import peak_memory_mb, pick_device, reset_peak_memory, synchronize  # noqa: E402
from engine.imageio import list_images, load_image  # noqa: E402
from engine.jobs import run_sync  # noqa: E402
from engine.methods.base import TrainingImage, TrainingSet  # noqa: E402
from engine.methods.stego.config import StegoConfig  # noqa: E402
from engine.methods.stego.data import build_crop_features  # noqa: E402
from engine.methods.stego.predict import load_predictor  # noqa: E402
from engine.methods.stego.train import train_on_features  # noqa: E402

DEFAULT_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "data" / "coco_val_subset" / "images"



def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--backbone", default="random_vits16")
    ap.add_argument("--resolution", type=int, default=224)
    ap.add_argument("--n", type=int, default=16, help="number of training images (x5 crops)")
    ap.add_argument("--predict-n", type=int, default=4, help="images for the prediction timing")
    ap.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    args = ap.parse_args(argv)

    device = pick_device(args.device)
    paths = list_images(args.images)[: args.n]
    if not paths:
        raise SystemExit(f"no images in {args.images}")
    cfg = StegoConfig(backbone=args.backbone, steps=args.steps, batch_size=args.batch,
                      resolution=args.resolution, checkpoint_every=0)
    backbone = load_backbone(cfg.backbone_spec(), device)
    dataset = TrainingSet([TrainingImage(p) for p in paths])
    print(f"device {device}  backbone {args.backbone}  images {len(paths)}  crops {5 * len(paths)}  "
          f"resolution {args.resolution}  batch {args.batch}  threads {torch.get_num_threads()}")

    reset_peak_memory(device)
    synchronize(device)
    t0 = time.perf_counter()
    data = build_crop_features(dataset, backbone, cfg)
    synchronize(device)
    dt = time.perf_counter() - t0
    grid = tuple(data.feats.shape[-2:])
    print(f"features: {len(data)} crops in {dt:.2f}s = {len(data) / dt:.1f} crops/s (incl. image decode), "
          f"grid {grid}, {data.feats.numel() * 2 / 2**20:.1f} MiB in memory, peak {peak_memory_mb(device):.0f} MiB")

    with tempfile.TemporaryDirectory() as tmp:
        warm = replace(cfg, steps=3)
        run_sync(lambda ctx: train_on_features(data, warm, ctx, Path(tmp)), device=device)
        reset_peak_memory(device)
        synchronize(device)
        t0 = time.perf_counter()
        ckpt = run_sync(lambda ctx: train_on_features(data, cfg, ctx, Path(tmp)), device=device)
        synchronize(device)
        dt = time.perf_counter() - t0
        print(f"training: {cfg.steps} steps in {dt:.2f}s = {cfg.steps / dt:.2f} steps/s "
              f"({cfg.steps * args.batch / dt:.0f} crops/s), peak {peak_memory_mb(device):.0f} MiB")

        rgbs = [load_image(p) for p in paths[: args.predict_n]]
        for crf in (False, True):
            predictor = load_predictor(ckpt, device, crf=crf, backbone=backbone)
            predictor.segment(rgbs[0])  # warm-up
            synchronize(device)
            t0 = time.perf_counter()
            for rgb in rgbs:
                predictor.predict(rgb)
            synchronize(device)
            dt = time.perf_counter() - t0
            print(f"predict (crf {'on' if crf else 'off'}, res {cfg.predict_resolution}, flip TTA): "
                  f"{len(rgbs) / dt:.2f} images/s")


if __name__ == "__main__":
    main()
