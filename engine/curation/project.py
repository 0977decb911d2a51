"""Opening (or creating) the project of an image folder: the one flow the app and the CLI share.

Why here: both used to check the folder, list its images, create ``.maskcurator/`` and open the store
with their own messages; now a failure is one :class:`ProjectOpenError` with a title and a one-line
reason that either front end shows as it is.

Where the data lives: ``<folder>/.maskcurator/`` by default; ``project_dir`` puts it elsewhere (the
CLI's ``--project DIR``); an image folder that cannot be written (read-only media, someone else's
dataset) falls back to a per-user folder (:func:`engine.project.fallback_data_dir`), said in
``paths.notice``. Image paths are stored relative to the image folder either way.
"""

from __future__ import annotations

import errno
from pathlib import Path

from ..fileio import describe_os_error
from ..imageio import IMAGE_SUFFIXES, scan_images
from ..project import ProjectPaths, fallback_data_dir, project_paths

_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}


class ProjectOpenError(Exception):
    """A folder that cannot be opened as a project; ``title`` is a short heading for a dialog."""

    def __init__(self, title: str, message: str):
        super().__init__(message)
        self.title = title


def _with_data_dir(paths: ProjectPaths, data_dir: Path, notice: str) -> ProjectPaths:
    return ProjectPaths(paths.folder, data_dir, notice)


def _prepare(paths: ProjectPaths, explicit: bool) -> ProjectPaths:
    """Create the data folders; a non-writable image folder moves them to the per-user fallback."""
    try:
        paths.ensure()
        return paths
    except OSError as exc:
        if explicit or exc.errno not in _NOT_WRITABLE:
            raise ProjectOpenError("Cannot open project",
                                   f"cannot create the project data folder {paths.root}: {describe_os_error(exc)}"
                                   ) from None
        reason = describe_os_error(exc)
    fallback = _with_data_dir(paths, fallback_data_dir(paths.folder),
                              f"the image folder {paths.folder} cannot be written ({reason}); project data is "
                              f"kept in {fallback_data_dir(paths.folder)} (choose a place with --project DIR)")
    try:
        fallback.ensure()
    except OSError as exc:
        raise ProjectOpenError("Cannot open project",
                               f"the image folder {paths.folder} cannot be written ({reason}) and neither can "
                               f"{fallback.root} ({describe_os_error(exc)}); choose a place with --project DIR"
                               ) from None
    return fallback


def open_project(folder: str | Path, create: bool = True, project_dir: str | Path | None = None):
    """``(store, paths)`` of ``folder``'s project. With ``create`` a missing project is made and new
    images in the folder are added (entries that only look like images — a folder named ``x.jpg``, a
    symlink loop — are added as unreadable, with the reason); without it a folder that has no project
    is an error. ``project_dir``: where the project data lives (default ``<folder>/.maskcurator``, or the
    per-user fallback when the folder is read-only; ``paths.notice`` then says so)."""
    from ..store import ProjectStore

    paths: ProjectPaths = project_paths(folder, project_dir)
    if not paths.folder.is_dir():
        raise ProjectOpenError("Cannot open folder", f"not a folder: {paths.folder}")
    if project_dir is None and not paths.database.exists():
        fallback = fallback_data_dir(paths.folder)
        if (fallback / paths.database.name).exists():  # made earlier because the folder was read-only
            paths = _with_data_dir(paths, fallback, f"project data of {paths.folder} is kept in {fallback}")
    if not create and not paths.database.exists():
        raise ProjectOpenError("No project", f"no MaskCurator project in {paths.root} "
                                             f"(run `main.py batch {folder}` first)")
    try:
        scan = scan_images(paths.folder) if create else None
    except OSError as exc:
        raise ProjectOpenError("Cannot open folder", f"{paths.folder}: {describe_os_error(exc)}") from None
    if create and not scan.images and not scan.problems and not paths.database.exists():
        formats = ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
        raise ProjectOpenError("No images", f"no images found in {paths.folder} (supported: {formats})")
    if create:
        paths = _prepare(paths, explicit=project_dir is not None)
    try:
        store = ProjectStore.open(paths.database, image_root=paths.folder)
    except Exception as exc:  # StoreError (corrupt / too new / busy / full disk), permissions
        raise ProjectOpenError("Cannot open project", str(exc)) from None
    if create:
        try:
            store.add_images(scan.images, errors=dict(scan.problems))
        except Exception as exc:  # noqa: BLE001 - a full disk while adding: one line, store closed
            store.close()
            raise ProjectOpenError("Cannot open project", f"{paths.database}: {exc}") from None
    return store, paths
