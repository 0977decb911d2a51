"""ReDO training throughput and peak memory (reference setting: 128 px, batch 20).

    python benchmarks/bench_redo.py --device cuda --steps 50 --batch 20 --size 128

Runs real optimisation steps (G-side + D update) on random images after a few warm-up steps and
prints steps/s, images/s and peak memory (CUDA allocator on GPU, process max RSS on CPU).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from engine.device import peak_memory_mb, pick_device, reset_peak_memory, synchronize  # noqa: E402
from engine.methods.redo.config import RedoConfig  # noqa: E402
from engine.methods.redo.trainer import RedoTrainer  # noqa: E402



def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=20)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--nf-scale", type=float, default=1.0, help="multiply all default widths (CPU: 0.25)")
    ap.add_argument("--images", type=int, default=64, help="random images in the pool")
    args = ap.parse_args(argv)

    device = pick_device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    d = RedoConfig()
    w = lambda n, m=4: max(m, int(round(n * args.nf_scale / m)) * m)  # noqa: E731
    cfg = RedoConfig(image_size=args.size, batch_size=args.batch, nf_mask=w(d.nf_mask),
                     nf_generator=w(d.nf_generator), nf_discriminator=w(d.nf_discriminator),
                     nf_encoder=w(d.nf_encoder))
    images = torch.randint(0, 256, (args.images, 3, args.size, args.size), dtype=torch.uint8)
    trainer = RedoTrainer(cfg, images, device, seed=0)
    n_params = {k: sum(p.numel() for p in getattr(trainer.nets, k).parameters()) / 1e6
                for k in ("mask", "generators", "discriminator", "encoder")}
    for _ in range(args.warmup):
        trainer.step()
    synchronize(device)
    reset_peak_memory(device)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        stats = trainer.step()
    synchronize(device)
    dt = time.perf_counter() - t0
    print(f"device={device} size={args.size} batch={args.batch} widths(M/G/D/E)="
          f"{cfg.nf_mask}/{cfg.nf_generator}/{cfg.nf_discriminator}/{cfg.nf_encoder}")
    print("params (M): " + ", ".join(f"{k}={v:.2f}" for k, v in n_params.items()))
    print(f"steps/s={args.steps / dt:.3f}  real images/s={args.steps * args.batch / dt:.1f}  "
          f"peak_memory_mb={peak_memory_mb(device):.0f}  last losses={[round(v, 3) for v in stats[:3].tolist()]}")


if __name__ == "__main__":
    main()
