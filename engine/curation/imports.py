"""Importing existing annotations as a source to curate: plan (preview) first, then one undoable write.

Why two steps: matching file names and class names is where an import goes wrong (another folder
layout, ``Dog`` vs ``dog``), so :func:`plan_import` reads the annotations and returns the planned
mapping — which project classes are reused and which are created, how many segments each brings,
which annotated images are not in the project — for the app's dialog or ``main.py import --dry-run``
to show; :func:`run_import` then writes exactly that plan. Imported segments have source ``import``
and state ``proposed``: they are accepted, refined, relabelled and merged like method proposals, and
the whole import is one store transaction and one undo step (new classes included).

Image matching, first rule that finds exactly one project image:
1. the path the reader resolved (labelme ``imagePath`` relative to its JSON);
2. the file name relative to the project's image folder (also the exporters' ``file_name``);
3. the base name (class-index masks: the stem), when no two project images share it.
Class matching: ``class_map`` (source name -> project name, or None to leave that class out), else the
project class of the same name, else one differing only in case, else a new class.
"""

from __future__ import annotations

import os
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..imports.formats import (IMPORT_FORMATS, AnnotationImportError, ImportedImage, ImportFormat,
                               ImportSource, import_format)
from ..jobs import JobContext
from ..store.rle import Rle

__all__ = ["IMPORT_FORMATS", "SOURCE", "AnnotationImportError", "ClassMapping", "ImageMatch", "ImportFormat",
           "ImportPlan", "ImportReport", "ImportRequest", "import_formats", "plan_import", "run_import"]

#: ``source`` of every imported segment.
SOURCE = "import"


@dataclass(frozen=True)
class ImportRequest:
    """What to import: a registered format, the file or folder, optional class renames (None = skip)."""

    format: str
    path: Path
    class_map: Mapping[str, str | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "class_map", dict(self.class_map or {}))


@dataclass(frozen=True)
class ClassMapping:
    """One source class: the project class it goes to (``target`` None = not imported), that class's id
    when it exists already (None = created by the import) and how many segments it brings."""

    source: str
    target: str | None
    existing_id: int | None
    n_segments: int

    @property
    def is_new(self) -> bool:
        return self.target is not None and self.existing_id is None


@dataclass(frozen=True)
class ImageMatch:
    """An annotated image found in the project: ``how`` = "path" | "relative" | "basename" | "stem"."""

    file_name: str
    image_id: int
    image_path: str
    how: str
    n_segments: int


@dataclass(frozen=True)
class ImportPlan:
    """The preview :func:`run_import` applies. ``unmatched``: source images not in the project;
    ``skipped``: everything else left out, with the reason; ``n_segments``: what the import adds."""

    format: str
    path: str
    classes: tuple[ClassMapping, ...]
    images: tuple[ImageMatch, ...]
    unmatched: tuple[str, ...]
    skipped: tuple[str, ...]
    n_segments: int
    n_unlabelled: int
    items: tuple[tuple[int, Rle, str | None], ...] = field(default=(), repr=False, compare=False)

    @property
    def new_classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.target for c in self.classes if c.is_new and c.n_segments))

    @property
    def existing_classes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.target for c in self.classes if c.existing_id is not None and c.n_segments))

    def summary_lines(self, limit: int = 10) -> list[str]:
        """The mapping preview as text (``main.py import``; the app may show it as is)."""
        lines = [f"{self.format} import from {self.path}: {self.n_segments} segments on {len(self.images)} "
                 f"project images"]
        for c in self.classes:
            if c.target is None:
                what = "not imported"
            elif c.is_new:
                what = f"-> new class {c.target!r}"
            else:
                what = f"-> existing class {c.target!r}"
            lines.append(f"  {c.source!r:<28} {what} ({c.n_segments} segments)")
        if self.n_unlabelled:
            lines.append(f"  (no label){'':<18} -> unlabelled ({self.n_unlabelled} segments)")
        if self.unmatched:
            more = f" ... (+{len(self.unmatched) - limit})" if len(self.unmatched) > limit else ""
            lines.append(f"  {len(self.unmatched)} annotated images not in the project: "
                         f"{', '.join(self.unmatched[:limit])}{more}")
        for s in self.skipped[:limit]:
            lines.append(f"  skipped: {s}")
        if len(self.skipped) > limit:
            lines.append(f"  ... {len(self.skipped) - limit} more skipped")
        return lines


@dataclass(frozen=True)
class ImportReport:
    """What :func:`run_import` wrote (``undo`` is the undo step's description)."""

    path: str
    n_images: int
    n_segments: int
    new_classes: tuple[str, ...]
    segment_ids: tuple[int, ...] = field(repr=False)
    skipped: tuple[str, ...] = ()
    undo: str = ""


def import_formats() -> list[ImportFormat]:
    """Registered import formats, sorted by name (what a dialog or ``--format`` offers)."""
    return IMPORT_FORMATS.values()


# -- matching ------------------------------------------------------------------------------------

def _norm(name: str) -> str:
    """POSIX, no ``./``, ``..`` folded: how file names are compared."""
    return PurePosixPath(os.path.normpath(name.replace("\\", "/"))).as_posix()


class _ImageIndex:
    def __init__(self, store):
        root = Path(getattr(store, "image_root", None) or store.project_dir)
        self.records = store.images()
        self.by_path = {os.path.normcase(os.path.abspath(r.path)): r for r in self.records}
        self.by_rel: dict[str, object] = {}
        self.by_rel_stem: dict[str, list] = defaultdict(list)
        self.by_base: dict[str, list] = defaultdict(list)
        self.by_stem: dict[str, list] = defaultdict(list)
        for r in self.records:
            rel = _norm(os.path.relpath(r.path, root))
            self.by_rel[rel] = r
            self.by_rel_stem[str(PurePosixPath(rel).with_suffix(""))].append(r)
            self.by_base[Path(r.path).name].append(r)
            self.by_stem[Path(r.path).stem].append(r)

    def match(self, img: ImportedImage):
        """(record, how) or (None, reason)."""
        if img.path_hint:
            r = self.by_path.get(os.path.normcase(os.path.abspath(img.path_hint)))
            if r is not None:
                return r, "path"
        name = _norm(img.file_name)
        if os.path.isabs(name):
            r = self.by_path.get(os.path.normcase(name))
            if r is not None:
                return r, "path"
        if img.stem_only:
            found = self.by_rel_stem.get(str(PurePosixPath(name).with_suffix("")), [])
            if len(found) == 1:
                return found[0], "relative"
            found, how = self.by_stem.get(PurePosixPath(name).stem, []), "stem"
        else:
            r = self.by_rel.get(name)
            if r is not None:
                return r, "relative"
            found, how = self.by_base.get(PurePosixPath(name).name, []), "basename"
        if len(found) == 1:
            return found[0], how
        if len(found) > 1:
            return None, f"{img.file_name}: {len(found)} project images share its {how}; give a path relative " \
                         f"to the image folder"
        return None, None


def _class_targets(names, store_classes, class_map: Mapping[str, str | None]):
    """source name -> (target name or None, existing id or None)."""
    exact = {c.name: c.id for c in store_classes}
    folded: dict[str, list] = defaultdict(list)
    for c in store_classes:
        folded[c.name.casefold()].append(c)
    out = {}
    for name in names:
        target = class_map.get(name, name)
        if target is None:
            out[name] = (None, None)
            continue
        target = str(target).strip()
        if target in exact:
            out[name] = (target, exact[target])
        elif len(folded.get(target.casefold(), [])) == 1:
            c = folded[target.casefold()][0]
            out[name] = (c.name, c.id)
        else:
            out[name] = (target, None)
    return out


# -- entry points --------------------------------------------------------------------------------

def plan_import(store, fmt: str | ImportFormat, path: str | Path, *,
                class_map: Mapping[str, str | None] | None = None, ctx: JobContext | None = None) -> ImportPlan:
    """Read ``path`` with the import format ``fmt`` and match it to ``store``'s images and classes.

    Only reads (the store is not written). Raises AnnotationImportError for an unreadable source and
    UnknownEntryError for an unknown format name.
    """
    fmt = import_format(fmt) if isinstance(fmt, str) else fmt
    class_map = dict(class_map or {})
    if ctx is not None:
        ctx.progress(0.0, f"Reading {fmt.title}")
    source: ImportSource = fmt.read(Path(path))
    if ctx is not None:
        ctx.progress(0.6, "Matching images and classes")
    index = _ImageIndex(store)
    skipped = list(source.skipped)
    unmatched: list[str] = []
    matched: dict[int, tuple[ImportedImage, object, str]] = {}
    for img in source.images:
        rec, how = index.match(img)
        if rec is None:
            if how:  # ambiguous: a reason
                skipped.append(how)
            unmatched.append(img.file_name)
            continue
        if rec.error is not None or (rec.height, rec.width) != tuple(img.size):
            skipped.append(f"{img.file_name}: annotated at {img.size[1]}x{img.size[0]}, the project image is "
                           f"{rec.width}x{rec.height}" + (f" ({rec.error})" if rec.error else ""))
            continue
        if rec.id in matched:
            skipped.append(f"{img.file_name}: {Path(rec.path).name} is already annotated by "
                           f"{matched[rec.id][0].file_name}")
            continue
        matched[rec.id] = (img, rec, how)
    counts = Counter(a.class_name for img, _, _ in matched.values() for a in img.annotations)
    names = [n for n in dict.fromkeys([*source.class_names, *(n for n in counts if n is not None)]) if counts[n]]
    targets = _class_targets(names, store.classes(), class_map)
    classes = tuple(ClassMapping(n, *targets[n], counts[n]) for n in names)
    unused = [n for n in source.class_names if not counts[n]]
    if unused:
        skipped.append(f"{len(unused)} declared class(es) without annotations on project images are not created: "
                       f"{', '.join(unused[:10])}{' ...' if len(unused) > 10 else ''}")
    items: list[tuple[int, Rle, str | None]] = []
    images: list[ImageMatch] = []
    n_left_out = 0
    for img, rec, how in matched.values():
        n = 0
        for a in img.annotations:
            target = None if a.class_name is None else targets[a.class_name][0]
            if a.class_name is not None and target is None:
                n_left_out += 1
                continue
            items.append((rec.id, a.rle, target))
            n += 1
        images.append(ImageMatch(img.file_name, rec.id, rec.path, how, n))
    if n_left_out:
        skipped.append(f"{n_left_out} segment(s) of classes mapped to nothing not imported")
    if ctx is not None:
        ctx.progress(1.0, f"{len(items)} segments to import")
    return ImportPlan(fmt.name, str(path), classes, tuple(images), tuple(unmatched), tuple(skipped), len(items),
                      counts.get(None, 0), tuple(items))


def run_import(ctx: JobContext, *, store, plan: ImportPlan | None = None,
               request: ImportRequest | None = None) -> ImportReport:
    """Write ``plan`` (or plan ``request`` first) into the store as one transaction and one undo step.

    Segments get source ``import`` and state ``proposed``; classes the plan marks new are created
    (a class created meanwhile under the same name is reused). StoreError propagates and then nothing
    was written (e.g. an image removed since the plan was made).
    """
    if plan is None:
        if request is None:
            raise ValueError("run_import needs a plan or a request")
        plan = plan_import(store, request.format, request.path, class_map=request.class_map, ctx=ctx)
    ctx.progress(0.0, f"Importing {plan.n_segments} segments")
    description = f"Import {plan.n_segments} segments from {Path(plan.path).name}"
    ids, created = store.import_segments(plan.items, source=SOURCE, state="proposed", description=description,
                                         classes=plan.new_classes)
    ctx.progress(1.0, f"Imported {len(ids)} segments")
    return ImportReport(plan.path, sum(1 for m in plan.images if m.n_segments), len(ids), tuple(created),
                        tuple(ids), plan.skipped, description if ids else "")
