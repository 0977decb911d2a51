"""STEGO's training data: five crops per image, their frozen-backbone features and kNN partners.

The backbone is frozen, so its "feat" tokens are computed once per crop and kept in memory (float16);
training then only runs the small head. kNN partners are the top-k cosine neighbours of the crops'
globally pooled features, excluding the crop itself (as ``precompute_knns.py``, ranks 1..k).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ...backbone import Backbone
from ...imageio import load_image
from ..base import TrainingSet
from .config import StegoConfig

LabelSource = np.ndarray | str | Path

#: Pixels with this label (or any label >= the class count) are ignored by the linear probe.
IGNORE_LABEL = 255


@dataclass(frozen=True)
class CropFeatures:
    """Precomputed training data. ``feats`` (N, C, h, w) float16; ``knn`` (N, k) crop indices;
    ``labels`` (N, R, R) uint8 at crop resolution or None; ``image_index`` (N,) source image."""

    feats: torch.Tensor
    knn: torch.Tensor
    image_index: torch.Tensor
    labels: torch.Tensor | None
    patch_size: int

    def __len__(self) -> int:
        return int(self.feats.shape[0])

    @property
    def feat_dim(self) -> int:
        return int(self.feats.shape[1])


def five_crop_boxes(h: int, w: int, ratio: float) -> list[tuple[int, int, int, int]]:
    """(y0, x0, ch, cw) of torchvision's five_crop order: top-left, top-right, bottom-left,
    bottom-right, centre; each crop is ``ratio`` of the image side (as STEGO's crop_datasets.py)."""
    ch, cw = max(1, int(h * ratio)), max(1, int(w * ratio))
    cy, cx = int(round((h - ch) / 2.0)), int(round((w - cw) / 2.0))
    return [(0, 0, ch, cw), (0, w - cw, ch, cw), (h - ch, 0, ch, cw), (h - ch, w - cw, ch, cw), (cy, cx, ch, cw)]


def resize_center_crop(img: np.ndarray, size: int, nearest: bool = False) -> np.ndarray:
    """Resize the short side to ``size`` then centre-crop a square (torchvision Resize + CenterCrop)."""
    h, w = img.shape[:2]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(img, (nw, nh), interpolation=interp)
    y0, x0 = (nh - size) // 2, (nw - size) // 2
    return np.ascontiguousarray(resized[y0:y0 + size, x0:x0 + size])


def image_crops(img: np.ndarray, cfg: StegoConfig, nearest: bool = False) -> list[np.ndarray]:
    """The training crops of one image (RGB or label map), each ``resolution`` × ``resolution``."""
    if cfg.five_crop:
        boxes = five_crop_boxes(img.shape[0], img.shape[1], cfg.crop_ratio)
    else:
        boxes = [(0, 0, img.shape[0], img.shape[1])]
    return [resize_center_crop(img[y:y + h, x:x + w], cfg.resolution, nearest) for y, x, h, w in boxes]


def load_label_map(source: LabelSource) -> np.ndarray:
    """A class-index mask (H, W): an array, or a PNG whose palette indices / grey values are classes."""
    if isinstance(source, np.ndarray):
        arr = source
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"Label mask not found: {path}")
        with Image.open(path) as im:
            if im.mode not in ("P", "L", "I", "I;16"):
                raise ValueError(f"{path.name}: label masks must be palette or greyscale class indices, "
                                 f"got mode {im.mode}")
            arr = np.asarray(im)
    if arr.ndim != 2:
        raise ValueError(f"label mask must be 2-D, got shape {arr.shape}")
    if arr.min() < 0 or arr.max() > 255:
        raise ValueError("label values must be in [0, 255] (255 = ignore)")
    return arr.astype(np.uint8)


def knn_indices(pooled: torch.Tensor, k: int, chunk: int = 4096) -> torch.Tensor:
    """Top-k cosine neighbours (N, k) of pooled features (N, C), the point itself excluded."""
    n = pooled.shape[0]
    k = min(k, n - 1)
    if k < 1:
        raise ValueError("kNN pairs need at least two training crops")
    normed = F.normalize(pooled.float(), dim=1)
    out = []
    for start in range(0, n, chunk):
        sims = normed[start:start + chunk] @ normed.T
        rows = torch.arange(sims.shape[0], device=sims.device)
        sims[rows, rows + start] = -float("inf")
        out.append(sims.topk(k, dim=1).indices)
    return torch.cat(out).cpu()


def build_crop_features(dataset: TrainingSet, backbone: Backbone, cfg: StegoConfig,
                        labels: Sequence[LabelSource] | None = None,
                        progress: Callable[[float, str], None] | None = None) -> CropFeatures:
    """Crop every image, run the frozen backbone on the crops in batches and find kNN partners.

    ``progress(fraction, message)`` is called per batch (it may raise to cancel).
    """
    images = list(dataset.images)
    if not images:
        raise ValueError("The training set is empty: add images before training STEGO.")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"got {len(labels)} label masks for {len(images)} images")
    if cfg.resolution % backbone.patch_size:
        raise ValueError(f"resolution {cfg.resolution} is not a multiple of the backbone patch size "
                         f"{backbone.patch_size}")
    feats: list[torch.Tensor] = []
    crop_labels: list[np.ndarray] = []
    image_index: list[int] = []
    pending: list[torch.Tensor] = []

    def flush() -> None:
        if pending:
            tokens = backbone(torch.stack(pending)).tokens  # (B, h, w, C)
            feats.append(tokens.permute(0, 3, 1, 2).to("cpu", torch.float16))
            pending.clear()

    for i, item in enumerate(images):
        rgb = load_image(item.path)
        crops = image_crops(rgb, cfg)
        if labels is not None:
            label = load_label_map(labels[i])
            if label.shape != rgb.shape[:2]:
                raise ValueError(f"label mask of {Path(item.path).name} is {label.shape}, image is "
                                 f"{rgb.shape[:2]}")
            crop_labels.extend(image_crops(label, cfg, nearest=True))
        for crop in crops:
            pending.append(backbone.normalise(crop))
            image_index.append(i)
            if len(pending) >= cfg.feature_batch:
                flush()
        if progress is not None:
            progress((i + 1) / len(images), f"Features {i + 1}/{len(images)}")
    flush()
    all_feats = torch.cat(feats)
    knn = knn_indices(all_feats.float().mean(dim=(2, 3)).to(backbone.device), cfg.n_neighbors)
    label_tensor = torch.from_numpy(np.stack(crop_labels)) if labels is not None else None
    return CropFeatures(all_feats, knn, torch.tensor(image_index), label_tensor, backbone.patch_size)


def n_label_classes(data: CropFeatures) -> int:
    """Class count implied by the labels: largest non-ignore value + 1 (0 when there are none)."""
    if data.labels is None:
        return 0
    valid = data.labels[data.labels != IGNORE_LABEL]
    return int(valid.max()) + 1 if valid.numel() else 0
