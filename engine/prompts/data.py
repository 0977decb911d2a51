"""Ground truth for interactive evaluation: one object mask per sample, from either layout.

* paired masks (``images/`` + binary ``masks/``): one sample per image, the mask's foreground;
* COCO instances (``images/`` + ``annotations/instances_*.json``): one sample per non-crowd
  instance whose box is at least 32×32 px (smaller ones are not meaningfully clickable), decoded
  with pycocotools.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..datasets import paired_masks

#: Smallest COCO instance box side evaluated (px).
MIN_INSTANCE_SIDE = 32


@dataclass(frozen=True)
class InteractiveSample:
    """One object to segment: ``image`` path plus how to get its bool mask (full resolution)."""

    image: Path
    name: str
    mask_path: Path | None = None
    coco_file: Path | None = None
    annotation_id: int | None = None

    def load_gt(self, coco=None) -> np.ndarray:
        if self.mask_path is not None:
            from PIL import Image

            with Image.open(self.mask_path) as m:
                return np.asarray(m.convert("L")) > 127
        if coco is None:
            coco = load_coco(self.coco_file)
        return coco.annToMask(coco.anns[self.annotation_id]).astype(bool)


def load_coco(path: Path):
    """pycocotools COCO index without its stdout chatter."""
    import contextlib
    import io

    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


def interactive_samples(root: str | Path, limit: int | None = None) -> list[InteractiveSample]:
    """Samples of ``root`` in a stable order (file name / annotation id); ``limit`` caps the count."""
    root = Path(root)
    if (root / "masks").is_dir():
        pairs = paired_masks(root, limit)
        return [InteractiveSample(p.image, p.image.stem, mask_path=p.mask) for p in pairs]
    ann_files = sorted((root / "annotations").glob("instances_*.json"))
    if not ann_files:
        raise FileNotFoundError(f"{root} has neither masks/ nor annotations/instances_*.json")
    data = json.loads(ann_files[0].read_text())
    files = {im["id"]: im["file_name"] for im in data["images"]}
    out = []
    for a in sorted(data["annotations"], key=lambda a: (a["image_id"], a["id"])):
        if a.get("iscrowd", 0) or a["bbox"][2] < MIN_INSTANCE_SIDE or a["bbox"][3] < MIN_INSTANCE_SIDE:
            continue
        image = root / "images" / files.get(a["image_id"], "")
        if a["image_id"] not in files or not image.exists():
            continue
        out.append(InteractiveSample(image, f"{image.stem}#{a['id']}", coco_file=ann_files[0],
                                     annotation_id=int(a["id"])))
        if limit and len(out) >= limit:
            break
    if not out:
        raise ValueError(f"no instances of at least {MIN_INSTANCE_SIDE} px in {ann_files[0]}")
    return out
