"""Class-index PNG masks reader (VOC ``SegmentationClass``, the semantic / VOC exports, any label maps).

Pixel value k is class k; 0 = background and 255 = void are never imported. Each class present in an
image becomes one segment (a label map cannot tell instances apart). ``X.png`` pairs with the project
image ``X.<any suffix>`` (path relative to the masks folder, then the stem alone).

Class names come from a class list in the masks folder or its parent, first found of
``class_names.txt`` / ``labels.txt`` / ``classes.txt`` (line k = name of value k, line 0 the
background) or a ``classes.json`` as the semantic export writes; without one, value k is ``class_k``.
Greyscale masks holding only 0 and 255 are binary object masks: 255 is read as class 1.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image

from ..store.rle import encode
from .formats import (AnnotationImportError, ImportedAnnotation, ImportedImage, ImportFormat, ImportSource,
                      register_import_format)

BACKGROUND = 0
VOID = 255
CLASS_LIST_FILES = ("class_names.txt", "labels.txt", "classes.txt")


def read_class_list(folder: Path) -> dict[int, str]:
    """``{value: name}`` from the first class list found in ``folder`` or its parent ({} when none)."""
    for base in (folder, folder.parent):
        for name in CLASS_LIST_FILES:
            f = base / name
            if f.is_file():
                lines = [ln.strip() for ln in f.read_text(encoding="utf-8").splitlines()]
                return {k: ln for k, ln in enumerate(lines) if ln and not ln.startswith("#")}
        f = base / "classes.json"
        if f.is_file():
            try:
                doc = json.loads(f.read_text(encoding="utf-8"))
                return {int(c["value"]): str(c["name"]) for c in doc.get("classes", [])}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise AnnotationImportError(f"{f}: not a class list ({exc})") from None
    return {}


def _labels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        if img.mode in ("RGB", "RGBA", "LA", "CMYK", "YCbCr"):
            raise ValueError(f"{img.mode} colour image, not a class-index mask (save it as a palette or "
                             f"greyscale PNG)")
        labels = np.asarray(img.convert("L") if img.mode == "1" else img)
    if img.mode == "1":
        return (labels > 0).astype(np.uint8)
    if img.mode == "L" and np.isin(labels, (BACKGROUND, VOID)).all():
        return (labels == VOID).astype(np.uint8)  # binary 0/255 object mask
    return labels


def read_masks(path: Path) -> ImportSource:
    path = Path(path)
    if path.is_file():
        root, files = path.parent, [path]
    elif path.is_dir():
        root, files = path, sorted(p for p in path.rglob("*") if p.suffix.lower() == ".png" and p.is_file()
                                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
        if not files:
            raise AnnotationImportError(f"no .png masks in {path}")
    else:
        raise AnnotationImportError(f"masks folder not found: {path}")
    names = read_class_list(root)
    images, skipped = [], []
    for f in files:
        rel = f.relative_to(root).as_posix()
        try:
            labels = _labels(f)
        except (OSError, ValueError) as exc:
            skipped.append(f"{rel}: {exc}")
            continue
        if labels.ndim != 2:
            skipped.append(f"{rel}: not a 2-D label map (shape {labels.shape})")
            continue
        anns = []
        for value in np.unique(labels).tolist():
            if value in (BACKGROUND, VOID):
                continue
            anns.append(ImportedAnnotation(encode(labels == value), names.get(int(value), f"class_{value}")))
        images.append(ImportedImage(rel, (int(labels.shape[0]), int(labels.shape[1])), tuple(anns), stem_only=True))
    declared = tuple(n for v, n in sorted(names.items()) if v not in (BACKGROUND, VOID))
    return ImportSource("masks", str(path), tuple(images), declared, tuple(skipped))


register_import_format(ImportFormat(
    name="masks", title="Class-index PNG masks (folder)", target="file_or_folder", read=read_masks,
    description="Label-map PNGs (value k = class k, 0 background, 255 void) named like the images; "
                "class names from class_names.txt / labels.txt / classes.json.",
    file_filter="PNG masks (*.png)"))
