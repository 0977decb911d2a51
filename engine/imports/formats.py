"""The import-format registry and what every reader returns.

Why: like export formats, each reader module registers an :class:`ImportFormat` next to its code, so
adding a format is one new module in ``engine/imports/``; the CLI's ``import --format`` and the app's
import dialog list :data:`IMPORT_FORMATS`. A reader only *parses* (file -> :class:`ImportSource` with
masks as RLE at the size the file declares); matching images and classes to the project is
``engine.curation.imports``' job, so every format gets the same matching rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

from ..registry import Registry
from ..store.rle import Rle


class AnnotationImportError(Exception):
    """The annotation file / folder cannot be read at all (missing, not JSON, wrong structure)."""


@dataclass(frozen=True)
class ImportedAnnotation:
    """One object: its mask (RLE at the size the source declares) and class name (None = unlabelled)."""

    rle: Rle
    class_name: str | None
    name: str = ""


@dataclass(frozen=True)
class ImportedImage:
    """The annotations of one image, as the source names it.

    ``file_name``: the image reference as written (COCO ``file_name``, labelme ``imagePath``, a mask's
    path relative to the masks folder); ``path_hint``: an absolute path the reader could resolve (labelme:
    ``imagePath`` relative to its JSON); ``stem_only``: the reference has no image suffix to match
    (class-index masks ``X.png`` pair with images ``X.*``); ``size``: (height, width) declared.
    """

    file_name: str
    size: tuple[int, int]
    annotations: tuple[ImportedAnnotation, ...]
    path_hint: str | None = None
    stem_only: bool = False


@dataclass(frozen=True)
class ImportSource:
    """Everything a reader found: images with annotations, declared class names (source order) and
    notes on what it left out (crowd regions, unsupported shapes, unreadable files)."""

    format: str
    path: str
    images: tuple[ImportedImage, ...]
    class_names: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportFormat:
    """Registry entry. ``target``: the reader takes a ``file`` or a ``folder`` (``file_or_folder``:
    either); ``read(path) -> ImportSource`` raises AnnotationImportError."""

    name: str
    title: str
    target: Literal["file", "folder", "file_or_folder"]
    read: Callable[[Path], ImportSource]
    description: str = ""
    file_filter: str = field(default="", compare=False)  # e.g. "COCO JSON (*.json)" for file dialogs


IMPORT_FORMATS: Registry[ImportFormat] = Registry("import format", package="engine.imports")
register_import_format = IMPORT_FORMATS.register


def import_format(name: str) -> ImportFormat:
    """The registered format ``name`` (UnknownEntryError lists the available ones)."""
    return IMPORT_FORMATS.get(name)
