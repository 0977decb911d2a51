"""Readers of existing annotations (COCO instances, labelme JSON folders, class-index PNG masks).

Each reader module registers an :class:`ImportFormat` in :data:`IMPORT_FORMATS`; it parses a file or
folder into an :class:`ImportSource` (masks as RLE, class names as written). Matching to the project's
images and classes, the preview and the store write are ``engine.curation.imports``.
"""

from .formats import (IMPORT_FORMATS, AnnotationImportError, ImportedAnnotation, ImportedImage, ImportFormat,
                      ImportSource, import_format, register_import_format)

__all__ = ["IMPORT_FORMATS", "AnnotationImportError", "ImportFormat", "ImportSource", "ImportedAnnotation",
           "ImportedImage", "import_format", "register_import_format"]
