"""mIoU of IAL predictions against semantic ground truth (VOC-style: 0 = background, 255 = void).

Predicted classes are mapped to ground-truth ids by name, so a model trained on any class list can
be scored on VOC masks. The all-background prediction is scored alongside as the trivial baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ...datasets import VOC_CLASSES as VOC_WITH_BACKGROUND
from ...imageio import list_images, load_image
from ...metrics import SegmentationScores, linear_scores
from ..base import TrainingImage, TrainingSet

#: PASCAL VOC 2012 foreground classes; ground-truth id = index + 1.
VOC_CLASSES: tuple[str, ...] = VOC_WITH_BACKGROUND[1:]


@dataclass(frozen=True)
class EvalSample:
    path: Path
    gt: np.ndarray  # (H, W) uint8 class ids, 255 = void
    tags: tuple[str, ...]  # class names present in ``gt``


@dataclass(frozen=True)
class IalEvaluation:
    scores: SegmentationScores
    baseline: SegmentationScores  # everything predicted as background
    n_images: int
    used_tags: bool


def tags_from_mask(gt: np.ndarray, class_names: Sequence[str]) -> tuple[str, ...]:
    """Names of the foreground ids present in ``gt`` (id c -> class_names[c - 1])."""
    ids = [int(v) for v in np.unique(gt) if 0 < v <= len(class_names)]
    return tuple(class_names[i - 1] for i in ids)


def load_semantic_samples(root: str | Path, class_names: Sequence[str] = VOC_CLASSES,
                          limit: int | None = None) -> list[EvalSample]:
    """``root/images/X.*`` with ``root/masks/X.png`` (e.g. shared data ``voc12_samples``), tags from the masks."""
    root = Path(root)
    samples = []
    for path in list_images(root / "images"):
        mask_path = root / "masks" / f"{path.stem}.png"
        if not mask_path.exists():
            continue
        gt = np.asarray(Image.open(mask_path), dtype=np.uint8)
        samples.append(EvalSample(path, gt, tags_from_mask(gt, class_names)))
        if limit is not None and len(samples) >= limit:
            break
    if not samples:
        raise FileNotFoundError(f"no image/mask pairs under {root} (expected images/ and masks/)")
    return samples


def training_set(samples: Sequence[EvalSample], class_names: Sequence[str] = VOC_CLASSES) -> TrainingSet:
    return TrainingSet(images=[TrainingImage(s.path, s.tags) for s in samples], class_names=tuple(class_names))


def label_map(proposals, shape: tuple[int, int], gt_index: dict[str, int]) -> np.ndarray:
    """Paint proposals (by class name) into a ground-truth-id map; unknown names stay background."""
    out = np.zeros(shape, np.int64)
    for p in proposals:
        if p.name in gt_index:
            out[p.mask] = gt_index[p.name]
    return out


def evaluate(predictor, samples: Sequence[EvalSample], class_names: Sequence[str] = VOC_CLASSES,
             use_tags: bool = True, progress: Callable[[float, str], None] | None = None) -> IalEvaluation:
    """Per-class IoU / mIoU over ``samples`` (classes present in the ground truth), plus the baseline."""
    gt_index = {name: i + 1 for i, name in enumerate(class_names)}
    n_classes = len(class_names) + 1
    preds, gts = [], []
    for i, s in enumerate(samples):
        rgb = load_image(s.path)
        if rgb.shape[:2] != s.gt.shape:
            raise ValueError(f"{s.path.name}: image {rgb.shape[:2]} and mask {s.gt.shape} differ in size")
        proposals = predictor.predict(rgb, s.tags if use_tags else ())
        preds.append(label_map(proposals, s.gt.shape, gt_index))
        gts.append(s.gt)
        if progress:
            progress((i + 1) / len(samples), f"evaluated {i + 1}/{len(samples)}")
    baseline = linear_scores([np.zeros_like(g, np.int64) for g in gts], gts, n_classes)
    return IalEvaluation(linear_scores(preds, gts, n_classes), baseline, len(samples), use_tags)
