"""What the app and the CLI both do between the project store and a trainable method.

Training uses the readable, non-rejected images with their image-level tags (IAL's weak labels);
prediction writes each image's proposals back as ``source = method name``, replacing only proposals
the user has not curated yet. Keeping this in one Qt-free place means the Train dialog and
``main.py train/predict`` cannot drift apart. Methods are looked up in the method registry
(``engine.methods.base``), so a new trainable method needs nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..imageio import ImageLoadError, load_image
from ..jobs import JobContext
from ..methods.base import MethodInfo, TrainingImage, TrainingSet, get_method


@dataclass(frozen=True)
class PredictionItem:
    image_id: int
    path: Path
    tags: tuple[str, ...]


@dataclass(frozen=True)
class PredictDone:
    method: str
    n_images: int
    n_proposals: int
    failures: tuple[tuple[int, str], ...]  # (image id, reason) of images that could not be read


def image_tag_names(store, image_id: int) -> tuple[str, ...]:
    names = {c.id: c.name for c in store.classes()}
    return tuple(names[t] for t in store.image_tags(image_id) if t in names)


def _usable(record, include_rejected: bool) -> bool:
    status = str(getattr(record.status, "value", record.status))
    return not record.error and (include_rejected or status != "rejected")


def training_set(store, include_rejected: bool = False) -> TrainingSet:
    """Readable images (rejected ones left out unless asked) with their tags, and the class list."""
    images = [TrainingImage(Path(r.path), image_tag_names(store, r.id)) for r in store.images()
              if _usable(r, include_rejected)]
    return TrainingSet(images, tuple(c.name for c in store.classes()))


def prediction_items(store, include_rejected: bool = False) -> list[PredictionItem]:
    return [PredictionItem(r.id, Path(r.path), image_tag_names(store, r.id)) for r in store.images()
            if _usable(r, include_rejected)]


def _trainable(method: MethodInfo | str) -> MethodInfo:
    info = get_method(method) if isinstance(method, str) else method
    if not info.trainable:
        raise ValueError(f"{info.title} needs no training (it runs per image during analysis)")
    return info


def run_training(ctx: JobContext, *, method: MethodInfo | str, training_set: TrainingSet, config: Any,
                 workdir: Path, **extras: Any) -> Path:
    """Train ``method`` (a registry entry or its name) and return its checkpoint path.

    ``extras`` are method-specific inputs (ReDO's ``validation`` pairs, STEGO's ``labels`` masks); one
    the method does not take is a ValueError, as is an empty training set.
    """
    info = _trainable(method)
    unknown = [k for k in extras if not info.accepts(k)]
    if unknown:
        raise ValueError(f"{info.name} does not use {', '.join(unknown)}")
    if not training_set.images:
        raise ValueError("no readable, non-rejected images to train on")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx.progress(0.0, f"Training {info.title}")
    return Path(info.train(training_set, config, ctx, workdir, **extras))


def predict_into_store(ctx: JobContext, info: MethodInfo | str, checkpoint: Path, store,
                       items: list[PredictionItem]) -> PredictDone:
    """Run a trained method over ``items`` and store its proposals; unreadable images are reported, not fatal."""
    info = _trainable(info)
    ctx.progress(0.0, f"Loading {info.title} checkpoint")
    predictor = info.load_predictor(Path(checkpoint), ctx.device)
    n_props = 0
    failures: list[tuple[int, str]] = []
    for i, item in enumerate(items):
        try:
            rgb = load_image(item.path)
        except ImageLoadError as exc:
            failures.append((item.image_id, exc.reason))
            ctx.message(str(exc))
            continue
        props = predictor.predict(rgb, item.tags)
        store.replace_proposals(item.image_id, info.name, props)
        n_props += len(props)
        ctx.progress((i + 1) / max(len(items), 1), f"{info.title}: {i + 1}/{len(items)} images")
    return PredictDone(info.name, len(items), n_props, tuple(failures))
