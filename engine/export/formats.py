"""The export-format registry: what the CLI's ``--format`` and the app's Export dialog offer.

Why: each exporter module registers an :class:`ExportFormat` next to its code, so adding a format is
one new module in ``engine/export/`` (no string dispatch anywhere else). The request is one frozen
dataclass; a format reads the options it understands (``ExportFormat.options`` names them so a
dialog can enable only those).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal

from ..registry import Registry
from .report import ExportReport


@dataclass(frozen=True)
class ExportRequest:
    """What to export where. ``states``: segment states; ``image_status``: only images with these
    statuses (None = all); ``polygons`` / ``include_unlabelled``: options of formats that use them.

    ``force``: replace an existing target that is not a previous export of this format (without it,
    :func:`engine.curation.export.run_export` raises :class:`~engine.export.report.ExportTargetExists`,
    which a dialog turns into "replace?"). An image of the project is never overwritten.
    ``absolute_paths``: image references (COCO ``file_name``) as absolute paths instead of paths relative
    to the image folder."""

    format: str
    out: Path
    states: tuple[str, ...] = ("accepted",)
    image_status: tuple[str, ...] | None = None
    polygons: bool = False
    include_unlabelled: bool = False
    force: bool = False
    absolute_paths: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "states", tuple(self.states))
        if self.image_status is not None:
            object.__setattr__(self, "image_status", tuple(self.image_status))
        if not self.states:
            raise ValueError("export needs at least one segment state (e.g. accepted)")


@dataclass(frozen=True)
class ExportFormat:
    """Registry entry. ``target``: the output is one ``file`` or a ``folder``; ``default_name`` is the
    suggested file / folder name; ``write(store, out, request, ctx) -> ExportReport`` raises ExportError.
    ``recognise(existing path) -> bool``: is that file / folder a previous export of this format (so it
    may be replaced without ``force``)? Targets this project exported before are recognised anyway."""

    name: str
    title: str
    target: Literal["file", "folder"]
    default_name: str
    write: Callable[[Any, Path, ExportRequest, Any], ExportReport]
    options: tuple[str, ...] = ()  # ExportRequest fields this format honours
    description: str = ""
    file_filter: str = field(default="", compare=False)  # e.g. "COCO JSON (*.json)" for file dialogs
    recognise: Callable[[Path], bool] | None = field(default=None, compare=False)


EXPORT_FORMATS: Registry[ExportFormat] = Registry("export format", package="engine.export")
register_export_format = EXPORT_FORMATS.register


def export_format(name: str) -> ExportFormat:
    """The registered format ``name`` (UnknownEntryError lists the available ones)."""
    return EXPORT_FORMATS.get(name)
