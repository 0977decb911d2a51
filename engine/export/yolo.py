"""YOLO segmentation export (Ultralytics ``segment`` label format).

Layout of the folder::

    data.yaml          names (list, class id = index), nc, train/val -> images.txt
    images.txt         the exported images, one path per line, relative to this folder
    labels/<stem>.txt  one line per polygon: ``class_id x1 y1 x2 y2 ...``, x / width and y / height

Coordinates are pixel-edge coordinates divided by the image size, so they lie in [0, 1]; polygons
come from :func:`engine.polygons.mask_to_polygons` (``EXPORT_TOLERANCE`` / ``EXPORT_MIN_IOU``). A
segment in several parts writes one line per part (YOLO has no multi-part instances); holes are lost.
An image without segments gets an empty label file (a background image). Ultralytics finds a label by
replacing ``images`` with ``labels`` in the image path, so to train on this folder directly, link the
images as ``images/<stem>.<ext>`` next to ``labels/`` (the label files are named by image stem).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from engine.polygons import EXPORT_MIN_IOU, EXPORT_TOLERANCE, mask_to_polygons
from engine.store import ProjectStore

from .atomic import MARKER, atomic_folder, atomic_write_bytes
from .coco import UNLABELLED_CATEGORY
from .formats import ExportFormat, register_export_format
from .report import ExportReport
from .selection import select



def polygon_line(class_id: int, points: np.ndarray, width: int, height: int) -> str:
    """``class x1 y1 ...`` with coordinates normalised by the image size and clipped to [0, 1]."""
    norm = np.clip(points / np.array([width, height], dtype=np.float64), 0.0, 1.0)
    return " ".join([str(int(class_id)), *(f"{v:.6f}" for v in norm.ravel())])


def export_yolo(store: ProjectStore, out_dir: str | Path, *, states=("accepted",),
                image_status: tuple[str, ...] | None = None, include_unlabelled: bool = False,
                ctx: Any = None) -> ExportReport:
    """Write the YOLO folder ``out_dir`` (replacing a previous YOLO export there, atomically)."""
    out_dir = Path(out_dir).absolute()
    skipped_polys: list[str] = []
    n_segments = 0
    with store.snapshot():
        sel = select(store, states, image_status, include_unlabelled)
        classes = store.classes()
        names = [c.name for c in classes]
        class_index: dict[int | None, int] = {c.id: i for i, c in enumerate(classes)}
        if include_unlabelled:
            if UNLABELLED_CATEGORY not in names:
                names.append(UNLABELLED_CATEGORY)
            class_index[None] = names.index(UNLABELLED_CATEGORY)
        with atomic_folder(out_dir, "yolo") as tmp:
            used: set[str] = set()
            image_lines = []
            n = max(1, len(sel.items))
            for k, item in enumerate(sel.items):
                if ctx is not None and k % 10 == 0:
                    ctx.progress(k / n, f"YOLO export: image {k + 1}/{len(sel.items)}")
                img = item.image
                lines = []
                for seg in item.segments:
                    polys = mask_to_polygons(store.segment_mask(seg.id), EXPORT_TOLERANCE, min_iou=EXPORT_MIN_IOU)
                    if not polys:
                        skipped_polys.append(f"{store.relative_path(img)}: segment {seg.id} has no polygon")
                        continue
                    lines += [polygon_line(class_index[seg.class_id], p, img.width, img.height) for p in polys]
                    n_segments += 1
                stem = Path(img.path).stem
                name = stem if stem not in used else f"{stem}_{img.id}"
                used.add(name)
                text = "".join(f"{ln}\n" for ln in lines)
                atomic_write_bytes(tmp / "labels" / f"{name}.txt", text.encode("utf-8"))
                image_lines.append(Path(os.path.relpath(img.path, out_dir)).as_posix())
            atomic_write_bytes(tmp / "images.txt", "".join(f"{p}\n" for p in image_lines).encode("utf-8"))
            yaml = ("# MaskCurator YOLO segmentation export; class id = index in names\n"
                    "path: .\ntrain: images.txt\nval: images.txt\n"
                    f"nc: {len(names)}\nnames: {json.dumps(names, ensure_ascii=False)}\n")
            atomic_write_bytes(tmp / "data.yaml", yaml.encode("utf-8"))
            atomic_write_bytes(tmp / MARKER, json.dumps({"format": "yolo"}).encode("utf-8"))
    if ctx is not None:
        ctx.progress(1.0, f"YOLO export: {n_segments} segments")
    return ExportReport(str(out_dir), len(sel.items), n_segments, len(names), sel.skipped + tuple(skipped_polys))


register_export_format(ExportFormat(
    name="yolo", title="YOLO segmentation (folder)", target="folder", default_name="yolo",
    write=lambda store, out, request, ctx=None: export_yolo(
        store, out, states=request.states, image_status=request.image_status,
        include_unlabelled=request.include_unlabelled, ctx=ctx),
    options=("include_unlabelled",),
    description="labels/<stem>.txt (class x1 y1 ... normalised to [0, 1]) + data.yaml + images.txt."))
