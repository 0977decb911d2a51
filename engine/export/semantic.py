"""Semantic-segmentation PNGs (one palette PNG per image) for training semantic models like STEGO.

Pixel values: 0 = background, k = k-th project class (1..C, class-list order), 255 = ignore:
pixels where segments of different classes overlap, and pixels of unlabelled segments (known to be
an object, class unknown). A ``classes.json`` next to the PNGs maps values to names and colours.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.store import ProjectStore

from .atomic import atomic_folder, atomic_write_bytes, marker_format
from .formats import ExportFormat, register_export_format
from .report import ExportError, ExportReport
from .selection import select

IGNORE = 255
MAX_CLASSES = 254



def paint_label_map(store, item, value_of: dict, conflict: int) -> np.ndarray:
    """uint8 (H, W) class-value map of one selected image: each segment painted with its class value;
    a pixel two different classes claim gets ``conflict`` (ignore / void) rather than the later one."""
    img = item.image
    labels = np.zeros((img.height, img.width), dtype=np.uint8)
    for seg in item.segments:
        mask = store.segment_mask(seg.id)
        value = value_of[seg.class_id]
        current = labels[mask]
        labels[mask] = np.where((current == 0) | (current == value), value, conflict)
    return labels

def _png_bytes(labels: np.ndarray, palette: list[int]) -> bytes:
    img = Image.fromarray(labels, mode="P")
    img.putpalette(palette)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def is_semantic_export(folder: Path) -> bool:
    """A folder a semantic export wrote (its marker, or the ``classes.json`` legend of older versions)."""
    folder = Path(folder)
    if marker_format(folder) == "semantic":
        return True
    try:
        legend = json.loads((folder / "classes.json").read_text("utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(legend, dict) and {"background", "ignore", "classes"} <= set(legend)


def export_semantic_pngs(store: ProjectStore, out_dir: str | Path, *, states=("accepted",),
                         image_status: tuple[str, ...] | None = None, ctx: Any = None) -> ExportReport:
    """Write ``<image stem>.png`` label maps plus ``classes.json`` into ``out_dir``.

    The whole export is written into a temporary folder next to ``out_dir`` and swapped in when
    complete (:func:`engine.export.atomic.atomic_folder`): if anything fails, ``out_dir`` — a previous
    export included — is exactly as it was and ExportError says so; label maps of images no longer
    exported do not linger. Unlabelled segments are painted as 255 (ignore). Same image selection as
    :func:`export_coco`. Overwrite checks (``force``) are :func:`engine.curation.export.run_export`'s.
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file; semantic export needs a folder")
    with store.snapshot():
        classes = store.classes()
        if len(classes) > MAX_CLASSES:
            raise ExportError(f"{len(classes)} classes do not fit an 8-bit PNG (max {MAX_CLASSES})")
        value_of: dict[int | None, int] = {c.id: i + 1 for i, c in enumerate(classes)}
        value_of[None] = IGNORE
        sel = select(store, states, image_status, include_unlabelled=True)
        palette = [0, 0, 0] * 256
        for i, c in enumerate(classes):
            palette[3 * (i + 1):3 * (i + 2)] = list(c.color)
        palette[3 * IGNORE:3 * IGNORE + 3] = [255, 255, 255]
        used_names: set[str] = set()
        n_painted = 0
        with atomic_folder(out_dir, "semantic", is_semantic_export) as tmp:
            n = max(1, len(sel.items))
            for k, item in enumerate(sel.items):
                if ctx is not None and k % 10 == 0:
                    ctx.progress(k / n, f"semantic export: image {k + 1}/{len(sel.items)}")
                img = item.image
                labels = paint_label_map(store, item, value_of, IGNORE)
                n_painted += len(item.segments)
                stem = Path(img.path).stem
                name = f"{stem}.png" if f"{stem}.png" not in used_names else f"{stem}_{img.id}.png"
                used_names.add(name)
                atomic_write_bytes(tmp / name, _png_bytes(labels, palette))
            legend = {"background": 0, "ignore": IGNORE,
                      "classes": [{"value": i + 1, "name": c.name, "color": list(c.color)}
                                  for i, c in enumerate(classes)],
                      "files": sorted(used_names)}
            atomic_write_bytes(tmp / "classes.json", json.dumps(legend, indent=1).encode("utf-8"))
    if ctx is not None:
        ctx.progress(1.0, f"semantic export: wrote {len(sel.items)} label maps")
    return ExportReport(str(out_dir), len(sel.items), n_painted, len(classes), sel.skipped)


register_export_format(ExportFormat(
    name="semantic", title="Semantic label PNGs (folder)", target="folder", default_name="semantic",
    write=lambda store, out, request, ctx=None: export_semantic_pngs(
        store, out, states=request.states, image_status=request.image_status, ctx=ctx),
    description="One palette PNG per image (0 = background, k = k-th class, 255 = ignore) + classes.json.",
    recognise=is_semantic_export))
