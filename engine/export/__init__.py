"""Exporters of curated segments: COCO instances (RLE or polygons) and semantic label PNGs.

Every file is written atomically (temp file in the same folder, fsync, os.replace); failures raise
ExportError with the reason and leave no partial file. Exporters only read the store.
"""

from .coco import export_coco
from .report import ExportError, ExportReport
from .semantic import export_semantic_pngs

__all__ = ["export_coco", "export_semantic_pngs", "ExportReport", "ExportError"]
