"""Pascal VOC segmentation export: ``SegmentationClass/<stem>.png`` with the VOC palette + class list.

Pixel values: 0 = background, k = k-th project class (class-list order), 255 = void: pixels of
unlabelled segments (an object of unknown class) and where segments of different classes overlap —
the same values as the semantic export, but with the standard VOC colour map (what VOC tools and
DeepLab-style loaders expect) and VOC's file layout. ``class_names.txt`` holds one name per line,
line k naming value k (line 0 ``background``); the masks importer reads it back.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine.store import ProjectStore

from .atomic import MARKER, atomic_folder, atomic_write_bytes
from .formats import ExportFormat, register_export_format
from .report import ExportError, ExportReport
from .selection import select
from .semantic import paint_label_map

VOID = 255
MAX_CLASSES = 254
CLASS_LIST = "class_names.txt"
MASK_DIR = "SegmentationClass"


def voc_palette() -> list[int]:
    """The 256-colour PASCAL VOC colour map (flat ``[r0, g0, b0, r1, ...]``; 255 = (224, 224, 192))."""
    palette = []
    for i in range(256):
        r = g = b = 0
        c = i
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        palette += [r, g, b]
    return palette



def _png(labels: np.ndarray, palette: list[int]) -> bytes:
    img = Image.fromarray(labels, mode="P")
    img.putpalette(palette)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def export_voc(store: ProjectStore, out_dir: str | Path, *, states=("accepted",),
               image_status: tuple[str, ...] | None = None, ctx: Any = None) -> ExportReport:
    """Write the VOC folder ``out_dir`` (replacing a previous VOC export there, atomically)."""
    out_dir = Path(out_dir).absolute()
    palette = voc_palette()
    n_painted = 0
    with store.snapshot():
        classes = store.classes()
        if len(classes) > MAX_CLASSES:
            raise ExportError(f"{len(classes)} classes do not fit an 8-bit VOC mask (max {MAX_CLASSES})")
        value_of: dict[int | None, int] = {c.id: i + 1 for i, c in enumerate(classes)}
        value_of[None] = VOID
        sel = select(store, states, image_status, include_unlabelled=True)
        with atomic_folder(out_dir, "voc") as tmp:
            used: set[str] = set()
            n = max(1, len(sel.items))
            for k, item in enumerate(sel.items):
                if ctx is not None and k % 10 == 0:
                    ctx.progress(k / n, f"VOC export: image {k + 1}/{len(sel.items)}")
                img = item.image
                labels = paint_label_map(store, item, value_of, VOID)
                n_painted += len(item.segments)
                stem = Path(img.path).stem
                name = stem if stem not in used else f"{stem}_{img.id}"
                used.add(name)
                atomic_write_bytes(tmp / MASK_DIR / f"{name}.png", _png(labels, palette))
            (tmp / MASK_DIR).mkdir(exist_ok=True)
            lines = ["background", *(c.name for c in classes)]
            atomic_write_bytes(tmp / CLASS_LIST, "".join(f"{ln}\n" for ln in lines).encode("utf-8"))
            atomic_write_bytes(tmp / MARKER, json.dumps({"format": "voc"}).encode("utf-8"))
    if ctx is not None:
        ctx.progress(1.0, f"VOC export: {len(sel.items)} masks")
    return ExportReport(str(out_dir), len(sel.items), n_painted, len(classes), sel.skipped)


register_export_format(ExportFormat(
    name="voc", title="Pascal VOC masks (folder)", target="folder", default_name="voc",
    write=lambda store, out, request, ctx=None: export_voc(
        store, out, states=request.states, image_status=request.image_status, ctx=ctx),
    description="SegmentationClass/<stem>.png with the VOC palette (0 background, 255 void) + class_names.txt."))
