"""Interactive evaluation (``main.py eval interactive``): NoC@85/90, failures, mIoU@k, click latency.

Every method runs the same protocol (:mod:`.clicks`) on its own error sequence: clicks are
simulated from *its* previous prediction, up to ``max_clicks``. IoU is always measured against the
full-resolution ground truth. NoC@t counts ``max_clicks`` when t is never reached (the standard
convention), a failure is a sample that never reaches 90 %. A run stops early once 90 % is reached
and at least 5 clicks were made: no reported number depends on later clicks.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..metrics import iou
from .baselines import grabcut_clicks, random_walker_clicks
from .clicks import Click, next_click
from .context import PromptContext, RefineSettings
from .data import InteractiveSample, interactive_samples, load_coco
from .refine import refine
from .types import Prompts

METHODS = ("ours", "grabcut", "random-walker")
#: Clicks after which the mean IoU is reported.
IOU_AT = (1, 3, 5)

Progress = Callable[[float, str], None]


@dataclass(frozen=True)
class SampleTrace:
    """IoU after each click (early-stopped runs end at the click that reached 90 %, ≥ 5 clicks)."""

    sample: str
    method: str
    ious: tuple[float, ...]
    latencies_ms: tuple[float, ...]
    prepare_ms: float


@dataclass(frozen=True)
class MethodScores:
    method: str
    samples: int
    noc85: float
    noc90: float
    failures: int  # samples not reaching 90 % within max_clicks
    miou_at_1: float
    miou_at_3: float
    miou_at_5: float
    latency_p50_ms: float  # per click (prompt → full-res mask), excluding per-image preparation
    latency_p95_ms: float
    prepare_mean_ms: float  # per image (ours: graph + factorisation)


@dataclass(frozen=True)
class InteractiveReport:
    data_dir: str
    max_clicks: int
    samples: int
    scores: tuple[MethodScores, ...]
    traces: tuple[SampleTrace, ...]

    def table(self) -> str:
        head = (f"{'method':<14}{'NoC@85':>8}{'NoC@90':>8}{'fail@90':>9}{'IoU@1':>8}{'IoU@3':>8}{'IoU@5':>8}"
                f"{'p50 ms':>9}{'p95 ms':>9}{'prep ms':>9}")
        lines = [f"{self.data_dir}: {self.samples} objects, max {self.max_clicks} clicks", head]
        for s in self.scores:
            lines.append(f"{s.method:<14}{s.noc85:>8.2f}{s.noc90:>8.2f}{s.failures:>9d}{s.miou_at_1:>8.3f}"
                         f"{s.miou_at_3:>8.3f}{s.miou_at_5:>8.3f}{s.latency_p50_ms:>9.1f}"
                         f"{s.latency_p95_ms:>9.1f}{s.prepare_mean_ms:>9.1f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return asdict(self)


class _Ours:
    def __init__(self, backbone=None, settings: RefineSettings | None = None):
        self.backbone, self.settings = backbone, settings or RefineSettings()

    def prepare(self, rgb: np.ndarray):
        feats = None
        if self.backbone is not None:
            from ..features import extract_features

            feats = extract_features(self.backbone, [rgb])[0]
        return PromptContext.build(rgb, feats, self.settings)

    def __call__(self, state, rgb, clicks: list[Click], prev: np.ndarray | None) -> np.ndarray:
        prompts = Prompts(positive=[(c.x, c.y) for c in clicks if c.positive],
                          negative=[(c.x, c.y) for c in clicks if not c.positive])
        # the previous answer is the prior of the next click, as in the app (and as RITM feeds its
        # previous mask back): a click corrects the mask the user sees instead of starting over
        previous = prev if prev is not None and prev.any() else None
        return refine(rgb, state, prompts, previous=previous).mask


class _GrabCut:
    def prepare(self, rgb):
        return None

    def __call__(self, state, rgb, clicks, prev):
        return grabcut_clicks(rgb, clicks, prev)


class _RandomWalker:
    def prepare(self, rgb):
        return None

    def __call__(self, state, rgb, clicks, prev):
        return random_walker_clicks(rgb, clicks)


def make_method(name: str, backbone=None, settings: RefineSettings | None = None):
    if name == "ours":
        return _Ours(backbone, settings)
    if name == "grabcut":
        return _GrabCut()
    if name in ("random-walker", "random_walker", "rw"):
        return _RandomWalker()
    raise ValueError(f"unknown interactive method {name!r}; choose from {', '.join(METHODS)}")


def run_clicks(method, name: str, sample: str, rgb: np.ndarray, gt: np.ndarray, max_clicks: int) -> SampleTrace:
    """Simulate up to ``max_clicks`` clicks of one method on one object."""
    t0 = time.perf_counter()
    state = method.prepare(rgb)
    prep = (time.perf_counter() - t0) * 1000
    pred = np.zeros_like(gt)
    clicks: list[Click] = []
    ious, lat = [], []
    for k in range(max_clicks):
        click = next_click(pred, gt)
        if click is None:  # perfect: the rest of the curve stays at 1
            break
        clicks.append(click)
        t0 = time.perf_counter()
        pred = method(state, rgb, clicks, pred)
        lat.append((time.perf_counter() - t0) * 1000)
        ious.append(iou(pred, gt))
        if ious[-1] >= 0.90 and k + 1 >= max(IOU_AT):
            break
    return SampleTrace(sample, name, tuple(ious), tuple(lat), prep)


def noc(ious: Sequence[float], threshold: float, max_clicks: int) -> int:
    for k, v in enumerate(ious):
        if v >= threshold:
            return k + 1
    return max_clicks if len(ious) >= max_clicks or not ious or ious[-1] < 1.0 else len(ious) + 1


def _iou_at(ious: Sequence[float], k: int) -> float:
    if not ious:
        return 1.0
    return float(ious[min(k, len(ious)) - 1])


def summarise(name: str, traces: Sequence[SampleTrace], max_clicks: int) -> MethodScores:
    lat = np.concatenate([np.asarray(t.latencies_ms) for t in traces]) if traces else np.zeros(0)
    n85 = [noc(t.ious, 0.85, max_clicks) for t in traces]
    n90 = [noc(t.ious, 0.90, max_clicks) for t in traces]
    fails = sum(1 for t in traces if not any(v >= 0.90 for v in t.ious) and not (t.ious and t.ious[-1] >= 1.0))
    mean = lambda xs: float(np.mean(xs)) if len(xs) else float("nan")  # noqa: E731
    return MethodScores(name, len(traces), mean(n85), mean(n90), fails,
                        *(mean([_iou_at(t.ious, k) for t in traces]) for k in IOU_AT),
                        float(np.percentile(lat, 50)) if lat.size else float("nan"),
                        float(np.percentile(lat, 95)) if lat.size else float("nan"),
                        mean([t.prepare_ms for t in traces]))


def evaluate_interactive(data_dir: Path, methods: Sequence[str] = METHODS, max_clicks: int = 20,
                         limit: int | None = None, backbone=None, progress: Progress | None = None,
                         settings: RefineSettings | None = None) -> InteractiveReport:
    """Run the click protocol for ``methods`` on every object of ``data_dir`` (either layout).

    ``backbone`` (an :class:`engine.backbone.Backbone`, optional) adds the ViT term to ours;
    ``progress(fraction, message)`` is called after every object (a JobContext's progress fits).
    """
    from ..imageio import load_image

    data_dir = Path(data_dir)
    samples: list[InteractiveSample] = interactive_samples(data_dir, limit)
    runners = {m: make_method(m, backbone, settings) for m in methods}
    traces: list[SampleTrace] = []
    coco = None
    for i, sample in enumerate(samples):
        rgb = load_image(sample.image)
        if sample.coco_file is not None and coco is None:
            coco = load_coco(sample.coco_file)
        gt = sample.load_gt(coco)
        if gt.shape != rgb.shape[:2]:  # orientation/size disagreement: evaluate at the mask's size
            import cv2

            rgb = cv2.resize(rgb, (gt.shape[1], gt.shape[0]), interpolation=cv2.INTER_AREA)
        if not gt.any():
            continue
        for name, runner in runners.items():
            traces.append(run_clicks(runner, name, sample.name, rgb, gt, max_clicks))
        if progress is not None:
            last = {t.method: t for t in traces[-len(runners):]}
            msg = " ".join(f"{m}:NoC90={noc(t.ious, 0.9, max_clicks)}" for m, t in last.items())
            progress((i + 1) / len(samples), f"{sample.name} {msg}")
    scores = tuple(summarise(m, [t for t in traces if t.method == m], max_clicks) for m in runners)
    return InteractiveReport(str(data_dir), max_clicks, len({t.sample for t in traces}), scores, tuple(traces))
