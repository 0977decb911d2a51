"""Exporters of curated segments: COCO instances (RLE or polygons) and semantic label PNGs.

Every file is written atomically (temp file in the same folder, fsync, os.replace); failures raise
ExportError with the reason and leave no partial file. Exporters only read the store. Each exporter
module registers an :class:`ExportFormat` in :data:`EXPORT_FORMATS` (see ``formats.py``); callers
look formats up there instead of naming them.
"""

from .coco import export_coco
from .formats import EXPORT_FORMATS, ExportFormat, ExportRequest, export_format, register_export_format
from .report import ExportError, ExportReport
from .semantic import export_semantic_pngs

__all__ = ["EXPORT_FORMATS", "ExportError", "ExportFormat", "ExportReport", "ExportRequest", "export_coco",
           "export_format", "export_semantic_pngs", "register_export_format"]
