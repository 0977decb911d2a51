"""Where a project's files live: everything MaskCurator writes sits in ``<folder>/.maskcurator/``.

Keeping the database, caches and trained models next to the images means a dataset folder can be
moved or shared as one unit, and deleting ``.maskcurator`` resets the project without touching images.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PROJECT_DIRNAME = ".maskcurator"


@dataclass(frozen=True)
class ProjectPaths:
    folder: Path

    @property
    def root(self) -> Path:
        return self.folder / PROJECT_DIRNAME

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


def project_paths(folder: str | Path) -> ProjectPaths:
    """Paths of the project for an image folder (or for a ``project.sqlite`` path inside one)."""
    p = Path(folder).expanduser().resolve()
    if p.is_file() and p.parent.name == PROJECT_DIRNAME:
        p = p.parent.parent
    return ProjectPaths(p)
