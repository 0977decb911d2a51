"""COCO instances JSON export (what detectron2 / mmdet / YOLO converters read)."""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from engine.store import ProjectStore
from engine.store.rle import decode as rle_decode

from .atomic import atomic_write_bytes, ensure_dir
from .formats import ExportFormat, register_export_format
from .polygons import POLYGON_MIN_IOU, mask_to_polygons, polygons_iou
from .report import ExportError, ExportReport
from .selection import select

#: Category used for unlabelled segments when they are exported.
UNLABELLED_CATEGORY = "object"


def is_coco_file(path: Path) -> bool:
    """A COCO instances file (what this exporter or another tool wrote): a JSON object with images,
    annotations and categories lists."""
    try:
        with open(path, "rb") as f:
            if f.read(1).lstrip()[:1] not in (b"{", b""):
                return False
            f.seek(0)
            doc = json.load(f)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(doc, dict) and all(isinstance(doc.get(k), list) for k in ("images", "annotations",
                                                                                 "categories"))


def export_coco(store: ProjectStore, out_path: str | Path, *, states=("accepted",),
                image_status: tuple[str, ...] | None = None, polygons: bool = False,
                include_unlabelled: bool = False, absolute_paths: bool = False, ctx: Any = None) -> ExportReport:
    """Write a COCO instances file for the project's curated segments.

    Image ids and category ids count from 1 (categories in project class order); ``file_name`` is the
    POSIX path relative to the image folder (``store.image_root``: "x.jpg" for an image in it), or the
    absolute path with ``absolute_paths``; a non-UTF-8 name is written with JSON ``\\udcXX`` escapes
    (Python's surrogate escapes: ``open(file_name)`` finds it); width/height are post-EXIF. Segmentation is compressed RLE
    (``counts`` as str, iscrowd=0) or, with ``polygons``, outer-contour polygons (falling back to RLE
    for a mask no polygon reproduces, e.g. one with holes). The file is written atomically; on any
    OS error an ExportError is raised and no file is left behind. The store is only read.
    ``ctx`` (a JobContext) receives progress and can cancel.
    """
    out_path = Path(out_path)
    if out_path.is_dir():
        raise ExportError(f"{out_path} is a folder; give a file name such as annotations.json")
    ensure_dir(out_path.parent)
    with store.snapshot():
        sel = select(store, states, image_status, include_unlabelled)
        classes = store.classes()
        categories = [{"id": i + 1, "name": c.name, "supercategory": ""} for i, c in enumerate(classes)]
        cat_of: dict[int | None, int] = {c.id: i + 1 for i, c in enumerate(classes)}
        if include_unlabelled:
            existing = next((cat["id"] for cat in categories if cat["name"] == UNLABELLED_CATEGORY), None)
            if existing is None:
                existing = len(categories) + 1
                categories.append({"id": existing, "name": UNLABELLED_CATEGORY, "supercategory": ""})
            cat_of[None] = existing
        images, annotations = [], []
        n = max(1, len(sel.items))
        for k, item in enumerate(sel.items):
            if ctx is not None and k % 20 == 0:
                ctx.progress(k / n, f"COCO export: image {k + 1}/{len(sel.items)}")
            img = item.image
            image_id = len(images) + 1
            file_name = str(Path(img.path).absolute()) if absolute_paths else store.relative_path(img)
            images.append({"id": image_id, "file_name": file_name, "width": img.width,
                           "height": img.height})
            for seg in item.segments:
                rle = store.segment_rle(seg.id)
                segmentation: Any = {"size": [rle.height, rle.width], "counts": rle.counts.decode("ascii")}
                if polygons:
                    polys = mask_to_polygons(rle_decode(rle))
                    if polys and polygons_iou(polys, rle) >= POLYGON_MIN_IOU:
                        segmentation = polys
                x, y, w, h = seg.bbox
                annotations.append({
                    "id": len(annotations) + 1, "image_id": image_id, "category_id": cat_of[seg.class_id],
                    "segmentation": segmentation, "area": float(seg.area),
                    "bbox": [float(x), float(y), float(w), float(h)], "iscrowd": 0,
                    "score": float(seg.score)})
    doc = {
        "info": {"description": f"MaskCurator export of {store.path.name}", "version": "1.0",
                 "date_created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")},
        "licenses": [], "images": images, "annotations": annotations, "categories": categories,
    }
    try:
        data = json.dumps(doc, separators=(",", ":")).encode("utf-8")
    except (TypeError, ValueError) as exc:  # would be a bug in this module, still report it clearly
        raise ExportError(f"cannot serialise the COCO file: {exc}") from exc
    atomic_write_bytes(out_path, data)
    if ctx is not None:
        ctx.progress(1.0, f"COCO export: wrote {len(annotations)} annotations")
    return ExportReport(str(out_path), len(images), len(annotations), len(categories), sel.skipped)


register_export_format(ExportFormat(
    name="coco", title="COCO instances (JSON)", target="file", default_name="annotations.json",
    write=lambda store, out, request, ctx=None: export_coco(
        store, out, states=request.states, image_status=request.image_status, polygons=request.polygons,
        include_unlabelled=request.include_unlabelled, absolute_paths=request.absolute_paths, ctx=ctx),
    options=("polygons", "include_unlabelled", "absolute_paths"),
    description="One COCO instances file (RLE or polygons), what detectron2 / mmdet read.",
    file_filter="COCO JSON (*.json)", recognise=is_coco_file))
