"""Headless command line: ``python main.py <command> ...``.

The CLI runs exactly the code the app runs (pipeline, trainable methods, store, exporters) through
:func:`engine.jobs.run_sync`, so a dataset can be precomputed on a GPU server and curated later in
the app, or pseudo-labelled end to end without a display.

Commands::

    batch FOLDER      analyse every image (DSM), cluster the dataset, store proposals, optionally export
    train METHOD DIR  train STEGO / ReDO / IAL on the project's images (--set key=value overrides)
    predict METHOD DIR --checkpoint CKPT   store a trained method's proposals for every image
    eval ...          evaluation against ground truth (see ``eval --help``)
    export DIR        write COCO instances JSON or semantic PNGs from the curated store
    tags import DIR FILE   image-level tags (CSV ``file,tag;tag`` or JSON ``{file: [tags]}``) for IAL
    info DIR          what the project holds
"""

from __future__ import annotations

import argparse
import csv
import inspect
import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

from .imageio import list_images
from .project import project_paths

log = logging.getLogger("maskcurator")


class CliError(Exception):
    """A user-facing failure: printed without a traceback, exit status 2."""


# -- helpers ---------------------------------------------------------------------------------------

class _Progress:
    """tqdm bar fed by ``ctx.progress(fraction, message)``."""

    def __init__(self, desc: str, quiet: bool = False):
        from tqdm import tqdm

        self.bar = tqdm(total=1000, desc=desc, unit="‰", disable=quiet, file=sys.stderr,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")

    def __call__(self, fraction: float, message: str) -> None:
        self.bar.update(max(0, int(fraction * 1000) - self.bar.n))
        if message:
            self.bar.set_postfix_str(message[:60], refresh=False)

    def close(self) -> None:
        self.bar.close()


def _run(fn: Callable, device: str, desc: str, quiet: bool) -> Any:
    from .jobs import run_sync

    bar = _Progress(desc, quiet)
    try:
        return run_sync(fn, device, bar)
    finally:
        bar.close()


def _open_project(folder: str, create: bool = True):
    from .store import ProjectStore

    paths = project_paths(folder)
    if not paths.folder.is_dir():
        raise CliError(f"not a folder: {paths.folder}")
    if not create and not paths.database.exists():
        raise CliError(f"no MaskCurator project in {paths.folder} (run `main.py batch {folder}` first)")
    images = list_images(paths.folder)
    if create and not images and not paths.database.exists():
        raise CliError(f"no images found in {paths.folder} (supported: jpg, png, bmp, tif, webp, gif)")
    paths.ensure()
    from .store import StoreError

    try:
        store = ProjectStore.open(paths.database)
    except StoreError as exc:
        raise CliError(str(exc)) from None
    if create:
        store.add_images(images)
    return store, paths


def _store_proposals(store, image_id: int, proposals: Sequence) -> int:
    by_source = defaultdict(list)
    for p in proposals:
        by_source[p.source].append(p)
    for source, props in by_source.items():
        store.replace_proposals(image_id, source, props)
    return sum(len(v) for v in by_source.values())


# -- commands --------------------------------------------------------------------------------------

def cmd_batch(args: argparse.Namespace) -> int:
    from .pipeline import AnalysisStore, Analyzer, SpectralSettings, cluster_dataset

    store, paths = _open_project(args.folder)
    try:
        settings = SpectralSettings(backbone=args.backbone, max_side=args.max_side, n_segments=args.segments,
                                    crf=not args.no_crf, matting=not args.no_matting)
        records = [r for r in store.images() if not r.error]
        bad = [r for r in store.images() if r.error]
        for r in bad:
            print(f"skipped {r.path}: {r.error}", file=sys.stderr)
        cache = AnalysisStore(paths.analysis_cache)
        files = [Path(r.path) for r in records]  # the store gives absolute paths

        def job(ctx):
            analyzer = Analyzer(settings, ctx.device, cache_dir=paths.feature_cache)
            results: list = [None] * len(files)
            todo = []
            for i, f in enumerate(files):
                hit = None if args.recompute else cache.get(f, settings)
                if hit is not None:
                    results[i] = hit
                else:
                    todo.append(i)
            for start in range(0, len(todo), args.batch_size):
                chunk = todo[start:start + args.batch_size]
                outs = analyzer.analyze_many([files[i] for i in chunk], None, batch_size=args.batch_size)
                for i, out in zip(chunk, outs):
                    results[i] = out
                    if not isinstance(out, Exception):
                        cache.put(out, settings)
                        _store_proposals(store, records[i].id, out.proposals)
                ctx.progress(min(1.0, (start + len(chunk)) / max(len(todo), 1)),
                             f"{start + len(chunk)}/{len(todo)} images")
            return results

        from .backbone import BackboneLoadError

        try:
            results = _run(job, args.device, "analyse", args.quiet)
        except BackboneLoadError as exc:
            raise CliError(str(exc)) from None
        ok = [(r, a) for r, a in zip(records, results) if not isinstance(a, Exception)]
        for r, a in zip(records, results):
            if isinstance(a, Exception):
                print(f"failed {r.path}: {a}", file=sys.stderr)
        if args.clusters and ok:
            clustered = cluster_dataset([a for _, a in ok], args.clusters, seed=args.seed)
            for r, a in ok:
                store.replace_proposals(r.id, "dsm.semantic", clustered.get(a.path, []))
        n_props = sum(len(store.segments(r.id)) for r, _ in ok)
        print(f"analysed {len(ok)}/{len(records)} images, {n_props} segments in {paths.database}")
        if args.export:
            _export(store, Path(args.export), "coco", states=tuple(args.export_states.split(",")),
                    polygons=args.polygons, include_unlabelled=True)
    finally:
        store.close()
    return 0


def _export(store, out: Path, fmt: str, states: tuple[str, ...], polygons: bool,
            include_unlabelled: bool, image_status: tuple[str, ...] | None = None) -> None:
    from .export import ExportError, export_coco, export_semantic_pngs

    try:
        if fmt == "coco":
            report = export_coco(store, out, states=states, image_status=image_status, polygons=polygons,
                                 include_unlabelled=include_unlabelled)
        else:
            report = export_semantic_pngs(store, out, states=states, image_status=image_status)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    print(f"exported {report.n_annotations} annotations on {report.n_images} images "
          f"({report.n_categories} categories) to {report.path}")
    for s in report.skipped:
        print(f"  skipped: {s}", file=sys.stderr)


def cmd_export(args: argparse.Namespace) -> int:
    store, _ = _open_project(args.folder, create=False)
    try:
        status = tuple(args.image_status.split(",")) if args.image_status else None
        _export(store, Path(args.out), args.format, tuple(args.states.split(",")), args.polygons,
                args.include_unlabelled, status)
    finally:
        store.close()
    return 0


def _method(name: str):
    from .methods.base import trainable_methods

    methods = trainable_methods()
    if name not in methods:
        raise CliError(f"unknown method {name!r}; available: {', '.join(sorted(methods))}")
    return methods[name]


def cmd_train(args: argparse.Namespace) -> int:
    from .configs import build_config, parse_set_args

    info = _method(args.method)
    try:
        cfg = build_config(info.config_type, parse_set_args(args.set))
    except ValueError as exc:
        raise CliError(str(exc)) from None
    store, paths = _open_project(args.folder)
    try:
        from .curation import training_set

        dataset = training_set(store)
        if not dataset.images:
            raise CliError("no readable, non-rejected images to train on")
        workdir = Path(args.workdir) if args.workdir else paths.models / info.name
        workdir.mkdir(parents=True, exist_ok=True)
        kwargs = {}
        if args.validation:
            if "validation" not in inspect.signature(info.train).parameters:
                raise CliError(f"{info.name} does not use validation masks")
            from .datasets import paired_masks

            try:
                kwargs["validation"] = paired_masks(args.validation)
            except (FileNotFoundError, ValueError) as exc:
                raise CliError(str(exc)) from None
        if args.labels:
            if "labels" not in inspect.signature(info.train).parameters:
                raise CliError(f"{info.name} does not use label masks")
            masks = [Path(args.labels) / f"{im.path.stem}.png" for im in dataset.images]
            missing = [m.name for m in masks if not m.exists()]
            if missing:
                raise CliError(f"--labels: no mask for {len(missing)} images (e.g. {missing[0]})")
            kwargs["labels"] = masks
        try:
            ckpt = _run(lambda ctx: info.train(dataset, cfg, ctx, workdir, **kwargs), args.device,
                        f"train {info.name}", args.quiet)
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
    from .curation import predict_into_store, prediction_items

    items = prediction_items(store)
    done = _run(lambda ctx: predict_into_store(ctx, info, checkpoint, store, items), device,
                f"predict {info.name}", quiet)
    for image_id, reason in done.failures:
        print(f"skipped image {image_id}: {reason}", file=sys.stderr)
    print(f"stored {done.n_proposals} {info.name} proposals on {done.n_images} images")


def cmd_predict(args: argparse.Namespace) -> int:
    info = _method(args.method)
    store, paths = _open_project(args.folder, create=False)
    try:
        ckpt = args.checkpoint or store.get_setting(f"checkpoint.{info.name}")
        if not ckpt:
            raise CliError(f"no checkpoint given and none trained yet for {info.name}")
        _predict(store, info, Path(ckpt), args.device, args.quiet)
    finally:
        store.close()
    return 0


def read_tags_file(path: Path) -> dict[str, list[str]]:
    """``{file name: [tag, ...]}`` from CSV (``file,tag;tag``) or JSON."""
    if not path.is_file():
        raise CliError(f"tags file not found: {path}")
    if path.suffix.lower() == ".json":
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise CliError(f"{path.name} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise CliError(f"{path.name}: expected an object {{file: [tags]}}")
        return {str(k): [str(t) for t in v] for k, v in data.items()}
    out = {}
    with path.open(newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#"):
                continue
            tags = [t.strip() for cell in row[1:] for t in cell.split(";") if t.strip()]
            out[row[0].strip()] = tags
    return out


def cmd_tags_import(args: argparse.Namespace) -> int:
    store, paths = _open_project(args.folder)
    try:
        mapping = read_tags_file(Path(args.file))
        classes = {c.name: c.id for c in store.classes()}
        by_name = {Path(r.path).name: r for r in store.images()}
        unknown = []
        for fname, tags in mapping.items():
            record = by_name.get(Path(fname).name)
            if record is None:
                unknown.append(fname)
                continue
            for t in tags:
                if t not in classes:
                    classes[t] = store.add_class(t).id
            store.set_image_tags(record.id, [classes[t] for t in tags])
        print(f"tagged {len(mapping) - len(unknown)} images with {len(classes)} classes")
        if unknown:
            print(f"not in the project: {', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''}",
                  file=sys.stderr)
    finally:
        store.close()
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    store, paths = _open_project(args.folder, create=False)
    try:
        images = store.images()
        by_status = defaultdict(int)
        for r in images:
            by_status["error" if r.error else r.status] += 1
        segs = defaultdict(int)
        for r in images:
            for s in store.segments(r.id):
                segs[(s.source, s.state)] += 1
        print(f"project {paths.database}")
        print("images: " + ", ".join(f"{k} {v}" for k, v in sorted(by_status.items())))
        print("classes: " + (", ".join(c.name for c in store.classes()) or "(none)"))
        for (source, state), n in sorted(segs.items()):
            print(f"  {source:<14} {state:<9} {n}")
    finally:
        store.close()
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from . import evaluation

    return evaluation.run(args)


# -- parser ----------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="main.py", description="MaskCurator (no command: open the app)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    sub = p.add_subparsers(dest="command", required=True)

    def common(sp):
        sp.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N (default auto)")
        sp.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bars")

    b = sub.add_parser("batch", help="analyse a folder headless and store DSM proposals")
    b.add_argument("folder")
    b.add_argument("--backbone", default="dino_vits16", help="hub name, random_* or checkpoint path")
    b.add_argument("--max-side", type=int, default=640)
    b.add_argument("--segments", type=int, default=4, help="per-image segments (semantic task)")
    b.add_argument("--clusters", type=int, default=0, help="dataset-wide clusters (0 = skip)")
    b.add_argument("--batch-size", type=int, default=8)
    b.add_argument("--no-crf", action="store_true")
    b.add_argument("--no-matting", action="store_true")
    b.add_argument("--recompute", action="store_true", help="ignore cached analyses")
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--export", metavar="JSON", help="also write COCO instances of the proposals")
    b.add_argument("--export-states", default="proposed,accepted")
    b.add_argument("--polygons", action="store_true")
    common(b)
    b.set_defaults(fn=cmd_batch)

    t = sub.add_parser("train", help="train a method (stego, redo, ial) on the project's images")
    t.add_argument("method")
    t.add_argument("folder")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="config override (repeatable)")
    t.add_argument("--workdir", help="checkpoint folder (default <folder>/.maskcurator/models/<method>)")
    t.add_argument("--validation", metavar="DIR",
                   help="images/ + masks/ folder that picks the best checkpoint (ReDO)")
    t.add_argument("--labels", metavar="DIR",
                   help="class-index masks DIR/<image stem>.png: also train STEGO's linear probe")
    t.add_argument("--predict", action="store_true", help="store the trained method's proposals afterwards")
    common(t)
    t.set_defaults(fn=cmd_train)

    pr = sub.add_parser("predict", help="store a trained method's proposals for every image")
    pr.add_argument("method")
    pr.add_argument("folder")
    pr.add_argument("--checkpoint", help="default: the last one trained in this project")
    common(pr)
    pr.set_defaults(fn=cmd_predict)

    e = sub.add_parser("export", help="export curated segments")
    e.add_argument("folder")
    e.add_argument("--out", required=True, help="COCO json path, or a folder for --format semantic")
    e.add_argument("--format", choices=("coco", "semantic"), default="coco")
    e.add_argument("--states", default="accepted", help="segment states to export, comma separated")
    e.add_argument("--image-status", default="", help="only images with these statuses, e.g. accepted")
    e.add_argument("--polygons", action="store_true", help="polygons instead of RLE where possible")
    e.add_argument("--include-unlabelled", action="store_true", help="unlabelled segments as 'object'")
    e.set_defaults(fn=cmd_export)

    tg = sub.add_parser("tags", help="image-level tags (IAL weak labels)")
    tsub = tg.add_subparsers(dest="tags_command", required=True)
    ti = tsub.add_parser("import", help="read tags from CSV (file,tag;tag) or JSON {file: [tags]}")
    ti.add_argument("folder")
    ti.add_argument("file")
    ti.set_defaults(fn=cmd_tags_import)

    i = sub.add_parser("info", help="summary of a project")
    i.add_argument("folder")
    i.set_defaults(fn=cmd_info)

    from . import evaluation

    ev = sub.add_parser("eval", help="evaluate a method against ground truth (../shared/data layout)")
    evaluation.add_arguments(ev)
    common(ev)
    ev.set_defaults(fn=cmd_eval)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: everything stored so far is kept", file=sys.stderr)
        return 130
