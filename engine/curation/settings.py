"""Analysis settings of a curation project, shared by the app (Preferences) and ``main.py batch``.

Why: what the user chooses (backbone, resolution, segments, dataset clusters, CRF, matting) used to be
spelled twice, once in the app and once in the CLI's flags. One frozen dataclass, validated up front
with a clear message, maps onto the pipeline's :class:`~engine.pipeline.SpectralSettings` through
:meth:`CurationSettings.spectral`; ``n_clusters`` and ``seed`` only steer the dataset-wide clustering.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CurationSettings:
    backbone: str = "dino_vits16"  # hub / random_* name or a checkpoint path
    max_side: int = 640  # feature resolution (longest side fed to the ViT)
    n_segments: int = 4  # per-image segments (DSM semantic step)
    n_clusters: int = 6  # dataset-wide clusters; 0 = no clustering (fewer than 2 usable: skipped)
    crf: bool = True  # dense-CRF refinement of the object mask
    matting: bool = True  # matting alpha of the object
    seed: int = 0  # dataset clustering seed (not part of the per-image analysis)

    def __post_init__(self) -> None:
        problems = []
        if not isinstance(self.backbone, str) or not self.backbone.strip():
            problems.append("backbone must be a model name or a checkpoint path")
        if not isinstance(self.max_side, int) or self.max_side < 16:
            problems.append(f"max_side must be an integer >= 16 pixels (got {self.max_side!r})")
        if not isinstance(self.n_segments, int) or self.n_segments < 1:
            problems.append(f"n_segments must be an integer >= 1 (got {self.n_segments!r})")
        if not isinstance(self.n_clusters, int) or self.n_clusters < 0:
            problems.append(f"n_clusters must be an integer >= 0, 0 = no dataset clustering (got {self.n_clusters!r})")
        if problems:
            raise ValueError("invalid analysis settings: " + "; ".join(problems))

    def spectral(self):
        """The per-image pipeline settings (``engine.pipeline.SpectralSettings``) these imply."""
        from ..pipeline import SpectralSettings

        return SpectralSettings(backbone=self.backbone, max_side=self.max_side, n_segments=self.n_segments,
                                crf=self.crf, matting=self.matting)


def as_spectral(settings):
    """``CurationSettings`` → its SpectralSettings; a SpectralSettings is returned unchanged."""
    return settings.spectral() if isinstance(settings, CurationSettings) else settings
