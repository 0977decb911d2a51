"""Opening (or creating) the project of an image folder: the one flow the app and the CLI share.

Why here: both used to check the folder, list its images, create ``.maskcurator/`` and open the store
with their own messages; now a failure is one :class:`ProjectOpenError` with a title and a one-line
reason that either front end shows as it is.
"""

from __future__ import annotations

from pathlib import Path

from ..imageio import IMAGE_SUFFIXES, list_images
from ..project import ProjectPaths, project_paths


class ProjectOpenError(Exception):
    """A folder that cannot be opened as a project; ``title`` is a short heading for a dialog."""

    def __init__(self, title: str, message: str):
        super().__init__(message)
        self.title = title


def open_project(folder: str | Path, create: bool = True):
    """``(store, paths)`` of ``folder``'s project. With ``create`` a missing project is made and new
    images in the folder are added; without it a folder that has no project is an error."""
    from ..store import ProjectStore

    paths: ProjectPaths = project_paths(folder)
    if not paths.folder.is_dir():
        raise ProjectOpenError("Cannot open folder", f"not a folder: {paths.folder}")
    if not create and not paths.database.exists():
        raise ProjectOpenError("No project", f"no MaskCurator project in {paths.folder} "
                                             f"(run `main.py batch {folder}` first)")
    try:
        images = list_images(paths.folder) if create else []
    except OSError as exc:
        raise ProjectOpenError("Cannot open folder", f"{paths.folder}: {exc}") from None
    if create and not images and not paths.database.exists():
        formats = ", ".join(sorted(s.lstrip(".") for s in IMAGE_SUFFIXES))
        raise ProjectOpenError("No images", f"no images found in {paths.folder} (supported: {formats})")
    try:
        paths.ensure()
        store = ProjectStore.open(paths.database)
        if create:
            store.add_images(images)
    except Exception as exc:  # StoreError (corrupt / too new / busy), permissions, a full disk
        raise ProjectOpenError("Cannot open project", f"{paths.database}: {exc}") from None
    return store, paths
