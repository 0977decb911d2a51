"""Export of the curated store, as one job both the Export dialog and ``main.py export`` run.

Why: the format is looked up in the export-format registry (``engine.export.formats``) instead of
being dispatched on strings in the app and the CLI; a new format registered by a new module in
``engine/export/`` appears in both without changes here. ``ExportError`` propagates with its message.
"""

from __future__ import annotations

from ..export.formats import EXPORT_FORMATS, ExportFormat, ExportRequest, export_format
from ..export.report import ExportError, ExportReport
from ..jobs import JobContext

__all__ = ["EXPORT_FORMATS", "ExportError", "ExportFormat", "ExportReport", "ExportRequest", "export_formats",
           "run_export"]


def export_formats() -> list[ExportFormat]:
    """Registered formats, sorted by name (what a dialog or ``--format`` offers)."""
    return EXPORT_FORMATS.values()


def run_export(ctx: JobContext, *, store, request: ExportRequest) -> ExportReport:
    """Write ``request`` with its registered format; returns the exporter's ExportReport."""
    fmt = export_format(request.format)
    ctx.progress(0.0, f"Exporting {fmt.title}")
    report = fmt.write(store, request.out, request, ctx)
    ctx.progress(1.0, "Export written")
    return report
