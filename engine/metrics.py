"""Evaluation metrics used by the methods' papers, so our figures are comparable with theirs.

* masks: IoU, pixel accuracy, max F_beta with beta^2 = 0.3 (salient-object convention, DSM / ReDO);
* boxes: IoU and CorLoc (a hit when IoU >= 0.5 with any ground-truth box; DSM localization);
* unsupervised semantic segmentation: confusion matrix, Hungarian matching of clusters to classes,
  mIoU and accuracy after matching (STEGO / DSM), and scores of a linear probe's direct predictions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

Box = tuple[float, float, float, float]  # x0, y0, x1, y1


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """IoU of two boolean masks; two empty masks count as a perfect match (1.0)."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    if pred.shape != gt.shape:
        raise ValueError(f"shape mismatch {pred.shape} vs {gt.shape}")
    union = np.logical_or(pred, gt).sum()
    if union == 0:
        return 1.0
    return float(np.logical_and(pred, gt).sum() / union)


def pixel_accuracy(pred: np.ndarray, gt: np.ndarray, ignore: int | None = None) -> float:
    pred, gt = np.asarray(pred), np.asarray(gt)
    valid = np.ones(gt.shape, bool) if ignore is None else gt != ignore
    if not valid.any():
        return float("nan")
    return float((pred[valid] == gt[valid]).mean())


def max_f_beta(prob: np.ndarray, gt: np.ndarray, beta2: float = 0.3, thresholds: int = 255) -> float:
    """max over thresholds of F_beta (beta^2 = 0.3) for a soft foreground map in [0, 1]."""
    prob = np.asarray(prob, np.float64).ravel()
    gt = np.asarray(gt, bool).ravel()
    ts = np.linspace(0.0, 1.0, thresholds, endpoint=False)[1:]
    # histogram trick: precision/recall for all thresholds from sorted scores
    pos = np.histogram(prob[gt], bins=np.append(ts, np.inf))[0][::-1].cumsum()[::-1]
    allp = np.histogram(prob, bins=np.append(ts, np.inf))[0][::-1].cumsum()[::-1]
    n_gt = gt.sum()
    precision = pos / np.maximum(allp, 1)
    recall = pos / max(n_gt, 1)
    f = (1 + beta2) * precision * recall / np.maximum(beta2 * precision + recall, 1e-12)
    return float(f.max()) if len(f) else 0.0


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def corloc(pred_boxes: Sequence[Box], gt_boxes: Sequence[Sequence[Box]], threshold: float = 0.5) -> float:
    """Fraction of images whose predicted box has IoU >= 0.5 with at least one ground-truth box."""
    if len(pred_boxes) != len(gt_boxes):
        raise ValueError("one predicted box per image expected")
    if not pred_boxes:
        return float("nan")
    hits = [any(box_iou(p, g) >= threshold for g in gts) for p, gts in zip(pred_boxes, gt_boxes)]
    return float(np.mean(hits))


def confusion_matrix(pred: np.ndarray, gt: np.ndarray, n_pred: int, n_gt: int, ignore: int = 255) -> np.ndarray:
    """(n_pred, n_gt) int64 counts of pixels, ignoring ``gt == ignore``."""
    pred, gt = np.asarray(pred).ravel(), np.asarray(gt).ravel()
    valid = gt != ignore
    pred, gt = pred[valid].astype(np.int64), gt[valid].astype(np.int64)
    if pred.size and (pred.min() < 0 or pred.max() >= n_pred):
        raise ValueError(f"prediction ids must be in [0, {n_pred})")
    if gt.size and gt.max() >= n_gt:
        raise ValueError(f"ground-truth ids must be in [0, {n_gt}) or {ignore}")
    return np.bincount(pred * n_gt + gt, minlength=n_pred * n_gt).reshape(n_pred, n_gt)


def hungarian_match(conf: np.ndarray) -> dict[int, int]:
    """Cluster -> class mapping maximising matched pixels (clusters beyond the class count stay unmatched)."""
    rows, cols = linear_sum_assignment(conf, maximize=True)
    return {int(r): int(c) for r, c in zip(rows, cols)}


@dataclass(frozen=True)
class SegmentationScores:
    miou: float
    accuracy: float
    per_class_iou: tuple[float, ...]  # nan for classes absent from both prediction and ground truth


def _scores_from_confusion(conf: np.ndarray) -> SegmentationScores:
    """conf is (n_classes, n_classes) with rows = predicted class, cols = true class."""
    tp = np.diag(conf).astype(np.float64)
    denom = conf.sum(0) + conf.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(denom > 0, tp / denom, np.nan)
    present = conf.sum(0) > 0  # classes in the ground truth
    miou = float(np.nanmean(per_class[present])) if present.any() else float("nan")
    total = conf.sum()
    acc = float(tp.sum() / total) if total else float("nan")
    return SegmentationScores(miou, acc, tuple(float(v) for v in per_class))


def hungarian_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], n_clusters: int,
                     n_classes: int, ignore: int = 255) -> SegmentationScores:
    """mIoU / accuracy of cluster maps after the one Hungarian matching over the whole dataset.

    Clusters left unmatched (``n_clusters > n_classes``) count as wrong, as in STEGO's evaluation.
    """
    conf = sum((confusion_matrix(p, g, n_clusters, n_classes, ignore) for p, g in zip(preds, gts)),
               np.zeros((n_clusters, n_classes), np.int64))
    mapping = hungarian_match(conf)
    matched = np.zeros((n_classes, n_classes), np.int64)
    for cluster, cls in mapping.items():
        matched[cls] += conf[cluster]
    # unmatched clusters' pixels are errors: they add to the column sums but not the diagonal
    unmatched = [c for c in range(n_clusters) if c not in mapping]
    scores = _scores_from_confusion(matched)
    if unmatched:
        extra = conf[unmatched].sum(0)
        total = matched.sum() + extra.sum()
        tp = np.diag(matched).astype(np.float64)
        denom = matched.sum(0) + extra + matched.sum(1) - tp
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = np.where(denom > 0, tp / denom, np.nan)
        present = (matched.sum(0) + extra) > 0
        scores = SegmentationScores(float(np.nanmean(per_class[present])), float(tp.sum() / total),
                                    tuple(float(v) for v in per_class))
    return scores


def linear_scores(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], n_classes: int,
                  ignore: int = 255) -> SegmentationScores:
    """mIoU / accuracy of direct class predictions (linear probe, IAL) — no matching."""
    conf = sum((confusion_matrix(p, g, n_classes, n_classes, ignore) for p, g in zip(preds, gts)),
               np.zeros((n_classes, n_classes), np.int64))
    return _scores_from_confusion(conf)
