"""labelme JSON export: one ``<image stem>.json`` per image, polygons traced from the masks.

Each segment becomes ``shape_type: polygon`` shapes labelled with its class name (points in
pixel-edge coordinates, simplified by :func:`engine.polygons.mask_to_polygons` with
``EXPORT_TOLERANCE`` / ``EXPORT_MIN_IOU``); a segment in several parts gets several shapes sharing one
``group_id`` (labelme's grouping, which the labelme importer joins back). Holes are lost.
``imagePath`` is relative to the JSON file, ``imageData`` is null (labelme then reads the image).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from engine.polygons import EXPORT_MIN_IOU, EXPORT_TOLERANCE, mask_to_polygons
from engine.store import ProjectStore

from .atomic import MARKER, atomic_folder, atomic_write_bytes
from .coco import UNLABELLED_CATEGORY
from .formats import ExportFormat, register_export_format
from .report import ExportReport
from .selection import select

LABELME_VERSION = "5.2.1"



def export_labelme(store: ProjectStore, out_dir: str | Path, *, states=("accepted",),
                   image_status: tuple[str, ...] | None = None, include_unlabelled: bool = False,
                   ctx: Any = None) -> ExportReport:
    """Write the labelme folder ``out_dir`` (replacing a previous labelme export there, atomically)."""
    out_dir = Path(out_dir).absolute()
    skipped_polys: list[str] = []
    n_shapes = n_segments = 0
    with store.snapshot():
        sel = select(store, states, image_status, include_unlabelled)
        names = {c.id: c.name for c in store.classes()}
        names[None] = UNLABELLED_CATEGORY
        with atomic_folder(out_dir, "labelme") as tmp:
            used: set[str] = set()
            n = max(1, len(sel.items))
            for k, item in enumerate(sel.items):
                if ctx is not None and k % 10 == 0:
                    ctx.progress(k / n, f"labelme export: image {k + 1}/{len(sel.items)}")
                img = item.image
                shapes, group = [], 0
                for seg in item.segments:
                    polys = mask_to_polygons(store.segment_mask(seg.id), EXPORT_TOLERANCE, min_iou=EXPORT_MIN_IOU)
                    if not polys:
                        skipped_polys.append(f"{store.relative_path(img)}: segment {seg.id} has no polygon")
                        continue
                    gid = None
                    if len(polys) > 1:
                        group += 1
                        gid = group
                    for p in polys:
                        points = [[round(float(x), 2), round(float(y), 2)] for x, y in p]
                        shapes.append({"label": names[seg.class_id], "points": points, "group_id": gid,
                                       "description": "", "shape_type": "polygon", "flags": {}})
                    n_segments += 1
                n_shapes += len(shapes)
                stem = Path(img.path).stem
                name = f"{stem}.json" if f"{stem}.json" not in used else f"{stem}_{img.id}.json"
                used.add(name)
                doc = {"version": LABELME_VERSION, "flags": {}, "shapes": shapes,
                       "imagePath": Path(os.path.relpath(img.path, out_dir)).as_posix(), "imageData": None,
                       "imageHeight": img.height, "imageWidth": img.width}
                atomic_write_bytes(tmp / name, json.dumps(doc, indent=1).encode("utf-8"))
            atomic_write_bytes(tmp / MARKER, json.dumps({"format": "labelme"}).encode("utf-8"))
    if ctx is not None:
        ctx.progress(1.0, f"labelme export: {n_shapes} polygons")
    return ExportReport(str(out_dir), len(sel.items), n_segments, len(names) - (0 if include_unlabelled else 1),
                        sel.skipped + tuple(skipped_polys))


register_export_format(ExportFormat(
    name="labelme", title="labelme JSON (folder)", target="folder", default_name="labelme",
    write=lambda store, out, request, ctx=None: export_labelme(
        store, out, states=request.states, image_status=request.image_status,
        include_unlabelled=request.include_unlabelled, ctx=ctx),
    options=("include_unlabelled",),
    description="One labelme JSON per image: polygons labelled with class names, imagePath relative."))
