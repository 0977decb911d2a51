"""IAL evaluation: mIoU of the masks with ground-truth tags next to the all-background baseline.

Why a module: each evaluation family registers itself here; see ``engine/evaluation/base.py``.
"""

from __future__ import annotations

from .base import EvalReport, add_checkpoint_argument, evaluation, need_checkpoint


@evaluation("ial", "mIoU of a trained IAL with tags from the ground truth (paired class masks)",
            add_checkpoint_argument)
def eval_ial(args, ctx) -> EvalReport:
    """mIoU of IAL's masks (classes matched by VOC name) with ground-truth tags, next to the all-background baseline."""
    from ..methods.ial import load_predictor
    from ..methods.ial.evaluate import VOC_CLASSES, evaluate, load_semantic_samples

    predictor = load_predictor(need_checkpoint(args), ctx.device)
    samples = load_semantic_samples(args.data, VOC_CLASSES, args.limit or None)  # GT ids -> VOC names
    r = evaluate(predictor, samples, VOC_CLASSES, use_tags=True,
                 progress=lambda f, m: ctx.progress(f, m))
    return EvalReport("ial", r.n_images, {"miou": r.scores.miou, "accuracy": r.scores.accuracy,
                                          "baseline_miou": r.baseline.miou,
                                          "baseline_accuracy": r.baseline.accuracy}, {"tags": "from ground truth"})
