"""Where a project's files live: everything MaskCurator writes sits in ``<folder>/.maskcurator/``.

Keeping the database, caches and trained models next to the images means a dataset folder can be
moved or shared as one unit, and deleting ``.maskcurator`` resets the project without touching images.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PROJECT_DIRNAME = ".maskcurator"


@dataclass(frozen=True)
class ProjectPaths:
    """``folder``: the image folder; ``data_dir``: where the project data lives when not in
    ``<folder>/.maskcurator`` (a read-only image folder, ``--project DIR``); ``notice``: why, for the user."""

    folder: Path
    data_dir: Path | None = None
    notice: str = field(default="", compare=False)

    @property
    def root(self) -> Path:
        return self.data_dir if self.data_dir is not None else self.folder / PROJECT_DIRNAME

    @property
    def database(self) -> Path:
        return self.root / "project.sqlite"

    @property
    def feature_cache(self) -> Path:
        return self.root / "cache" / "features"

    @property
    def analysis_cache(self) -> Path:
        return self.root / "cache" / "analysis"

    @property
    def models(self) -> Path:
        return self.root / "models"

    def ensure(self) -> "ProjectPaths":
        for d in (self.root, self.feature_cache, self.analysis_cache, self.models):
            d.mkdir(parents=True, exist_ok=True)
        return self


def project_paths(folder: str | Path, data_dir: str | Path | None = None) -> ProjectPaths:
    """Paths of the project for an image folder (or for a ``project.sqlite`` path inside one);
    ``data_dir``: keep the project data there instead of ``<folder>/.maskcurator``."""
    p = Path(folder).expanduser().resolve()
    if p.is_file() and p.parent.name == PROJECT_DIRNAME:
        p = p.parent.parent
    return ProjectPaths(p, None if data_dir is None else Path(data_dir).expanduser().resolve())


def fallback_data_dir(folder: Path) -> Path:
    """Per-user place for the data of a project whose image folder cannot be written (read-only media,
    a shared dataset): ``$MASKCURATOR_DATA_HOME`` or ``$XDG_DATA_HOME/maskcurator`` (``~/.local/share``),
    then ``projects/<folder name>-<hash of its path>``."""
    import hashlib
    import os

    base = os.environ.get("MASKCURATOR_DATA_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share"), "maskcurator")
    digest = hashlib.sha1(os.fsencode(str(folder))).hexdigest()[:12]
    name = "".join(c if c.isalnum() or c in "-_." else "_" for c in folder.name) or "root"
    return Path(base) / "projects" / f"{name}-{digest}"
