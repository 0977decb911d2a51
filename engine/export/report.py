"""What every exporter returns or raises."""

from __future__ import annotations

from dataclasses import dataclass


class ExportError(Exception):
    """An export could not be written (disk full, permission, bad options). Nothing partial is left."""


class ExportTargetExists(ExportError):
    """The target exists and is not a previous export of this format: replacing it needs ``force``
    (``ExportRequest.force`` / ``--force``). ``path`` is the target; a dialog asks, then retries."""

    def __init__(self, path, message: str):
        super().__init__(message)
        self.path = path


@dataclass(frozen=True)
class ExportReport:
    """Summary shown to the user after an export; ``skipped`` explains everything left out."""

    path: str
    n_images: int
    n_annotations: int
    n_categories: int
    skipped: tuple[str, ...] = ()
