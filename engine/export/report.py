"""What every exporter returns or raises."""

from __future__ import annotations

from dataclasses import dataclass


class ExportError(Exception):
    """An export could not be written (disk full, permission, bad options). Nothing partial is left."""


@dataclass(frozen=True)
class ExportReport:
    """Summary shown to the user after an export; ``skipped`` explains everything left out."""

    path: str
    n_images: int
    n_annotations: int
    n_categories: int
    skipped: tuple[str, ...] = ()
