"""Scores of a foreground predictor against binary ground-truth masks (ReDO's protocol and ours).

``iou`` / ``accuracy`` use the predictor's own foreground (border rule, what the app shows).
``iou_best_polarity`` / ``accuracy_best_polarity`` are the paper's protocol: per image the better of
(mask, inverse mask) — it uses the ground truth to fix polarity, so it flatters every method.
Baselines (all-foreground, centre box) put the learned numbers in context.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ...datasets import MaskedImage, paired_masks
from ...imageio import load_image
from ...metrics import iou, pixel_accuracy


#: An image with its binary ground-truth mask (``image``, ``mask`` paths).
LabelledImage = MaskedImage


@dataclass(frozen=True)
class RedoScores:
    iou: float
    accuracy: float
    iou_best_polarity: float
    accuracy_best_polarity: float
    n_images: int
    per_image_iou: tuple[float, ...]


def pairs_from_folder(root: str | Path, limit: int | None = None) -> list[LabelledImage]:
    """``root/images/X.*`` paired with ``root/masks/X.png`` (the layout of ../shared/data sets)."""
    return paired_masks(root, limit)


def load_gt_mask(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("L")) > 127


def score_masks(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> RedoScores:
    """Scores of full-resolution bool foreground masks against ground truth of the same size."""
    if len(preds) != len(gts) or not preds:
        raise ValueError("need one prediction per ground-truth mask (and at least one)")
    ious, accs, ious_b, accs_b = [], [], [], []
    for p, g in zip(preds, gts):
        p, g = np.asarray(p, bool), np.asarray(g, bool)
        ious.append(iou(p, g))
        accs.append(pixel_accuracy(p, g))
        ious_b.append(max(ious[-1], iou(~p, g)))
        accs_b.append(max(accs[-1], 1.0 - accs[-1]))
    return RedoScores(float(np.mean(ious)), float(np.mean(accs)), float(np.mean(ious_b)),
                      float(np.mean(accs_b)), len(preds), tuple(ious))


def predictor_foreground(predictor, rgb: np.ndarray) -> np.ndarray:
    """Union of a predictor's proposals (empty mask when it proposes nothing)."""
    out = np.zeros(rgb.shape[:2], bool)
    for prop in predictor.predict(rgb):
        out |= prop.mask
    return out


def evaluate(predictor, pairs: Sequence[LabelledImage],
             progress: Callable[[float, str], None] | None = None) -> RedoScores:
    """Run ``predictor`` on every image at full resolution and score it."""
    preds, gts = [], []
    for i, pair in enumerate(pairs):
        rgb = load_image(pair.image)
        gt = load_gt_mask(pair.mask)
        if gt.shape != rgb.shape[:2]:
            raise ValueError(f"{pair.mask.name}: mask {gt.shape} does not match image {rgb.shape[:2]}")
        preds.append(predictor_foreground(predictor, rgb))
        gts.append(gt)
        if progress is not None:
            progress((i + 1) / len(pairs), f"Evaluating {i + 1}/{len(pairs)}")
    return score_masks(preds, gts)


def baseline_mask(shape: tuple[int, int], kind: str) -> np.ndarray:
    """``all``: everything is foreground; ``center_box``: the central box of half the width/height."""
    h, w = shape
    if kind == "all":
        return np.ones((h, w), bool)
    if kind == "center_box":
        m = np.zeros((h, w), bool)
        m[h // 4:h - h // 4, w // 4:w - w // 4] = True
        return m
    raise ValueError(f"unknown baseline {kind!r} (use 'all' or 'center_box')")


def evaluate_baseline(pairs: Sequence[LabelledImage], kind: str) -> RedoScores:
    gts = [load_gt_mask(p.mask) for p in pairs]
    return score_masks([baseline_mask(g.shape, kind) for g in gts], gts)
