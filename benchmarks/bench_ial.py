"""IAL throughput: multi-scale CAM images/s, unary and affinity steps/s, random-walk time, peak memory.

    python benchmarks/bench_ial.py --device cuda --backbone random_vits16 --image-size 448 --images 16

Uses random weights by default (no download); speed does not depend on the weights.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.backbone import BackboneSpec, load_backbone  # noqa: E402
from engine.device import peak_memory_mb, pick_device, reset_peak_memory, synchronize  # noqa: E402
from engine.methods.ial.affinity import affinities, train_affinity, transition  # noqa: E402
from engine.methods.ial.affinity import random_walk  # noqa: E402
from engine.methods.ial.cam import multiscale_cams  # noqa: E402
from engine.methods.ial.config import IalConfig  # noqa: E402
from engine.methods.ial.data import grid_size, rgb_tensor, scaled_tokens, working_size  # noqa: E402
from engine.methods.ial.model import IalModel  # noqa: E402
from engine.methods.ial.unary import train_unary  # noqa: E402



def _timed(device: torch.device, fn, repeats: int = 1) -> float:
    fn()  # warm-up (cuDNN autotune, allocator)
    synchronize(device)
    t = time.perf_counter()
    for _ in range(repeats):
        fn()
    synchronize(device)
    return (time.perf_counter() - t) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backbone", default="random_vits16")
    ap.add_argument("--image-size", type=int, default=320)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--classes", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rw-iterations", type=int, default=256)
    args = ap.parse_args()

    device = pick_device(args.device)
    cfg = IalConfig(backbone=args.backbone, image_size=args.image_size, batch_size=args.batch_size,
                    unary_steps=args.steps, affinity_steps=args.steps, rw_iterations=args.rw_iterations)
    backbone = load_backbone(BackboneSpec(args.backbone), device)
    size = working_size(cfg.image_size, backbone.patch_size)
    grid = grid_size(size, cfg.map_stride)
    rng = np.random.default_rng(0)
    rgbs = (rng.random((args.images, size, size, 3)) * 255).astype(np.uint8)
    model = IalModel(backbone.embed_dim, args.classes, cfg).to(device).eval()
    quiet = lambda f, m: None  # noqa: E731
    print(f"device={device} backbone={args.backbone} size={size} grid={grid} images={args.images} "
          f"batch={args.batch_size} scales={cfg.cam_scales} flip={cfg.cam_flip}")

    reset_peak_memory(device)
    bs = args.batch_size
    chunks = [rgbs[i:i + bs] for i in range(0, args.images, bs)]
    t = _timed(device, lambda: [multiscale_cams(backbone, model.classifier, c, cfg) for c in chunks])
    print(f"CAM (multi-scale x flip): {args.images / t:8.1f} images/s   peak {peak_memory_mb(device):8.0f} MB")

    tokens = torch.cat([scaled_tokens(backbone, c).cpu().half() for c in chunks])
    seeds = torch.from_numpy(rng.integers(0, 3, (args.images, size, size)).astype(np.uint8))
    seeds[:, : size // 3] = 255
    batches = lambda idx: rgb_tensor(rgbs[idx.numpy()], device)  # noqa: E731
    reset_peak_memory(device)
    t = _timed(device, lambda: train_unary(model.unary, tokens, batches, seeds, grid, cfg, device, quiet, 0))
    print(f"unary training:           {args.steps / t:8.1f} steps/s    peak {peak_memory_mb(device):8.0f} MB")
    reset_peak_memory(device)
    t = _timed(device, lambda: train_affinity(model.affinity, tokens, batches, seeds, grid, cfg, device, quiet, 0))
    print(f"affinity training:        {args.steps / t:8.1f} steps/s    peak {peak_memory_mb(device):8.0f} MB")

    x = tokens[:bs].to(device, torch.float32)
    with torch.no_grad():
        emb = model.affinity(x, batches(torch.arange(min(bs, args.images))), grid)
        aff, valid = affinities(emb, cfg.affinity_radius)
        trans = transition(aff, valid, cfg.rw_beta)
        probs = torch.rand(x.shape[0], 3, grid, grid, device=device).softmax(1)
        reset_peak_memory(device)
        t = _timed(device, lambda: random_walk(probs, trans, cfg.rw_iterations, cfg.affinity_radius), 3)
    print(f"random walk ({cfg.rw_iterations} steps, 3 labels, batch {x.shape[0]}): {t * 1000:8.1f} ms "
          f"({t * 1000 / x.shape[0]:.1f} ms/image)   peak {peak_memory_mb(device):8.0f} MB")


if __name__ == "__main__":
    main()
