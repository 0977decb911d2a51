"""What the app and the CLI need from a trainable method (STEGO, ReDO, IAL), and the registry.

Deep Spectral Methods needs no training and is driven per image through ``engine.pipeline``.
The trainable methods all follow one life cycle, so the GUI can offer them with one dialog:

1. ``train(dataset, config, ctx, workdir) -> Path`` – runs on the engine thread, reports progress with
   ``ctx.progress``, honours ``ctx.check_cancelled()``, writes checkpoints under ``workdir`` and returns
   the path of the best / final one. Checkpoints are plain state dicts + a JSON-able config, loadable
   with ``torch.load(..., weights_only=True)``.
2. ``load_predictor(checkpoint, device) -> Predictor`` – turns a checkpoint into something that maps an
   image to :class:`~engine.proposals.Proposal` s with ``source == method name``.

``config`` is a typed dataclass per method; the GUI builds its form from the dataclass fields.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence

import numpy as np
import torch

from ..jobs import JobContext
from ..proposals import Proposal


@dataclass(frozen=True)
class TrainingImage:
    """One image of the training set; ``tags`` are image-level class names (IAL's weak labels)."""

    path: Path
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingSet:
    images: Sequence[TrainingImage]
    class_names: tuple[str, ...] = ()  # the project's class list (IAL needs it; others ignore it)


class Predictor(Protocol):
    def predict(self, rgb: np.ndarray, tags: Sequence[str] = ()) -> list[Proposal]:
        """Proposals for one upright uint8 RGB image, masks at its full resolution."""
        ...


@dataclass(frozen=True)
class MethodInfo:
    """Registry entry: the name shown in the UI, its config type and its two entry points."""

    name: str  # also the Proposal.source value
    title: str
    config_type: type
    train: Callable[[TrainingSet, Any, JobContext, Path], Path]
    load_predictor: Callable[[Path, torch.device], Predictor]
    description: str = ""
    needs_tags: bool = False


_REGISTRY: dict[str, MethodInfo] = {}


def register(info: MethodInfo) -> MethodInfo:
    _REGISTRY[info.name] = info
    return info


def trainable_methods() -> dict[str, MethodInfo]:
    """All registered trainable methods (importing their packages registers them)."""
    _import_builtin_methods()
    return dict(_REGISTRY)


def _import_builtin_methods() -> None:
    import importlib

    for module in ("engine.methods.stego", "engine.methods.redo", "engine.methods.ial"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:  # a method package not present in this build
            if exc.name != module:
                raise


@dataclass
class TrainingLog:
    """Loss history a training run keeps (and writes next to its checkpoints)."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def add(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.losses.append(float(loss))
