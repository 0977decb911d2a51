"""ReDO evaluation: IoU / accuracy of the object masks next to two trivial baselines.

Why a module: each evaluation family registers itself here; see ``engine/evaluation/base.py``.
"""

from __future__ import annotations

from .. import datasets
from .base import EvalReport, add_checkpoint_argument, evaluation, need_checkpoint


@evaluation("redo", "IoU / accuracy of a trained ReDO (paired binary masks, weizmann_horse)", add_checkpoint_argument)
def eval_redo(args, ctx) -> EvalReport:
    """IoU / accuracy (our border rule and the paper's best-polarity protocol) next to two trivial baselines."""
    from ..methods.redo import load_predictor
    from ..methods.redo.evaluate import evaluate, evaluate_baseline

    pairs = datasets.paired_masks(args.data, args.limit or None)
    predictor = load_predictor(need_checkpoint(args), ctx.device)
    s = evaluate(predictor, pairs, progress=lambda f, m: ctx.progress(f, m))
    centre = evaluate_baseline(pairs, "center_box")
    every = evaluate_baseline(pairs, "all")
    return EvalReport("redo", s.n_images, {"iou": s.iou, "accuracy": s.accuracy,
                                           "iou_best_polarity": s.iou_best_polarity,
                                           "accuracy_best_polarity": s.accuracy_best_polarity,
                                           "baseline_center_box_iou": centre.iou,
                                           "baseline_all_foreground_iou": every.iou})
