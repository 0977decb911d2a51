"""Interactive segmentation: clicks-to-IoU of the Prompt tool next to GrabCut and a random walker.

Why here: ``main.py eval interactive`` is one more registered evaluation; the click simulator, the
baselines and the scoring live in :mod:`engine.prompts.evaluation`, this module only maps the
command line onto it. Protocol (RITM / f-BRS / SimpleClick): the first click is the ground truth's
interior point farthest from its boundary, each next one goes to the point farthest from the boundary
of the larger error region; NoC@85/90, failures (90 % not reached), mean IoU after 1/3/5 clicks and
per-click latency, every method in the same run on the same objects.
"""

from __future__ import annotations

from dataclasses import asdict

from .base import EvalReport, evaluation


def _arguments(p) -> None:
    from ..prompts.evaluation import METHODS

    p.add_argument("--max-clicks", type=int, default=20, help="clicks per object (default 20)")
    p.add_argument("--method", action="append", choices=METHODS,
                   help=f"method(s) to run (repeatable; default all: {', '.join(METHODS)})")
    p.add_argument("--backbone", default="",
                   help="also use this ViT's patch features in ours (a hub name or checkpoint; random_* "
                        "weights only add noise). Default: weight-free graph only")


@evaluation("interactive", "NoC@85/90 of click prompts vs GrabCut / random walker (binary masks or COCO)",
            _arguments)
def eval_interactive(args, ctx) -> EvalReport:
    from ..prompts.evaluation import METHODS, evaluate_interactive

    if args.max_clicks < 1:
        raise ValueError("--max-clicks must be at least 1")
    backbone = None
    if args.backbone:
        from ..backbone import load_backbone
        from ..pipeline import SpectralSettings

        backbone = load_backbone(SpectralSettings(backbone=args.backbone).backbone_spec(), ctx.device)
    report = evaluate_interactive(args.data, tuple(args.method or METHODS), args.max_clicks, args.limit or None,
                                  backbone=backbone, progress=ctx.progress)
    scores = {f"{s.method}.{k}": float(v) for s in report.scores for k, v in asdict(s).items()
              if k not in ("method",)}
    return EvalReport("interactive", report.samples, scores,
                      {"max_clicks": args.max_clicks, "backbone": args.backbone or "none (weight-free)"},
                      text=report.table())
