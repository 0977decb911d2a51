"""Evaluate Deep Spectral Methods on the three shared real-image sets in one go and print a table.

    python scripts/eval_spectral.py --backbone dino_vits16 --limit 50
    python scripts/eval_spectral.py --backbone ~/dino_deitsmall16_pretrain.pth

* localization: CorLoc of the box on ``coco_val_subset`` (GT: non-crowd instance boxes);
* single object: IoU / accuracy of the CRF mask, mean maxFβ (β² = 0.3) of the matting alpha, ``sod_bsds``;
* semantic: Hungarian-matched mIoU / accuracy of the dataset clustering on ``voc12_samples``.

One backbone is loaded and shared. Each task is also ``main.py eval dsm-…`` (see engine/evaluation/dsm.py).
With ``random_*`` backbones the numbers only show that the pipeline runs; DSM's published figures
(CorLoc COCO20k 52.2, ECSSD IoU 0.733, VOC mIoU ~30) need real DINO weights.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from engine.evaluation import dsm as evaluation  # noqa: E402
from engine.device import pick_device  # noqa: E402
from engine.jobs import run_sync  # noqa: E402
from engine.pipeline import Analyzer  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TASKS = {"loc": ("coco_val_subset", evaluation.eval_dsm_localization, dict(crf=False, matting=False)),
         "sod": ("sod_bsds", evaluation.eval_dsm_object, dict(crf=True, matting=True)),
         "voc": ("voc12_samples", evaluation.eval_dsm_semantic, dict(crf=False, matting=False))}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--backbone", default="dino_vits16", help="hub name, random_* or a checkpoint path")
    ap.add_argument("--limit", type=int, default=0, help="at most this many images per dataset")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--max-side", type=int, default=640)
    ap.add_argument("--clusters", type=int, default=21)
    ap.add_argument("--tasks", default="loc,sod,voc", help="comma list of loc, sod, voc")
    args = ap.parse_args(argv)
    args.device_obj = pick_device(args.device)
    base = evaluation.spectral_analyzer(args, args.device_obj)
    print(f"Deep Spectral Methods — backbone {args.backbone}, max_side {args.max_side}, device {args.device_obj}")
    for task in (t.strip() for t in args.tasks.split(",") if t.strip()):
        folder, fn, flags = TASKS[task]
        analyzer = Analyzer(replace(base.settings, **flags), args.device_obj, backbone=base.backbone)
        task_args = argparse.Namespace(**{**vars(args), "data": args.data / folder})
        report = run_sync(lambda ctx: fn(task_args, ctx, analyzer), args.device_obj)
        print(report.table())
    if args.backbone.startswith("random_"):
        print("note: random weights — these figures say nothing about DSM's quality (needs DINO weights)")


if __name__ == "__main__":
    main()
