"""Deep Spectral Methods evaluations: localization (CorLoc), single object (IoU, maxFβ), semantic (mIoU).

Why here: the three DSM protocols share the analyzer and its options (``--backbone``, ``--max-side``),
so they live in one module and register three evaluations.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from .. import datasets, metrics
from .base import EvalReport, evaluation


def add_dsm_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backbone", default="dino_vits16",
                   help="hub name, filters / filters8 (weight-free, offline), random_* or checkpoint path")
    p.add_argument("--max-side", type=int, default=640, help="feature resolution")


def add_semantic_arguments(p: argparse.ArgumentParser) -> None:
    add_dsm_arguments(p)
    p.add_argument("--clusters", type=int, default=21,
                   help="dataset-wide clusters in total: cluster 0 is the background, N-1 foreground "
                        "(default 21 = DSM's 20 foreground + background)")
    p.add_argument("--preset", choices=("default", "paper"), default="default",
                   help="paper: DSM's published semantic recipe (K=5 eigenvectors, 15 segments per image, "
                        "boxes eroded 2 / dilated 5, one CLS pass per box crop as the segment feature)")


def spectral_analyzer(args, device, crf: bool = True, matting: bool = True):
    from ..pipeline import Analyzer, SpectralSettings

    settings = SpectralSettings(backbone=args.backbone, max_side=args.max_side, crf=crf, matting=matting)
    return Analyzer(settings, device)


def centre_box(width: int, height: int, fraction: float = 0.5) -> tuple[int, int, int, int]:
    """Trivial baseline box: the central ``fraction`` of each side (x0, y0, x1, y1, end-exclusive)."""
    mx, my = (1 - fraction) / 2, (1 - fraction) / 2
    return int(round(width * mx)), int(round(height * my)), int(round(width * (1 - mx))), int(round(height * (1 - my)))


def _analyses(analyzer, paths: list[Path], ctx) -> dict[Path, Any]:
    """Analyses by path; unreadable images are reported and left out (never abort an evaluation)."""
    from ..imageio import ImageLoadError

    out = {}
    for p, a in zip(paths, analyzer.analyze_many(paths, ctx)):
        if isinstance(a, ImageLoadError):
            print(f"  skipped {a}", file=sys.stderr)
        else:
            out[p] = a
    return out


@evaluation("dsm-localization", "CorLoc of the DSM box on COCO instances (coco_val_subset)", add_dsm_arguments)
def eval_dsm_localization(args, ctx, analyzer=None) -> EvalReport:
    """CorLoc: a box counts when IoU >= 0.5 with any ground-truth box (COCO instances layout)."""
    items = datasets.coco_boxes(args.data, args.limit or None)
    analyzer = analyzer or spectral_analyzer(args, ctx.device, crf=False, matting=False)
    found = _analyses(analyzer, [it.image for it in items], ctx)
    kept = [it for it in items if it.image in found]
    score = metrics.corloc([found[it.image].box for it in kept], [it.boxes for it in kept])
    # trivial baselines on the same images: the central half of each side, and the whole image
    centre = metrics.corloc([centre_box(it.width, it.height) for it in kept], [it.boxes for it in kept])
    whole = metrics.corloc([(0, 0, it.width, it.height) for it in kept], [it.boxes for it in kept])
    return EvalReport("dsm-localization", len(kept), {"corloc": score, "baseline_centre_box_corloc": centre,
                                                      "baseline_whole_image_corloc": whole},
                      {"backbone": args.backbone})


@evaluation("dsm-object", "IoU / accuracy / maxFβ of the DSM object mask (paired binary masks)", add_dsm_arguments)
def eval_dsm_object(args, ctx, analyzer=None) -> EvalReport:
    """IoU / accuracy of the CRF mask; maxFβ on the matting alpha when computed (a soft map), else the mask."""
    items = datasets.paired_masks(args.data, args.limit or None)
    analyzer = analyzer or spectral_analyzer(args, ctx.device, crf=True, matting=True)
    found = _analyses(analyzer, [it.image for it in items], ctx)
    ious, accs, fs = [], [], []
    base = {"all_fg_iou": [], "all_fg_accuracy": [], "all_fg_max_f_beta": [], "centre_box_iou": [],
            "centre_box_max_f_beta": []}
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
        # trivial baselines: everything foreground; the centre box (central half of each side)
        ones = np.ones_like(gt, bool)
        x0, y0, x1, y1 = centre_box(gt.shape[1], gt.shape[0])
        box = np.zeros_like(gt, bool)
        box[y0:y1, x0:x1] = True
        base["all_fg_iou"].append(metrics.iou(ones, gt))
        base["all_fg_accuracy"].append(metrics.pixel_accuracy(ones, gt))
        base["all_fg_max_f_beta"].append(metrics.max_f_beta(ones.astype(np.float32), gt))
        base["centre_box_iou"].append(metrics.iou(box, gt))
        base["centre_box_max_f_beta"].append(metrics.max_f_beta(box.astype(np.float32), gt))
    if not ious:
        raise ValueError(f"no image of {args.data} could be evaluated")
    scores = {"iou": float(np.mean(ious)), "accuracy": float(np.mean(accs)), "max_f_beta": float(np.mean(fs))}
    scores |= {f"baseline_{k}": float(np.mean(v)) for k, v in base.items()}
    return EvalReport("dsm-object", len(ious), scores, {"backbone": args.backbone})


@evaluation("dsm-semantic", "Hungarian mIoU of DSM's dataset clusters (paired class masks)", add_semantic_arguments)
def eval_dsm_semantic(args, ctx, analyzer=None) -> EvalReport:
    """Dataset clustering (cluster 0 = background segments, as DSM) Hungarian-matched to the classes."""
    from ..pipeline import cluster_dataset

    if args.clusters < 2:
        raise ValueError("--clusters must be at least 2 (the background cluster and one foreground cluster)")
    paper = getattr(args, "preset", "default") == "paper"
    items = datasets.paired_masks(args.data, args.limit or None)
    if paper:
        from ..methods.spectral.semantic import PAPER_PRESET
        from ..pipeline import Analyzer, SpectralSettings

        analyzer = Analyzer(SpectralSettings(backbone=args.backbone, max_side=args.max_side,
                                             n_eigenvectors=PAPER_PRESET.n_eigenvectors,
                                             n_segments=PAPER_PRESET.n_segments, crf=False, matting=False,
                                             seed=PAPER_PRESET.seed), ctx.device)
    analyzer = analyzer or spectral_analyzer(args, ctx.device, crf=False, matting=False)
    found = _analyses(analyzer, [it.image for it in items], ctx)
    kept = [it for it in items if it.image in found]
    if not kept:
        raise ValueError(f"no image of {args.data} could be evaluated")
    analyses = [found[it.image] for it in kept]
    maps = _paper_cluster_maps(analyzer, analyses, args.clusters, ctx) if paper else None
    if maps is None:
        clustered = cluster_dataset(analyses, args.clusters, seed=0)
    preds, gts = [], []
    for i, it in enumerate(kept):
        gt = it.load_mask().astype(np.int64)
        if maps is not None:
            pred = maps[i].astype(np.int64)
        else:
            pred = np.zeros(gt.shape, np.int64)
            for prop in clustered.get(found[it.image].path, []):
                pred[prop.mask] = prop.label
        if pred.shape != gt.shape:
            print(f"  {it.image.name}: mask {gt.shape} != image {pred.shape}, skipped", file=sys.stderr)
            continue
        preds.append(pred)
        gts.append(gt)
    n_classes = max(len(datasets.VOC_CLASSES), max(int(g[g != 255].max(initial=0)) + 1 for g in gts))
    s = metrics.hungarian_scores(preds, gts, args.clusters, n_classes)
    b = constant_prediction_scores(gts, args.clusters, n_classes)
    return EvalReport("dsm-semantic", len(preds), {"miou": s.miou, "accuracy": s.accuracy,
                                                   "baseline_all_background_miou": b.miou,
                                                   "baseline_all_background_accuracy": b.accuracy},
                      {"backbone": args.backbone, "clusters": args.clusters,
                       "preset": "paper" if paper else "default"})


def constant_prediction_scores(gts: list[np.ndarray], n_clusters: int, n_classes: int):
    """Trivial baseline: every pixel in one cluster (Hungarian-matched, so it is scored as the
    majority class — background on VOC): what a method must beat to have found anything."""
    return metrics.hungarian_scores([np.zeros(g.shape, np.int64) for g in gts], gts, max(n_clusters, 1), n_classes)


def _paper_cluster_maps(analyzer, analyses, n_clusters: int, ctx) -> list[np.ndarray]:
    """DSM's recipe after the eigen-segments: per segment an eroded/dilated box, the CLS token of one
    ViT pass over the box crop as its feature, then one k-means over the dataset (background = 0)."""
    from ..methods.spectral.semantic import (PAPER_PRESET, cluster_segment_features, crop_cls_features,
                                             segment_boxes)

    per_image, valid = [], []
    for i, a in enumerate(analyses):
        feats = analyzer.provider.features_for(a.path)
        boxes = segment_boxes(a.segment_labels, feats.patch_size, PAPER_PRESET.num_erode, PAPER_PRESET.num_dilate)
        cls = crop_cls_features(analyzer.backbone, feats.input_rgb, [b for _, b in boxes])
        rows = np.zeros((PAPER_PRESET.n_segments, cls.shape[1] if len(cls) else feats.cls.shape[-1]), np.float32)
        ok = np.zeros(PAPER_PRESET.n_segments, bool)
        ok[0] = bool((a.segment_labels == 0).any())
        for (seg, _box), row in zip(boxes, cls):
            rows[seg], ok[seg] = row, True
        per_image.append(rows)
        valid.append(ok)
        ctx.progress((i + 1) / len(analyses), f"box features {i + 1}/{len(analyses)}")
    assignment = cluster_segment_features(per_image, valid, n_clusters, PAPER_PRESET.seed, True, ctx.device)
    maps = []
    for a, clusters in zip(analyses, assignment):
        maps.append(a.grid_to_image(np.where(clusters >= 0, clusters, 0)[a.segment_labels]))
    return maps
