"""COCO instances JSON reader: polygons, uncompressed and compressed RLE.

Crowd annotations (``iscrowd=1``) are *not* imported: they mark a group of objects the annotator did
not separate (an ignore region for training), which the project cannot express as one object; they
are counted in ``skipped``. Annotations without a segmentation (boxes only) are skipped as well.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from pycocotools import mask as mask_utils

from ..store.rle import Rle
from .formats import (AnnotationImportError, ImportedAnnotation, ImportedImage, ImportFormat, ImportSource,
                      register_import_format)


def _segmentation_rle(seg: Any, h: int, w: int) -> Rle | None:
    """The annotation's mask as compressed RLE at (h, w); None when it has no usable shape."""
    if isinstance(seg, list):
        polys = [p for p in seg if isinstance(p, list) and len(p) >= 6 and len(p) % 2 == 0]
        if not polys:
            return None
        coded = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
    elif isinstance(seg, dict) and "counts" in seg:
        size = seg.get("size", [h, w])
        if [int(size[0]), int(size[1])] != [h, w]:
            raise ValueError(f"RLE size {size} differs from the image size {[h, w]}")
        counts = seg["counts"]
        if isinstance(counts, list):  # uncompressed RLE
            coded = mask_utils.frPyObjects(seg, h, w)
        else:
            coded = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    else:
        return None
    return Rle(bytes(coded["counts"]), h, w)


def read_coco(path: Path) -> ImportSource:
    path = Path(path)
    if not path.is_file():
        raise AnnotationImportError(f"COCO file not found: {path}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AnnotationImportError(f"{path.name} is not a readable JSON file: {exc}") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), list) for k in ("images", "annotations")):
        raise AnnotationImportError(f"{path.name} is not a COCO instances file (needs 'images' and "
                                    f"'annotations' lists)")
    categories = {c.get("id"): str(c.get("name", "")).strip() for c in doc.get("categories") or []
                  if isinstance(c, dict)}
    by_image: dict[Any, list[dict]] = defaultdict(list)
    for a in doc["annotations"]:
        if isinstance(a, dict):
            by_image[a.get("image_id")].append(a)
    images, skipped = [], []
    n_crowd = n_no_shape = 0
    for info in doc["images"]:
        try:
            file_name, h, w = str(info["file_name"]), int(info["height"]), int(info["width"])
        except (KeyError, TypeError, ValueError):
            skipped.append(f"image entry without file_name/height/width: {str(info)[:80]}")
            continue
        anns = []
        for a in by_image.get(info.get("id"), []):
            if a.get("iscrowd"):
                n_crowd += 1
                continue
            try:
                rle = _segmentation_rle(a.get("segmentation"), h, w)
            except (ValueError, TypeError, KeyError) as exc:
                skipped.append(f"{file_name}: annotation {a.get('id')}: {exc}")
                continue
            if rle is None or rle.area == 0:
                n_no_shape += 1
                continue
            if a.get("category_id") not in categories:
                skipped.append(f"{file_name}: annotation {a.get('id')} has unknown category {a.get('category_id')}")
                continue
            anns.append(ImportedAnnotation(rle, categories[a["category_id"]] or None))
        images.append(ImportedImage(file_name, (h, w), tuple(anns)))
    if n_crowd:
        skipped.append(f"{n_crowd} crowd annotation(s) (iscrowd=1) not imported: a crowd region is not one object")
    if n_no_shape:
        skipped.append(f"{n_no_shape} annotation(s) without a mask (box only or empty) not imported")
    ordered = sorted(categories.items(), key=lambda kv: (str(type(kv[0])), kv[0]))
    return ImportSource("coco", str(path), tuple(images), tuple(n for _, n in ordered if n), tuple(skipped))


register_import_format(ImportFormat(
    name="coco", title="COCO instances (JSON)", target="file", read=read_coco,
    description="A COCO instances file: polygon and RLE masks, category names (crowd regions are skipped).",
    file_filter="COCO JSON (*.json)"))
