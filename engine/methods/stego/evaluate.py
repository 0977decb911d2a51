"""STEGO evaluation: Hungarian-matched cluster mIoU / accuracy and, when present, linear-probe scores.

Protocol as the reference (one Hungarian matching of clusters to classes over the whole dataset on the
confusion matrix; the linear probe is scored directly), but on whole images at full resolution
through the same :class:`StegoPredictor` the app uses, rather than on 320-px centre crops.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...imageio import load_image
from ...jobs import JobContext
from ...metrics import SegmentationScores, hungarian_scores, linear_scores
from .data import IGNORE_LABEL, load_label_map
from .predict import StegoPredictor, load_predictor, read_checkpoint


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


# ----------------------------------------------------------------------------------------------
# The reference evaluation protocol (STEGO eval_segmentation.py + eval_config.yml)

#: eval_config.yml ``res``: images and labels are resized (short side) and centre-cropped to this.
REFERENCE_EVAL_RES = 320


def reference_center_crop(rgb: np.ndarray, gt: np.ndarray, res: int = REFERENCE_EVAL_RES
                          ) -> tuple[np.ndarray, np.ndarray]:
    """STEGO's ``get_transform(res, is_label, "center")`` for an image and its label map:
    ``T.Resize(res, Image.NEAREST)`` (short side → res) then ``T.CenterCrop(res)``, both nearest."""
    from PIL import Image

    def crop(a: np.ndarray) -> np.ndarray:
        h, w = a.shape[:2]
        if h <= w:
            nh, nw = res, max(res, int(res * w / h))
        else:
            nh, nw = max(res, int(res * h / w)), res
        img = Image.fromarray(a).resize((nw, nh), Image.NEAREST)
        left, top = int(round((nw - res) / 2.0)), int(round((nh - res) / 2.0))
        return np.asarray(img.crop((left, top, left + res, top + res)))

    if rgb.shape[:2] != gt.shape[:2]:
        raise ValueError(f"image is {rgb.shape[:2]} but its mask is {gt.shape[:2]}")
    return crop(rgb), crop(gt.astype(np.uint8) if gt.max(initial=0) < 256 else gt.astype(np.int32))


@dataclass(frozen=True)
class ReferenceEvaluation:
    """Scores of the best checkpoint (cluster mIoU) and of every candidate, in the order given."""

    best: Path
    scores: StegoScores
    candidates: tuple[tuple[Path, StegoScores], ...]


def checkpoint_candidates(workdir: str | Path) -> list[Path]:
    """Every checkpoint one training run wrote (periodic ``stego_step*.pt`` and the final one)."""
    workdir = Path(workdir)
    return sorted(workdir.glob("stego_step*.pt")) + sorted(workdir.glob("stego_final.pt"))


def evaluate_reference(checkpoints: str | Path | Sequence[str | Path], images: Sequence[np.ndarray | str | Path],
                       gt_masks: Sequence[np.ndarray | str | Path], *, n_classes: int | None = None,
                       res: int = REFERENCE_EVAL_RES, crf: bool = True, device: torch.device | str = "cpu",
                       ctx: JobContext | None = None, ignore: int = IGNORE_LABEL) -> ReferenceEvaluation:
    """Score checkpoints as the reference does and keep the best one by Hungarian cluster mIoU.

    Protocol: every image and label map is resized (short side ``res``, nearest) and centre-cropped
    to ``res`` x ``res``; the code is the mean of the image's and its mirror's (flip TTA) at that
    resolution, upsampled bilinearly to the label size; dense CRF on by default (``run_crf: True``);
    one Hungarian matching over the whole set. STEGO's training keeps the checkpoints with the best
    validation cluster mIoU (``ModelCheckpoint(monitor="test/cluster/mIoU", mode="max")``); passing
    several checkpoints (e.g. :func:`checkpoint_candidates` of a work dir) and labelled validation
    images reproduces that choice. A folder is expanded with :func:`checkpoint_candidates`.
    """
    if isinstance(checkpoints, (str, Path)):
        paths = checkpoint_candidates(checkpoints) if Path(checkpoints).is_dir() else [Path(checkpoints)]
    else:
        paths = [Path(p) for p in checkpoints]
    if not paths:
        raise ValueError("no STEGO checkpoint to evaluate")
    if len(images) != len(gt_masks):
        raise ValueError(f"{len(images)} images but {len(gt_masks)} ground-truth masks")
    crops = [reference_center_crop(img if isinstance(img, np.ndarray) else load_image(img), load_label_map(gt), res)
             for img, gt in zip(images, gt_masks)]
    crop_images, crop_gts = [c[0] for c in crops], [c[1] for c in crops]
    results: list[tuple[Path, StegoScores]] = []
    backbone = None
    for i, path in enumerate(paths):
        if backbone is not None and read_checkpoint(path).backbone_spec != backbone.spec:
            backbone = None
        predictor = load_predictor(path, device, crf=crf, backbone=backbone)
        backbone = predictor.backbone  # the candidates of one run share their backbone
        predictor.cfg = replace(predictor.cfg, predict_resolution=res, flip_tta=True, max_side=max(res, 16))
        scores = evaluate(None, crop_images, crop_gts, n_classes=n_classes, crf=crf, device=device,
                          predictor=predictor, ignore=ignore)
        results.append((path, scores))
        if ctx is not None:
            ctx.progress((i + 1) / len(paths), f"Evaluated checkpoint {i + 1}/{len(paths)}: {path.name}")
    best_path, best_scores = max(results, key=lambda r: r[1].cluster.miou)
    return ReferenceEvaluation(best_path, best_scores, tuple(results))
