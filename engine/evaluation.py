"""``main.py eval``: score each method against ground truth with the protocol of its paper.

=====================  ==========================================  ================================
evaluation             data layout (``../shared/data`` example)    metric
=====================  ==========================================  ================================
dsm-localization       COCO instances (coco_val_subset)            CorLoc (IoU >= 0.5 with any box)
dsm-object             paired binary masks (sod_bsds, horses)      IoU, pixel accuracy, maxFβ (β²=.3)
dsm-semantic           paired class masks (voc12_samples)          Hungarian mIoU / accuracy
stego                  paired class masks                          Hungarian mIoU (+ linear probe)
redo                   paired binary masks (weizmann_horse)        IoU, pixel accuracy
ial                    paired class masks (tags derived from GT)   mIoU, accuracy
=====================  ==========================================  ================================

Quality figures need real DINO weights; with ``random_*`` backbones they only show the code runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import datasets, metrics

EVALUATIONS = ("dsm-localization", "dsm-object", "dsm-semantic", "stego", "redo", "ial")


@dataclass(frozen=True)
class EvalReport:
    """One evaluation's figures, printable as a table and dumpable as JSON."""

    name: str
    n_images: int
    scores: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)

    def table(self) -> str:
        lines = [f"{self.name}  ({self.n_images} images)"]
        lines += [f"  {k:<22} {v:.4f}" for k, v in self.scores.items()]
        return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("evaluation", choices=EVALUATIONS)
    p.add_argument("--data", required=True, help="dataset folder (see `engine/evaluation.py` for layouts)")
    p.add_argument("--limit", type=int, default=0, help="only the first N images")
    p.add_argument("--backbone", default="dino_vits16", help="DSM: hub name, random_* or checkpoint path")
    p.add_argument("--max-side", type=int, default=640, help="DSM: feature resolution")
    p.add_argument("--clusters", type=int, default=21, help="dsm-semantic: dataset-wide clusters")
    p.add_argument("--checkpoint", help="stego / redo / ial: trained checkpoint")
    p.add_argument("--crf", action="store_true", help="stego: dense-CRF refinement")
    p.add_argument("--json", help="also write the report as JSON here")


def spectral_analyzer(args, crf: bool = True, matting: bool = True):
    from .pipeline import Analyzer, SpectralSettings

    settings = SpectralSettings(backbone=args.backbone, max_side=args.max_side, crf=crf, matting=matting)
    return Analyzer(settings, args.device_obj)


def _analyses(analyzer, paths: list[Path], ctx) -> dict[Path, Any]:
    """Analyses by path; unreadable images are reported and left out (never abort an evaluation)."""
    from .imageio import ImageLoadError

    out = {}
    for i, (p, a) in enumerate(zip(paths, analyzer.analyze_many(paths, ctx))):
        if isinstance(a, ImageLoadError):
            print(f"  skipped {a}", file=sys.stderr)
        else:
            out[p] = a
    return out


def eval_dsm_localization(args, ctx, analyzer=None) -> EvalReport:
    items = datasets.coco_boxes(args.data, args.limit or None)
    analyzer = analyzer or spectral_analyzer(args, crf=False, matting=False)
    found = _analyses(analyzer, [it.image for it in items], ctx)
    kept = [it for it in items if it.image in found]
    score = metrics.corloc([found[it.image].box for it in kept], [it.boxes for it in kept])
    return EvalReport("dsm-localization", len(kept), {"corloc": score}, {"backbone": args.backbone})


def eval_dsm_object(args, ctx, analyzer=None) -> EvalReport:
    """IoU / accuracy of the CRF mask; maxFβ on the matting alpha when computed (a soft map), else the mask."""
    items = datasets.paired_masks(args.data, args.limit or None)
    analyzer = analyzer or spectral_analyzer(args, crf=True, matting=True)
    found = _analyses(analyzer, [it.image for it in items], ctx)
    ious, accs, fs = [], [], []
    for it in items:
        if it.image not in found:
            continue
        a, gt = found[it.image], it.load_binary()
        if gt.shape != a.object_mask.shape:
            print(f"  {it.image.name}: mask {gt.shape} != image {a.object_mask.shape}, skipped", file=sys.stderr)
            continue
        soft = a.alpha if a.alpha is not None else a.object_mask.astype(np.float32)
        ious.append(metrics.iou(a.object_mask, gt))
        accs.append(metrics.pixel_accuracy(a.object_mask, gt))
        fs.append(metrics.max_f_beta(soft, gt))
    if not ious:
        raise ValueError(f"no image of {args.data} could be evaluated")
    return EvalReport("dsm-object", len(ious), {"iou": float(np.mean(ious)), "accuracy": float(np.mean(accs)),
                                                 "max_f_beta": float(np.mean(fs))}, {"backbone": args.backbone})


def eval_dsm_semantic(args, ctx, analyzer=None) -> EvalReport:
    """Dataset clustering (cluster 0 = background segments, as DSM) Hungarian-matched to the classes."""
    from .pipeline import cluster_dataset

    items = datasets.paired_masks(args.data, args.limit or None)
    analyzer = analyzer or spectral_analyzer(args, crf=False, matting=False)
    found = _analyses(analyzer, [it.image for it in items], ctx)
    kept = [it for it in items if it.image in found]
    if not kept:
        raise ValueError(f"no image of {args.data} could be evaluated")
    clustered = cluster_dataset([found[it.image] for it in kept], args.clusters, seed=0)
    preds, gts = [], []
    for it in kept:
        gt = it.load_mask().astype(np.int64)
        pred = np.zeros(gt.shape, np.int64)
        for prop in clustered.get(found[it.image].path, []):
            pred[prop.mask] = prop.label
        preds.append(pred)
        gts.append(gt)
    n_classes = max(len(datasets.VOC_CLASSES), max(int(g[g != 255].max(initial=0)) + 1 for g in gts))
    s = metrics.hungarian_scores(preds, gts, args.clusters, n_classes)
    return EvalReport("dsm-semantic", len(kept), {"miou": s.miou, "accuracy": s.accuracy},
                      {"backbone": args.backbone, "clusters": args.clusters})


def _need_checkpoint(args) -> Path:
    if not args.checkpoint:
        raise ValueError(f"`eval {args.evaluation}` needs --checkpoint (train one with `main.py train`)")
    return Path(args.checkpoint)


def eval_stego(args, ctx) -> EvalReport:
    from .methods.stego import evaluate

    items = datasets.paired_masks(args.data, args.limit or None)
    s = evaluate(_need_checkpoint(args), [it.image for it in items], [it.mask for it in items],
                 n_classes=len(datasets.VOC_CLASSES), crf=args.crf, device=args.device_obj, ctx=ctx)
    scores = {"cluster_miou": s.cluster.miou, "cluster_accuracy": s.cluster.accuracy}
    if s.linear is not None:
        scores |= {"linear_miou": s.linear.miou, "linear_accuracy": s.linear.accuracy}
    return EvalReport("stego", s.n_images, scores, {"crf": args.crf, "clusters": s.n_clusters})


def eval_redo(args, ctx) -> EvalReport:
    """IoU / accuracy (our border rule and the paper's best-polarity protocol) next to two trivial baselines."""
    from .methods.redo import load_predictor
    from .methods.redo.evaluate import evaluate, evaluate_baseline

    pairs = datasets.paired_masks(args.data, args.limit or None)
    predictor = load_predictor(_need_checkpoint(args), args.device_obj)
    s = evaluate(predictor, pairs, progress=lambda f, m: ctx.progress(f, m))
    centre = evaluate_baseline(pairs, "center_box")
    every = evaluate_baseline(pairs, "all")
    return EvalReport("redo", s.n_images, {"iou": s.iou, "accuracy": s.accuracy,
                                           "iou_best_polarity": s.iou_best_polarity,
                                           "accuracy_best_polarity": s.accuracy_best_polarity,
                                           "baseline_center_box_iou": centre.iou,
                                           "baseline_all_foreground_iou": every.iou})


def eval_ial(args, ctx) -> EvalReport:
    """mIoU of IAL's masks (classes matched by VOC name) with ground-truth tags, next to the all-background baseline."""
    from .methods.ial import load_predictor
    from .methods.ial.evaluate import VOC_CLASSES, evaluate, load_semantic_samples

    predictor = load_predictor(_need_checkpoint(args), args.device_obj)
    samples = load_semantic_samples(args.data, VOC_CLASSES, args.limit or None)  # GT ids -> VOC names
    r = evaluate(predictor, samples, VOC_CLASSES, use_tags=True,
                 progress=lambda f, m: ctx.progress(f, m))
    return EvalReport("ial", r.n_images, {"miou": r.scores.miou, "accuracy": r.scores.accuracy,
                                          "baseline_miou": r.baseline.miou,
                                          "baseline_accuracy": r.baseline.accuracy}, {"tags": "from ground truth"})


_DISPATCH = {"dsm-localization": eval_dsm_localization, "dsm-object": eval_dsm_object,
             "dsm-semantic": eval_dsm_semantic, "stego": eval_stego, "redo": eval_redo, "ial": eval_ial}


def run(args: argparse.Namespace) -> int:
    from .cli import CliError, _run
    from .device import pick_device

    args.device_obj = pick_device(args.device)

    def job(ctx):
        return _DISPATCH[args.evaluation](args, ctx)

    try:
        report = _run(job, args.device, f"eval {args.evaluation}", getattr(args, "quiet", False))
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=2))
    if "random_" in str(args.backbone) and args.evaluation.startswith("dsm"):
        print("note: random backbone weights — these figures do not measure the method", file=sys.stderr)
    return 0
