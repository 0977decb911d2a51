"""Prompted refinement as engine jobs: the app's Prompt tool (and any headless caller) runs these.

Why a session object: the per-image graph and its factorisation (:class:`engine.prompts.PromptContext`)
cost far more than a click, so they are built once per image on the engine thread and kept for the
last few images; every click is then one cheap ``refine`` job (latest request wins in the app).
Where real ViT weights are loaded, the image's patch features (from the feature cache) join the graph;
with ``random_*`` weights they would only add noise (and the weight-free ``filters`` features repeat what the
colour graph already holds; not evaluated with clicks), so the weight-free graph is used alone.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..backbone import BackboneLoadError
from ..imageio import load_image
from ..jobs import JobContext
from ..prompts import PromptContext, Prompts, refine
from .analysis import AnalyzerHolder
from .settings import CurationSettings


@dataclass(frozen=True)
class PromptDone:
    image_id: int
    prompts: Prompts
    mask: np.ndarray  # bool (H, W), full resolution
    score: float
    seconds: float  # this refinement (the per-image build is in ``build_seconds``)
    build_seconds: float = 0.0


class PromptSessions:
    """Per-image prompt contexts, touched only on the engine thread (an LRU of a few images)."""

    def __init__(self, holder: AnalyzerHolder | None = None, size: int = 3):
        self.holder, self.size = holder, size
        self._items: OrderedDict[Path, tuple[np.ndarray, PromptContext]] = OrderedDict()

    def get(self, path: Path, settings: CurationSettings | None, device) -> tuple[np.ndarray, PromptContext, float]:
        """(rgb, context, seconds spent building it now — 0 for a cached one)."""
        path = Path(path)
        if path in self._items:
            self._items.move_to_end(path)
            rgb, context = self._items[path]
            return rgb, context, 0.0
        t0 = time.perf_counter()
        rgb = load_image(path)
        context = PromptContext.build(rgb, self._features(path, rgb, settings, device))
        self._items[path] = (rgb, context)
        while len(self._items) > self.size:
            self._items.popitem(last=False)
        return rgb, context, time.perf_counter() - t0

    def _features(self, path: Path, rgb: np.ndarray, settings: CurationSettings | None, device):
        """Cached ViT patch features when real weights are in use, else None (weight-free graph)."""
        from ..backbone import FILTER_MODELS

        if (self.holder is None or settings is None or settings.backbone.startswith("random_")
                or settings.backbone in FILTER_MODELS):  # the graph already holds colour/texture
            return None
        try:
            return self.holder.get(settings, device).provider.features_for(path, rgb)
        except BackboneLoadError:
            return None


def prepare_prompts(ctx: JobContext, *, sessions: PromptSessions, path: Path,
                    settings: CurationSettings | None = None) -> float:
    """Build (or find) the image's prompt context ahead of the first click; returns the build time."""
    ctx.progress(0.0, f"Preparing prompts for {Path(path).name}")
    return sessions.get(path, settings, ctx.device)[2]


def refine_prompts(ctx: JobContext, *, sessions: PromptSessions, image_id: int, path: Path, prompts: Prompts,
                   prior: np.ndarray | None = None, previous: np.ndarray | None = None,
                   settings: CurationSettings | None = None, out_hw: tuple[int, int] | None = None) -> PromptDone:
    """The mask for ``prompts`` (refining ``prior``, an existing segment's mask, when given, and
    correcting ``previous``, the answer to the previous prompts; see :func:`engine.prompts.refine`),
    at full resolution or at ``out_hw`` (a preview of a huge photo)."""
    rgb, context, build = sessions.get(path, settings, ctx.device)
    ctx.check_cancelled()
    t0 = time.perf_counter()
    result = refine(rgb, context, prompts, prior=prior, previous=previous, out_hw=out_hw)
    return PromptDone(image_id, prompts, result.mask, float(result.score), time.perf_counter() - t0, build)
