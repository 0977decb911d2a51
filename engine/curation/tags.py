"""Image-level tags (IAL's weak labels) from a CSV or JSON file, for the app and ``main.py tags import``.

Why a module: the reader used to live in the CLI and wrote wrong data (a JSON string split into its
characters, a UTF-8 BOM hiding the first row, an empty row silently clearing tags, a bad row half-way
leaving half an import). Now the whole file is read and validated first (:func:`read_tags_file`, one
:class:`TagsFileError` line naming the row), then applied in one store transaction — one undo step —
by :func:`import_tags`.

Formats: CSV rows ``file,tag;tag`` (tags may also be spread over more cells; ``#`` starts a comment
row) or a JSON object ``{"file": ["tag", ...]}`` whose value may also be one string (``"cat"`` or
``"cat;dog"``) or null (no tags). Files are matched by their path relative to the image folder, else
by file name. A file name that is not valid UTF-8 is matched byte for byte (the file is read with
surrogate escapes); a tag name must be valid UTF-8 text.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..imageio import printable_name

__all__ = ["TagRow", "TagsFile", "TagsFileError", "TagsImportReport", "import_tags", "read_tags_file"]


class TagsFileError(ValueError):
    """The tags file cannot be imported; the one-line message names the file and the row."""


@dataclass(frozen=True)
class TagRow:
    line: int  # CSV line number, or 1-based position of the JSON key
    name: str  # image file name or path relative to the image folder (surrogate-escaped if not UTF-8)
    tags: tuple[str, ...]  # cleaned, de-duplicated, order kept; empty = "no tags" row


@dataclass(frozen=True)
class TagsFile:
    path: Path
    rows: tuple[TagRow, ...]


@dataclass(frozen=True)
class TagsImportReport:
    n_tagged: int  # images whose tags were set from a row with tags
    n_cleared: int  # images whose tags were cleared (empty rows, only with clear_empty)
    n_left_alone: int  # empty rows whose images kept their tags (without clear_empty)
    unknown: tuple[str, ...]  # names of rows that match no image of the project (printable)
    new_classes: tuple[str, ...]


def _bad(path: Path, where: str, what: str) -> TagsFileError:
    return TagsFileError(f"{printable_name(path.name)}{where}: {what}")


def _clean_tags(path: Path, where: str, raw: list[Any]) -> tuple[str, ...]:
    tags: list[str] = []
    for t in raw:
        if not isinstance(t, str):
            raise _bad(path, where, f"a tag must be text, got {json.dumps(t)}")
        for part in t.split(";"):
            part = part.strip()
            if not part:
                continue
            try:
                part.encode("utf-8")
            except UnicodeEncodeError:
                raise _bad(path, where, f"tag {printable_name(part)!r} is not valid UTF-8 text") from None
            if "\x00" in part:
                raise _bad(path, where, "a tag contains a NUL character")
            tags.append(part)
    return tuple(dict.fromkeys(tags))


def _clean_name(path: Path, where: str, name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _bad(path, where, "empty image file name")
    if "\x00" in name:
        raise _bad(path, where, "the image file name contains a NUL character")
    return name.strip()


def _json_rows(path: Path, text: str) -> list[TagRow]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _bad(path, f" line {exc.lineno}", f"not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise _bad(path, "", "not valid JSON (nested too deeply)") from None
    if not isinstance(data, dict):
        raise _bad(path, "", 'expected an object {"file": ["tag", ...]}')
    rows = []
    for k, (name, value) in enumerate(data.items(), start=1):
        where = f" entry {k} ({printable_name(name)!r})"
        if value is None:
            value = []
        elif isinstance(value, str):
            value = [value]
        elif not isinstance(value, list):
            raise _bad(path, where, f"expected a list of tags, a string or null, got {type(value).__name__}")
        rows.append(TagRow(k, _clean_name(path, where, name), _clean_tags(path, where, value)))
    return rows


def _csv_rows(path: Path, text: str) -> list[TagRow]:
    rows = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            line = reader.line_num
            if not row or not any(cell.strip() for cell in row) or row[0].lstrip().startswith("#"):
                continue
            where = f" line {line}"
            rows.append(TagRow(line, _clean_name(path, where, row[0]), _clean_tags(path, where, row[1:])))
    except csv.Error as exc:
        raise _bad(path, f" line {reader.line_num}", f"not valid CSV ({exc})") from None
    return rows


def read_tags_file(path: str | Path) -> TagsFile:
    """Read and validate the whole file; raises :class:`TagsFileError` (one line) before any import.
    Rows naming the same file twice are merged (union of their tags)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TagsFileError(f"tags file not found: {printable_name(path)}") from None
    except IsADirectoryError:
        raise TagsFileError(f"{printable_name(path)} is a folder, not a tags file") from None
    except OSError as exc:
        raise TagsFileError(f"cannot read {printable_name(path)}: {exc.strerror or exc}") from None
    text = data.decode("utf-8-sig", "surrogateescape")  # BOM dropped; bad bytes kept for file names
    rows = _json_rows(path, text) if path.suffix.lower() == ".json" else _csv_rows(path, text)
    merged: dict[str, TagRow] = {}
    for row in rows:
        if row.name in merged:
            first = merged[row.name]
            row = TagRow(first.line, row.name, tuple(dict.fromkeys(first.tags + row.tags)))
        merged[row.name] = row
    return TagsFile(path, tuple(merged.values()))


def _match(store, rows: tuple[TagRow, ...]) -> tuple[dict[int, TagRow], list[str]]:
    images = store.images()
    by_rel = {store.relative_path(r): r.id for r in images}
    by_name: dict[str, list[int]] = {}
    for r in images:
        by_name.setdefault(Path(r.path).name, []).append(r.id)
    matched: dict[int, TagRow] = {}
    unknown: list[str] = []
    for row in rows:
        key = row.name.replace("\\", "/")
        image_id = by_rel.get(key)
        if image_id is None:
            candidates = by_name.get(Path(key).name, [])
            image_id = candidates[0] if len(candidates) == 1 else None
        if image_id is None:
            unknown.append(printable_name(row.name))
            continue
        if image_id in matched:  # "a.png" and "./a.png": merge
            prev = matched[image_id]
            row = TagRow(prev.line, prev.name, tuple(dict.fromkeys(prev.tags + row.tags)))
        matched[image_id] = row
    return matched, unknown


def import_tags(store, source: str | Path | TagsFile, *, clear_empty: bool = False) -> TagsImportReport:
    """Validate ``source`` (a path or an already read :class:`TagsFile`), then set the tags of every
    matched image in one transaction (one undo step), creating missing classes. A row without tags
    leaves that image's tags alone unless ``clear_empty``. Rows naming no project image are reported
    in ``unknown``, not fatal. Raises TagsFileError (bad file) or StoreError (cannot save)."""
    tags_file = source if isinstance(source, TagsFile) else read_tags_file(source)
    matched, unknown = _match(store, tags_file.rows)
    apply = {i: row.tags for i, row in matched.items() if row.tags or clear_empty}
    n_empty = sum(1 for row in matched.values() if not row.tags)
    created = store.import_tags(apply)
    return TagsImportReport(n_tagged=sum(1 for t in apply.values() if t),
                            n_cleared=n_empty if clear_empty else 0,
                            n_left_alone=0 if clear_empty else n_empty,
                            unknown=tuple(unknown), new_classes=tuple(created))
