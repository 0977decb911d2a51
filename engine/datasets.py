"""Readers for ground-truth layouts used by evaluation (the ``../shared/data`` folders and their kind).

Two layouts cover the evaluation sets:

* paired masks — ``images/X.(jpg|png)`` with ``masks/X.png``: binary 0/255 (salient object / ReDO sets)
  or class indices with 255 = void (VOC);
* COCO instances — ``images/`` with ``annotations/instances_*.json``: boxes for CorLoc.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .imageio import list_images

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
               "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
               "train", "tvmonitor")


@dataclass(frozen=True)
class MaskedImage:
    image: Path
    mask: Path

    def load_mask(self) -> np.ndarray:
        """Mask as stored (uint8 class ids / 0-255); palette PNGs give their indices, not colours."""
        with Image.open(self.mask) as m:
            return np.asarray(m if m.mode in ("L", "P") else m.convert("L"))

    def load_binary(self) -> np.ndarray:
        return self.load_mask() > 127


def paired_masks(root: str | Path, limit: int | None = None) -> list[MaskedImage]:
    """``root/images/X.*`` ↔ ``root/masks/X.png``; images without a mask are skipped."""
    root = Path(root)
    images_dir, masks_dir = root / "images", root / "masks"
    if not images_dir.is_dir() or not masks_dir.is_dir():
        raise FileNotFoundError(f"{root} must contain images/ and masks/ folders")
    pairs = [MaskedImage(p, masks_dir / f"{p.stem}.png") for p in list_images(images_dir)
             if (masks_dir / f"{p.stem}.png").exists()]
    if not pairs:
        raise ValueError(f"no image/mask pairs found under {root}")
    return pairs[:limit] if limit else pairs


@dataclass(frozen=True)
class BoxedImage:
    image: Path
    boxes: tuple[tuple[float, float, float, float], ...]  # x0, y0, x1, y1
    width: int
    height: int


def coco_boxes(root: str | Path, limit: int | None = None, include_crowd: bool = False) -> list[BoxedImage]:
    """Images of a COCO-layout folder with their ground-truth boxes (images without boxes skipped)."""
    root = Path(root)
    ann_files = sorted((root / "annotations").glob("instances_*.json"))
    if not ann_files:
        raise FileNotFoundError(f"no annotations/instances_*.json in {root}")
    data = json.loads(ann_files[0].read_text())
    boxes: dict[int, list] = {}
    for a in data["annotations"]:
        if a.get("iscrowd", 0) and not include_crowd:
            continue
        x, y, w, h = a["bbox"]
        boxes.setdefault(a["image_id"], []).append((x, y, x + w, y + h))
    out = [BoxedImage(root / "images" / im["file_name"], tuple(boxes[im["id"]]), im["width"], im["height"])
           for im in sorted(data["images"], key=lambda im: im["id"]) if im["id"] in boxes
           and (root / "images" / im["file_name"]).exists()]
    return out[:limit] if limit else out
