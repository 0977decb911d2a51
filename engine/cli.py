"""Headless command line: ``python main.py <command> ...``.

The CLI runs exactly the jobs the app runs (``engine.curation``: analysis, proposals, clustering,
training, prediction, export) through :func:`engine.runner.run_with_progress`, so a dataset can be precomputed on a GPU server and curated later in
the app, or pseudo-labelled end to end without a display.

Commands::

    batch FOLDER      analyse every image (DSM), cluster the dataset, store proposals, optionally export
    train METHOD DIR  train a registered trainable method on the project's images (--set key=value)
    predict METHOD DIR --checkpoint CKPT   store a trained method's proposals for every image
    eval NAME ...     a registered evaluation against ground truth (see ``eval --help``)
    export DIR        write a registered export format (COCO JSON, semantic PNGs) from the store
    tags import DIR FILE   image-level tags (CSV ``file,tag;tag`` or JSON ``{file: [tags]}``) for IAL
    info DIR          what the project holds

Exit status: 0 done; 2 a one-line error (nothing half-done); 3 ``batch`` finished but some files could
not be read (each is listed); 130 interrupted. ``--project DIR`` keeps the project data outside the
image folder (a read-only folder falls back to a per-user place by itself and says so).
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import sys
from collections import defaultdict
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

from .registry import UnknownEntryError
from .runner import StageContext, run_with_progress

log = logging.getLogger("maskcurator")


class CliError(Exception):
    """A user-facing failure: printed without a traceback, exit status 2."""


#: ``batch`` finished, but some files could not be read (listed on stderr).
EXIT_SOME_FILES_FAILED = 3


def _show(path: Any) -> str:
    """A path or message printable on any terminal (bytes of a non-UTF-8 name shown as ``\\xff``)."""
    from .imageio import printable_name

    return printable_name(path)


# -- helpers ---------------------------------------------------------------------------------------

def _run(fn: Callable, device: Any, desc: str, quiet: bool) -> Any:
    return run_with_progress(fn, device, desc, quiet)


class _RegistryChoices:
    """argparse ``choices`` read from a registry only when used (help, validation): building the
    parser imports no method or exporter."""

    def __init__(self, names: Callable[[], Sequence[str]]):
        self._names = names

    def __contains__(self, item: object) -> bool:
        return item in self._names()

    def __iter__(self):
        return iter(self._names())


def _open_project(folder: str, create: bool = True, project_dir: str | None = None,
                  recursive: bool | None = None):
    from .curation.project import ProjectOpenError, open_project

    try:
        store, paths = open_project(folder, create, project_dir=project_dir, recursive=recursive)
    except ProjectOpenError as exc:
        raise CliError(_show(exc)) from None
    if paths.notice:
        print(f"note: {_show(paths.notice)}", file=sys.stderr)
    return store, paths


# -- commands --------------------------------------------------------------------------------------

def cmd_batch(args: argparse.Namespace) -> int:
    from .backbone import BackboneLoadError
    from .curation import (AnalysisFailed, AnalyzerHolder, CurationSettings, ExportRequest, analyze_batch,
                           cluster_all)
    from .pipeline import AnalysisStore

    try:
        settings = CurationSettings(backbone=args.backbone, max_side=args.max_side, n_segments=args.segments,
                                    n_clusters=args.clusters, crf=not args.no_crf, matting=not args.no_matting,
                                    seed=args.seed)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.batch_size < 1:
        raise CliError(f"--batch-size must be at least 1 (got {args.batch_size})")
    export_states = _states(args.export_states) if args.export else ()
    store, paths = _open_project(args.folder, project_dir=args.project, recursive=args.recursive)
    n_bad = 0
    try:
        unreadable = [r for r in store.images() if r.error]
        for r in unreadable:
            print(f"skipped {_show(r.path)}: {_show(r.error)}", file=sys.stderr)
        items = [(r.id, Path(r.path)) for r in store.images() if not r.error]  # absolute paths
        path_of = dict(items)
        cache = AnalysisStore(paths.analysis_cache)
        holder = AnalyzerHolder(paths.feature_cache)

        def job(ctx):
            """The app's "Analyse all": chunks through analyze_batch, then one cluster_all."""
            analysed: list[int] = []
            failures: list[tuple[int, str]] = []
            n, step = len(items), args.batch_size
            for start in range(0, n, step):
                part = StageContext(ctx, 0.9 * start / max(n, 1), 0.9 * min(n, start + step) / max(n, 1))
                done = analyze_batch(part, holder=holder, cache=cache, store=store, items=items[start:start + step],
                                     settings=settings, batch_size=step, recompute=args.recompute)
                if isinstance(done, AnalysisFailed):
                    raise CliError(done.message)
                analysed += done.analysed_ids
                failures += done.failures
            kept = set(analysed)
            k = cluster_all(StageContext(ctx, 0.9, 1.0), cache=cache, store=store,
                            items=[it for it in items if it[0] in kept], settings=settings,
                            n_clusters=settings.n_clusters)
            return analysed, failures, k

        try:
            if args.ray is not None:  # issue 15: the same job on Ray actors (engine.distributed)
                analysed, failures, k = _ray_call("batch_on_ray", args, store=store, cache=cache, items=items,
                                                  settings=settings, device=args.device,
                                                  batch_size=args.batch_size, recompute=args.recompute)
            else:
                analysed, failures, k = _run(job, args.device, "analyse", args.quiet)
        except BackboneLoadError as exc:
            raise CliError(str(exc)) from None
        for image_id, reason in failures:
            print(f"failed {_show(path_of[image_id])}: {_show(reason)}", file=sys.stderr)
        if settings.n_clusters and not k:
            print("dataset clustering skipped: fewer than two segments to cluster", file=sys.stderr)
        n_props = sum(len(store.segments(i)) for i in analysed)
        print(f"analysed {len(analysed)}/{len(items)} images, {n_props} segments in {_show(paths.database)}")
        n_bad = len(unreadable) + len(failures)
        if n_bad:
            print(f"{n_bad} file(s) could not be read: {len(unreadable)} skipped (known unreadable), "
                  f"{len(failures)} failed now; they are marked unreadable and left out of exports",
                  file=sys.stderr)
        if args.export:
            _export(store, ExportRequest("coco", Path(args.export), states=export_states,
                                         polygons=args.polygons, include_unlabelled=True, force=args.force,
                                         absolute_paths=args.absolute_paths), args.quiet)
    finally:
        store.close()
    return EXIT_SOME_FILES_FAILED if n_bad else 0


def _states(text: str) -> tuple[str, ...]:
    states = tuple(s.strip() for s in text.split(",") if s.strip())
    if not states:
        raise CliError("give at least one segment state, e.g. accepted")
    return states


def _export(store, request, quiet: bool = True) -> None:
    from .curation import run_export
    from .export import ExportError
    from .export.report import ExportTargetExists

    try:
        report = _run(lambda ctx: run_export(ctx, store=store, request=request), "cpu",
                      f"export {request.format}", quiet)
    except ExportTargetExists as exc:
        raise CliError(f"{_show(exc)}: pass --force to replace it") from None
    except (ExportError, UnknownEntryError, ValueError) as exc:
        raise CliError(_show(exc)) from None
    print(f"exported {report.n_annotations} annotations on {report.n_images} images "
          f"({report.n_categories} categories) to {_show(report.path)}")
    for s in report.skipped:
        print(f"  skipped: {_show(s)}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    from .curation import ExportRequest

    store, _ = _open_project(args.folder, create=False, project_dir=args.project)
    try:
        status = tuple(s for s in args.image_status.split(",") if s) if args.image_status else None
        try:
            request = ExportRequest(args.format, Path(args.out), states=_states(args.states), image_status=status,
                                    polygons=args.polygons, include_unlabelled=args.include_unlabelled,
                                    force=args.force, absolute_paths=args.absolute_paths)
        except ValueError as exc:
            raise CliError(str(exc)) from None
        _export(store, request, getattr(args, "quiet", True))
    finally:
        store.close()
    return 0


def _method(name: str):
    from .methods.base import trainable_methods

    methods = trainable_methods()
    if name not in methods:
        raise CliError(f"unknown method {name!r}; available: {', '.join(sorted(methods))}")
    return methods[name]


def _trainable_names() -> list[str]:
    from .methods.base import trainable_methods

    return sorted(trainable_methods())


def cmd_train(args: argparse.Namespace) -> int:
    from .configs import build_config, parse_set_args

    info = _method(args.method)
    try:
        cfg = build_config(info.config_type, parse_set_args(args.set))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if args.validation and not info.accepts("validation"):
        raise CliError(f"{info.name} does not use validation masks")
    if args.labels and not info.accepts("labels"):
        raise CliError(f"{info.name} does not use label masks")
    store, paths = _open_project(args.folder, project_dir=args.project)
    try:
        from .curation import run_training, training_set

        dataset = training_set(store)
        if not dataset.images:
            raise CliError("no readable, non-rejected images to train on")
        workdir = Path(args.workdir) if args.workdir else paths.models / info.name
        extras: dict[str, Any] = {}
        if args.validation:
            from .datasets import paired_masks

            try:
                extras["validation"] = paired_masks(args.validation)
            except (FileNotFoundError, ValueError) as exc:
                raise CliError(str(exc)) from None
        if args.labels:
            masks = [Path(args.labels) / f"{im.path.stem}.png" for im in dataset.images]
            missing = [m.name for m in masks if not m.exists()]
            if missing:
                raise CliError(f"--labels: no mask for {len(missing)} images (e.g. {missing[0]})")
            extras["labels"] = masks
        try:
            ckpt = _run(lambda ctx: run_training(ctx, method=info, training_set=dataset, config=cfg,
                                                 workdir=workdir, **extras),
                        args.device, f"train {info.name}", args.quiet)
        except ValueError as exc:  # e.g. IAL without tags, empty training set
            raise CliError(str(exc)) from None
        print(f"checkpoint: {ckpt}")
        store.set_setting(f"checkpoint.{info.name}", str(ckpt))
        if args.predict:
            _predict(store, info, Path(ckpt), args.device, args.quiet)
    finally:
        store.close()
    return 0


def _predict(store, info, checkpoint: Path, device: str, quiet: bool) -> None:
    from .backbone import BackboneLoadError
    from .curation import predict_into_store, prediction_items

    if not Path(checkpoint).is_file():
        raise CliError(f"{info.title} checkpoint not found: {_show(checkpoint)}")
    items = prediction_items(store)
    try:
        done = _run(lambda ctx: predict_into_store(ctx, info, checkpoint, store, items), device,
                    f"predict {info.name}", quiet)
    except (ValueError, BackboneLoadError) as exc:  # the methods' checkpoint errors are ValueErrors
        raise CliError(_show(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)) from None
    for image_id, reason in done.failures:
        print(f"skipped image {image_id}: {reason}", file=sys.stderr)
    print(f"stored {done.n_proposals} {info.name} proposals on {done.n_images} images")


def _ray_call(name: str, args: argparse.Namespace, **kwargs: Any) -> Any:
    """``--ray``: ``engine.distributed.commands.<name>`` (imports Ray; absent extra = one-line error)."""
    from .distributed import commands
    from .distributed.runtime import RayMissingError

    if args.workers is not None and args.workers < 1:
        raise CliError(f"--workers must be at least 1 (got {args.workers})")
    try:
        return getattr(commands, name)(address=args.ray or None, workers=args.workers,
                                       image_root=args.image_root, quiet=args.quiet, **kwargs)
    except RayMissingError as exc:
        raise CliError(str(exc)) from None


def ray_options(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("--ray", nargs="?", const="", default=None, metavar="ADDRESS",
                    help="run on Ray: a local runtime, or the cluster at ADDRESS (needs the [cluster] extra)")
    sp.add_argument("--workers", type=int, default=None, metavar="N",
                    help="--ray: N actors (default: one per GPU, else one per CPU)")
    sp.add_argument("--image-root", default=None, metavar="DIR",
                    help="--ray: the image folder as the workers see it (default: the same path)")


def cmd_predict(args: argparse.Namespace) -> int:
    info = _method(args.method)
    store, paths = _open_project(args.folder, create=False, project_dir=args.project)
    try:
        ckpt = args.checkpoint or store.get_setting(f"checkpoint.{info.name}")
        if not ckpt:
            raise CliError(f"no checkpoint given and none trained yet for {info.name}")
        if args.ray is not None:
            if not Path(ckpt).is_file():
                raise CliError(f"{info.title} checkpoint not found: {_show(ckpt)}")
            done = _ray_call("predict_on_ray", args, store=store, info=info, checkpoint=Path(ckpt),
                             ledger_dir=paths.models / info.name, device=args.device)
            for image_id, reason in done.failures:
                print(f"skipped image {image_id}: {_show(reason)}", file=sys.stderr)
            print(f"stored {done.n_proposals} {info.name} proposals on {len(done.predicted_ids)} images")
        else:
            _predict(store, info, Path(ckpt), args.device, args.quiet)
    finally:
        store.close()
    return 0


def read_tags_file(path: Path) -> dict[str, list[str]]:
    """``{file name: [tag, ...]}`` from CSV (``file,tag;tag``) or JSON (engine.curation.tags validates)."""
    from .curation.tags import TagsFileError
    from .curation.tags import read_tags_file as read

    try:
        return {row.name: list(row.tags) for row in read(path).rows}
    except TagsFileError as exc:
        raise CliError(str(exc)) from None


def cmd_tags_import(args: argparse.Namespace) -> int:
    from .curation.tags import TagsFileError, import_tags, read_tags_file as read

    try:
        tags_file = read(Path(args.file))  # validated before the project is even opened
    except TagsFileError as exc:
        raise CliError(str(exc)) from None
    store, paths = _open_project(args.folder, project_dir=args.project)
    try:
        report = import_tags(store, tags_file, clear_empty=args.clear_empty)
        print(f"tagged {report.n_tagged} images ({len(report.new_classes)} new classes"
              f"{': ' + ', '.join(report.new_classes[:10]) if report.new_classes else ''})"
              + (f"; cleared the tags of {report.n_cleared}" if report.n_cleared else "")
              + (f"; {report.n_left_alone} rows without tags left their images alone (--clear-empty clears)"
                 if report.n_left_alone else ""))
        if report.unknown:
            more = " ..." if len(report.unknown) > 10 else ""
            print(f"not in the project: {', '.join(report.unknown[:10])}{more}", file=sys.stderr)
    finally:
        store.close()
    return 0


def _import_format_names() -> tuple[str, ...]:
    from .imports import IMPORT_FORMATS

    return IMPORT_FORMATS.names()


def cmd_import(args: argparse.Namespace) -> int:
    """Existing annotations as ``import`` proposals: print the mapping preview, then apply it."""
    from .curation.imports import AnnotationImportError, plan_import, run_import
    from .store import StoreError

    class_map: dict[str, str | None] = {}
    for item in args.map or []:
        src, sep, dst = item.partition("=")
        if not sep or not src.strip():
            raise CliError(f"--map expects SOURCE=TARGET (empty TARGET = do not import), got {item!r}")
        class_map[src.strip()] = dst.strip() or None
    store, _ = _open_project(args.folder)
    try:
        quiet = getattr(args, "quiet", True)
        try:
            plan = _run(lambda ctx: plan_import(store, args.format, Path(args.source), class_map=class_map, ctx=ctx),
                        "cpu", f"read {args.format}", quiet)
        except (AnnotationImportError, UnknownEntryError) as exc:
            raise CliError(str(exc)) from None
        for line in plan.summary_lines():
            print(line)
        if args.dry_run:
            print("dry run: nothing imported")
            return 0
        if not plan.n_segments:
            raise CliError("nothing to import: no annotation matched a project image")
        try:
            report = _run(lambda ctx: run_import(ctx, store=store, plan=plan), "cpu", "import", quiet)
        except StoreError as exc:
            raise CliError(str(exc)) from None
        print(f"imported {report.n_segments} segments on {report.n_images} images as proposals (source "
              f"'import'); {len(report.new_classes)} new classes; undo: {report.undo!r}")
    finally:
        store.close()
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    store, paths = _open_project(args.folder, create=False, project_dir=args.project)
    try:
        images = store.images()
        by_status = defaultdict(int)
        for r in images:
            by_status["error" if r.error else r.status] += 1
        segs = defaultdict(int)
        for r in images:
            for s in store.segments(r.id):
                segs[(s.source, s.state)] += 1
        print(f"project {_show(paths.database)}")
        print("images: " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
        print("classes: " + (", ".join(c.name for c in store.classes()) or "(none)"))
        for (source, state), n in sorted(segs.items()):
            print(f"  {source:<14} {state:<9} {n}")
    finally:
        store.close()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    try:
        report = _run(lambda ctx: args.evaluation_run(args, ctx), args.device, f"eval {args.evaluation}",
                      getattr(args, "quiet", False))
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    print(report.table())
    if args.json:
        Path(args.json).write_text(json.dumps(asdict(report), indent=2))
    if "random_" in str(report.settings.get("backbone", "")):
        print("note: random backbone weights — these figures do not measure the method", file=sys.stderr)
    return 0


# -- parser ----------------------------------------------------------------------------------------

def _format_names() -> tuple[str, ...]:
    from .export import EXPORT_FORMATS

    return EXPORT_FORMATS.names()


class _LazyHelp(str):
    """Help text ending in a registry listing that is only computed when help is printed."""

    def __new__(cls, prefix: str, fn: Callable[[], str]):
        obj = super().__new__(cls, prefix)
        obj._fn = fn
        return obj

    def __mod__(self, params):  # argparse formats help with ``help % params``
        return (str.__str__(self) + self._fn()) % params

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py", description="MaskCurator (no command: open the app)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")

    def project(sp):
        sp.add_argument("--project", metavar="DIR", default=None,
                        help="keep the project data in DIR instead of FOLDER/.maskcurator (e.g. a read-only "
                             "image folder)")

    b = sub.add_parser("batch", help="analyse a folder headless and store DSM proposals")
    b.add_argument("folder")
    b.add_argument("--backbone", default="dino_vits16", help="hub name, random_* or checkpoint path")
    b.add_argument("--max-side", type=int, default=640)
    b.add_argument("--segments", type=int, default=4, help="per-image segments (semantic task)")
    b.add_argument("--clusters", type=int, default=0,
                   help="dataset-wide clusters in total, cluster 0 = background so N-1 foreground "
                        "(0 = skip; at most the number of segments)")
    b.add_argument("--batch-size", type=int, default=8)
    b.add_argument("--no-crf", action="store_true")
    b.add_argument("--no-matting", action="store_true")
    b.add_argument("--recursive", action=argparse.BooleanOptionalAction, default=None,
                   help="also add the images of subfolders (remembered by the project; default: as last time, "
                        "a new project: no)")
    b.add_argument("--recompute", action="store_true",
                   help="ignore cached analyses and replace uncurated proposals")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--export", metavar="JSON", help="also write COCO instances of the proposals")
    b.add_argument("--export-states", default="proposed,accepted")
    b.add_argument("--polygons", action="store_true")
    b.add_argument("--force", action="store_true", help="--export may replace a file that is not a COCO export")
    b.add_argument("--absolute-paths", action="store_true",
                   help="--export: absolute file_name paths (default: relative to the image folder)")
    project(b)
    common(b)
    ray_options(b)
    b.set_defaults(fn=cmd_batch)

    t = sub.add_parser("train", help="train a method on the project's images")
    t.add_argument("method", help=_LazyHelp("a trainable method: ", lambda: ", ".join(_trainable_names())))
    t.add_argument("folder")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)")
    t.add_argument("--workdir", help="checkpoint folder (default <folder>/.maskcurator/models/<method>)")
    t.add_argument("--validation", metavar="DIR",
                   help="images/ + masks/ folder that picks the best checkpoint (ReDO)")
    t.add_argument("--labels", metavar="DIR",
                   help="class-index masks DIR/<image stem>.png: also train STEGO's linear probe")
    t.add_argument("--predict", action="store_true", help="store the trained method's proposals afterwards")
    project(t)
    common(t)
    t.set_defaults(fn=cmd_train)

    pr = sub.add_parser("predict", help="store a trained method's proposals for every image")
    pr.add_argument("method", help=_LazyHelp("a trained method: ", lambda: ", ".join(_trainable_names())))
    pr.add_argument("folder")
    pr.add_argument("--checkpoint", help="default: the last one trained in this project")
    project(pr)
    common(pr)
    ray_options(pr)
    pr.set_defaults(fn=cmd_predict)

    e = sub.add_parser("export", help="export curated segments")
    e.add_argument("folder")
    e.add_argument("--out", required=True, help="a file or a folder, as the format needs")
    e.add_argument("--format", choices=_RegistryChoices(_format_names), default="coco",
                   help="a registered export format: %(choices)s")
    e.add_argument("--states", default="accepted", help="segment states to export, comma separated")
    e.add_argument("--image-status", default="", help="only images with these statuses, e.g. accepted")
    e.add_argument("--polygons", action="store_true", help="polygons instead of RLE where possible")
    e.add_argument("--include-unlabelled", action="store_true", help="unlabelled segments as 'object'")
    e.add_argument("--absolute-paths", action="store_true",
                   help="COCO file_name as absolute paths (default: relative to the image folder)")
    e.add_argument("--force", action="store_true",
                   help="replace an existing file / non-empty folder that is not a previous export of this "
                        "format (an image of the project is never overwritten)")
    project(e)
    e.set_defaults(fn=cmd_export)

    tg = sub.add_parser("tags", help="image-level tags (IAL weak labels)")
    tsub = tg.add_subparsers(dest="tags_command", required=True)
    ti = tsub.add_parser("import", help="read tags from CSV (file,tag;tag) or JSON {file: [tags]}")
    ti.add_argument("folder")
    ti.add_argument("file")
    ti.add_argument("--clear-empty", action="store_true",
                    help="a row without tags clears that image's tags (default: leaves them alone)")
    project(ti)
    ti.set_defaults(fn=cmd_tags_import)

    im = sub.add_parser("import", help="import existing annotations (COCO, labelme, masks) as proposals")
    im.add_argument("folder")
    im.add_argument("source", help="the annotation file or folder")
    im.add_argument("--format", required=True, choices=_RegistryChoices(_import_format_names),
                    help="a registered import format: %(choices)s")
    im.add_argument("--map", action="append", metavar="SOURCE=TARGET",
                    help="import class SOURCE as project class TARGET (empty TARGET: skip it); repeatable")
    im.add_argument("--dry-run", action="store_true", help="only print the class / image mapping")
    im.set_defaults(fn=cmd_import)

    i = sub.add_parser("info", help="summary of a project")
    i.add_argument("folder")
    project(i)
    i.set_defaults(fn=cmd_info)

    from . import evaluation

    ev = sub.add_parser("eval", help="evaluate a method against ground truth (../shared/data layout)")
    evaluation.add_arguments(ev, common)
    ev.set_defaults(fn=cmd_eval)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    from .store import StoreError

    try:
        return int(args.fn(args) or 0)
    except CliError as exc:
        print(f"error: {_show(exc)}", file=sys.stderr)
        return 2
    except StoreError as exc:  # a full disk, a busy or read-only project while saving
        print(f"error: {_show(exc)}", file=sys.stderr)
        return 2
    except OSError as exc:  # a folder that vanished, a full disk outside the store
        from .fileio import describe_os_error

        where = f"{_show(exc.filename)}: " if exc.filename else ""
        print(f"error: {where}{describe_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: everything stored so far is kept", file=sys.stderr)
        return 130
