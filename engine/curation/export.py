"""Export of the curated store, as one job both the Export dialog and ``main.py export`` run.

Why: the format is looked up in the export-format registry (``engine.export.formats``) instead of
being dispatched on strings in the app and the CLI; a new format registered by a new module in
``engine/export/`` appears in both without changes here. ``ExportError`` propagates with its message.

Before anything is written, the target is checked here, once for every format: an image of the
project (or the project's own files, or a folder holding its images) is never overwritten, and an
existing file or non-empty folder that is not a previous export of the same format is only replaced
with ``ExportRequest.force`` (else :class:`ExportTargetExists`, which a dialog turns into "replace?").
Temporaries a killed export left next to the target are removed first.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..export.formats import EXPORT_FORMATS, ExportFormat, ExportRequest, export_format
from ..export.report import ExportError, ExportReport, ExportTargetExists
from ..fileio import atomic_write_json, clean_stale_temporaries
from ..jobs import JobContext

__all__ = ["EXPORT_FORMATS", "ExportError", "ExportFormat", "ExportReport", "ExportRequest", "ExportTargetExists",
           "check_export_target", "export_formats", "run_export"]

#: Project setting listing the targets this project exported, per format (recognised without force).
_HISTORY_KEY = "export.history"


def export_formats() -> list[ExportFormat]:
    """Registered formats, sorted by name (what a dialog or ``--format`` offers)."""
    return EXPORT_FORMATS.values()


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _is_within(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def _history(store) -> dict[str, list[str]]:
    try:
        value = store.get_setting(_HISTORY_KEY, {})
    except Exception:  # noqa: BLE001 - a damaged setting only costs the recognition
        return {}
    return value if isinstance(value, dict) else {}


def check_export_target(store, fmt: ExportFormat, request: ExportRequest) -> None:
    """Raise ExportError if writing ``request.out`` would destroy something it must not.

    Never (even with ``force``): a file that is an image of the project or the project database; for
    a folder format, a folder that holds images of the project or the project's data. Without
    ``force``: an existing file / non-empty folder that neither this project exported before with
    the same format nor the format recognises as its own (:class:`ExportTargetExists`).
    """
    out = Path(request.out).expanduser()
    real = _real(out)
    images = {_real(Path(r.path)) for r in store.images()}
    data_dir = _real(store.path.parent)
    if fmt.target == "file":
        if real in images:
            raise ExportError(f"refusing to write the export over {out}: it is an image of this project")
        if real == _real(store.path) or (real.parent == data_dir and real.name.startswith(store.path.name)):
            raise ExportError(f"refusing to write the export over {out}: it is the project database")
        if os.path.lexists(out) and not out.is_file():
            raise ExportError(f"{out} is {'a folder' if out.is_dir() else 'not a regular file'}; "
                              f"give a file name such as {fmt.default_name}")
    else:
        if os.path.lexists(out) and not out.is_dir():
            raise ExportError(f"{out} is a file; the {fmt.title} export needs a folder")
        holding = next((p for p in sorted(images) if _is_within(p, real)), None)
        if holding is not None:
            raise ExportError(f"refusing to replace {out}: it holds images of this project "
                              f"({holding.name}); choose an empty or new folder")
        if _is_within(data_dir, real):
            raise ExportError(f"refusing to replace {out}: it holds the project's data")
    if request.force or not os.path.lexists(out):
        return
    if fmt.target == "folder" and not any(out.iterdir()):
        return
    if str(real) in _history(store).get(fmt.name, []):
        return
    if fmt.recognise is not None:
        try:
            if fmt.recognise(out):
                return
        except Exception:  # noqa: BLE001 - an unreadable target is simply not recognised
            pass
    if fmt.target == "folder":
        from ..export.atomic import marker_format

        if marker_format(out) == fmt.name:
            return
    what = "file" if fmt.target == "file" else "non-empty folder"
    raise ExportTargetExists(out, f"{out} exists and is not a previous {fmt.title} export; replacing this "
                                  f"{what} needs force (--force)")


def _remember(store, fmt: ExportFormat, out: Path) -> None:
    history = _history(store)
    targets = [t for t in history.get(fmt.name, []) if isinstance(t, str)]
    real = str(_real(out))
    if real not in targets:
        history[fmt.name] = (targets + [real])[-50:]
        try:
            store.set_setting(_HISTORY_KEY, history)
        except Exception:  # noqa: BLE001 - the export is written; only the recognition is lost
            pass


def run_export(ctx: JobContext, *, store, request: ExportRequest) -> ExportReport:
    """Check the target, then write ``request`` with its registered format; returns its ExportReport.

    Raises ExportError (ExportTargetExists when ``request.force`` would allow it) with one line."""
    fmt = export_format(request.format)
    check_export_target(store, fmt, request)
    out = Path(request.out).expanduser()
    if out.parent.is_dir():
        clean_stale_temporaries(out)
    ctx.progress(0.0, f"Exporting {fmt.title}")
    report = fmt.write(store, out, request, ctx)
    if fmt.target == "folder" and fmt.recognise is None and out.is_dir():
        from ..export.atomic import MARKER

        if not (out / MARKER).exists():  # lets the next export recognise the folder as this format's
            try:
                atomic_write_json(out / MARKER, {"format": fmt.name})
            except OSError:
                pass
    _remember(store, fmt, out)
    ctx.progress(1.0, "Export written")
    return report
