"""labelme JSON reader: one JSON per image (a folder of them, or one file).

Shapes ``polygon`` (the default), ``rectangle`` and ``circle`` become masks, rasterised with
:func:`engine.polygons.polygons_to_mask` (pixel-edge coordinates, as the labelme exporter writes);
shapes sharing a ``group_id`` and label form one object (labelme's way to draw one object in several
parts). Other shape types (lines, points, masks) are listed in ``skipped``. Files that are not labelme
JSON (no ``shapes`` list) are skipped, so a folder may also hold other JSON files.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..polygons import polygons_to_mask
from ..store.rle import encode
from .formats import (AnnotationImportError, ImportedAnnotation, ImportedImage, ImportFormat, ImportSource,
                      register_import_format)

_CIRCLE_VERTICES = 64


def _shape_polygon(shape: dict) -> np.ndarray | None:
    pts = np.asarray(shape.get("points") or [], dtype=np.float64)
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.all(np.isfinite(pts)):
        return None
    kind = shape.get("shape_type") or "polygon"
    if kind == "polygon":
        return pts if len(pts) >= 3 else None
    if kind == "rectangle" and len(pts) == 2:
        (x0, y0), (x1, y1) = pts
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    if kind == "circle" and len(pts) == 2:
        centre, edge = pts
        r = float(np.hypot(*(edge - centre)))
        t = np.linspace(0, 2 * np.pi, _CIRCLE_VERTICES, endpoint=False)
        return centre + r * np.stack([np.cos(t), np.sin(t)], axis=1)
    return None


def _read_one(path: Path, skipped: list[str]) -> ImportedImage | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        skipped.append(f"{path.name}: not readable JSON ({exc})")
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        skipped.append(f"{path.name}: not a labelme file (no 'shapes' list)")
        return None
    image_path = str(doc.get("imagePath") or "").replace("\\", "/")
    if not image_path:
        skipped.append(f"{path.name}: no imagePath")
        return None
    hint = os.path.normpath(os.path.join(os.path.abspath(path.parent), image_path))
    try:
        h, w = int(doc["imageHeight"]), int(doc["imageWidth"])
    except (KeyError, TypeError, ValueError):
        try:
            from ..imageio import read_image_info

            info = read_image_info(hint)
            h, w = info.height, info.width
        except Exception:  # noqa: BLE001 - reported, the file is skipped
            skipped.append(f"{path.name}: no imageHeight/imageWidth and the image {image_path} is unreadable")
            return None
    groups: dict[tuple, list[np.ndarray]] = defaultdict(list)
    for k, shape in enumerate(doc["shapes"]):
        if not isinstance(shape, dict):
            continue
        poly = _shape_polygon(shape)
        if poly is None:
            skipped.append(f"{path.name}: shape {k} ({shape.get('shape_type') or 'polygon'}, "
                           f"{len(shape.get('points') or [])} points) not imported")
            continue
        label = str(shape.get("label") or "").strip() or None
        group = shape.get("group_id")
        key = (label, group) if group is not None else (label, None, k)
        groups[key].append(poly)
    anns = []
    for key, polys in groups.items():
        mask = polygons_to_mask(polys, (h, w))
        if not mask.any():
            skipped.append(f"{path.name}: shape(s) of {key[0]!r} cover no pixel")
            continue
        anns.append(ImportedAnnotation(encode(mask), key[0]))
    return ImportedImage(image_path, (h, w), tuple(anns), path_hint=hint)


def read_labelme(path: Path) -> ImportSource:
    path = Path(path)
    if path.is_file():
        files = [path]
    elif path.is_dir():
        files = sorted(f for f in path.rglob("*.json")
                       if not any(part.startswith(".") for part in f.relative_to(path).parts))  # markers
        if not files:
            raise AnnotationImportError(f"no .json files in {path}")
    else:
        raise AnnotationImportError(f"labelme file or folder not found: {path}")
    skipped: list[str] = []
    images = [img for f in files if (img := _read_one(f, skipped)) is not None]
    if not images:
        raise AnnotationImportError(f"no labelme JSON found in {path}" + (f" ({skipped[0]})" if skipped else ""))
    names = tuple(dict.fromkeys(a.class_name for img in images for a in img.annotations if a.class_name))
    return ImportSource("labelme", str(path), tuple(images), names, tuple(skipped))


register_import_format(ImportFormat(
    name="labelme", title="labelme JSON (folder)", target="file_or_folder", read=read_labelme,
    description="labelme annotations: one JSON per image (polygons, rectangles, circles; group_id joins parts).",
    file_filter="labelme JSON (*.json)"))
