"""STEGO evaluation: Hungarian mIoU of the cluster probe (+ linear probe when trained with labels).

Why a module: each evaluation family registers itself here; see ``engine/evaluation/base.py``.
"""

from __future__ import annotations

from .. import datasets
from .base import EvalReport, add_checkpoint_argument, evaluation, need_checkpoint


def _arguments(p) -> None:
    add_checkpoint_argument(p)
    p.add_argument("--crf", action="store_true", help="dense-CRF refinement (the reference protocol always uses it)")
    p.add_argument("--protocol", choices=("full", "reference"), default="full",
                   help="full: full-resolution images; reference: the STEGO repo's protocol (320 px centre "
                        "crop, flip TTA, CRF, best of the checkpoints by cluster mIoU when --checkpoint is "
                        "a training folder)")


@evaluation("stego", "Hungarian mIoU of a trained STEGO (paired class masks, voc12_samples)", _arguments)
def eval_stego(args, ctx) -> EvalReport:
    """Cluster-probe mIoU / accuracy after Hungarian matching; linear-probe scores when present."""
    from ..methods.stego import evaluate

    items = datasets.paired_masks(args.data, args.limit or None)
    if args.protocol == "reference":
        return _reference(args, ctx, items)
    s = evaluate(need_checkpoint(args), [it.image for it in items], [it.mask for it in items],
                 n_classes=len(datasets.VOC_CLASSES), crf=args.crf, device=ctx.device, ctx=ctx)
    scores = {"cluster_miou": s.cluster.miou, "cluster_accuracy": s.cluster.accuracy}
    if s.linear is not None:
        scores |= {"linear_miou": s.linear.miou, "linear_accuracy": s.linear.accuracy}
    scores |= _baseline(items, s.n_clusters)
    return EvalReport("stego", s.n_images, scores, {"crf": args.crf, "clusters": s.n_clusters})


def _baseline(items, n_clusters: int) -> dict[str, float]:
    """Every pixel one cluster, Hungarian-matched like the clusters (= the majority class)."""
    from .dsm import constant_prediction_scores
    from ..methods.stego.evaluate import load_label_map

    gts = [load_label_map(it.mask) for it in items]
    b = constant_prediction_scores(gts, n_clusters, len(datasets.VOC_CLASSES))
    return {"baseline_one_cluster_miou": b.miou, "baseline_one_cluster_accuracy": b.accuracy}


def _reference(args, ctx, items) -> EvalReport:
    from ..methods.stego.evaluate import evaluate_reference

    r = evaluate_reference(need_checkpoint(args), [it.image for it in items], [it.mask for it in items],
                           n_classes=len(datasets.VOC_CLASSES), crf=True, device=ctx.device, ctx=ctx)
    s = r.scores
    scores = {"cluster_miou": s.cluster.miou, "cluster_accuracy": s.cluster.accuracy}
    if s.linear is not None:
        scores |= {"linear_miou": s.linear.miou, "linear_accuracy": s.linear.accuracy}
    return EvalReport("stego", s.n_images, scores, {"protocol": "reference (320 px crop, flip TTA, CRF)",
                                                    "best_checkpoint": str(r.best), "clusters": s.n_clusters})
