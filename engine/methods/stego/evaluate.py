"""STEGO evaluation: Hungarian-matched cluster mIoU / accuracy and, when present, linear-probe scores.

Protocol as the reference (one Hungarian matching of clusters to classes over the whole dataset on the
confusion matrix; the linear probe is scored directly), but on whole images at full resolution
through the same :class:`StegoPredictor` the app uses, rather than on 320-px centre crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...imageio import load_image
from ...jobs import JobContext
from ...metrics import SegmentationScores, hungarian_scores, linear_scores
from .data import IGNORE_LABEL, load_label_map
from .predict import StegoPredictor, load_predictor


@dataclass(frozen=True)
class StegoScores:
    """``cluster``: unsupervised (Hungarian) scores; ``linear``: linear probe, None if not trained."""

    cluster: SegmentationScores
    linear: SegmentationScores | None
    n_images: int
    n_clusters: int
    n_classes: int
    crf: bool


def evaluate(checkpoint: str | Path | None, images: Sequence[np.ndarray | str | Path],
             gt_masks: Sequence[np.ndarray | str | Path], *, n_classes: int | None = None, crf: bool = False,
             device: torch.device | str = "cpu", ctx: JobContext | None = None,
             predictor: StegoPredictor | None = None, ignore: int = IGNORE_LABEL) -> StegoScores:
    """Score a checkpoint (or a ready ``predictor``) on images with class-index ground truth.

    ``n_classes`` defaults to the largest ground-truth id + 1 (pass 21 for VOC, 27 for CocoStuff-27).
    """
    if len(images) != len(gt_masks):
        raise ValueError(f"{len(images)} images but {len(gt_masks)} ground-truth masks")
    if not images:
        raise ValueError("nothing to evaluate: no images given")
    if predictor is None:
        if checkpoint is None:
            raise ValueError("give a checkpoint or a predictor")
        predictor = load_predictor(checkpoint, device, crf=crf)
    gts = [load_label_map(g) for g in gt_masks]
    present = [g[g != ignore] for g in gts]
    gt_classes = max((int(v.max()) + 1 for v in present if v.size), default=1)
    n_classes = max(n_classes or gt_classes, gt_classes)
    cluster_preds, class_preds = [], []
    for i, (img, gt) in enumerate(zip(images, gts)):
        rgb = img if isinstance(img, np.ndarray) else load_image(img)
        if rgb.shape[:2] != gt.shape:
            raise ValueError(f"image {i} is {rgb.shape[:2]} but its mask is {gt.shape}")
        seg = predictor.segment(rgb, crf=crf)
        cluster_preds.append(seg.clusters)
        if seg.classes is not None:
            class_preds.append(seg.classes)
        if ctx is not None:
            ctx.progress((i + 1) / len(images), f"Evaluated {i + 1}/{len(images)}")
    cluster = hungarian_scores(cluster_preds, gts, predictor.n_clusters, n_classes, ignore)
    linear = None
    if class_preds:
        n_lin = max(n_classes, predictor.n_classes)
        linear = linear_scores(class_preds, gts, n_lin, ignore)
    return StegoScores(cluster, linear, len(images), predictor.n_clusters, n_classes, crf)


def format_scores(scores: StegoScores) -> str:
    """Human-readable lines for the CLI."""
    lines = [f"STEGO on {scores.n_images} images ({scores.n_clusters} clusters, {scores.n_classes} classes, "
             f"CRF {'on' if scores.crf else 'off'})",
             f"  cluster probe (Hungarian): mIoU {scores.cluster.miou:.4f}  accuracy {scores.cluster.accuracy:.4f}"]
    if scores.linear is not None:
        lines.append(f"  linear probe:              mIoU {scores.linear.miou:.4f}  "
                     f"accuracy {scores.linear.accuracy:.4f}")
    return "\n".join(lines)
