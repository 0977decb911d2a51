"""What the app and the CLI need from a method, and the method registry.

Every method package (``engine/methods/<name>/__init__.py``) registers one :class:`MethodInfo` with
``register_method``; nothing lists the methods by name: the registry imports every subpackage of
``engine.methods`` the first time it is read. Training-free methods (Deep Spectral Methods) register
with ``train=None`` and run per image during analysis. The trainable methods (STEGO, ReDO, IAL) all
follow one life cycle, so the GUI can offer them with one dialog:

1. ``train(dataset, config, ctx, workdir, **extras) -> Path`` – runs on the engine thread, reports
   progress with ``ctx.progress``, honours ``ctx.check_cancelled()``, writes checkpoints under
   ``workdir`` and returns the path of the best / final one. Checkpoints are plain state dicts + a
   JSON-able config, loadable with ``torch.load(..., weights_only=True)``.
2. ``load_predictor(checkpoint, device) -> Predictor`` – turns a checkpoint into something that maps an
   image to :class:`~engine.proposals.Proposal` s with ``source == method name``.

``config`` is a typed dataclass per method; the GUI builds its form from the dataclass fields.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol, Sequence

import numpy as np
import torch

from ..proposals import Proposal
from ..registry import Registry


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
    """Registry entry: the name shown in the UI, its config type and its two entry points.

    A training-free method leaves ``train`` / ``load_predictor`` / ``config_type`` as None.
    ``sources``: the ``Proposal.source`` values it writes (default: its name).
    """

    name: str
    title: str
    config_type: type | None = None
    train: Callable[..., Path] | None = None
    load_predictor: Callable[[Path, torch.device], Predictor] | None = None
    description: str = ""
    needs_tags: bool = False
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.train is not None and (self.load_predictor is None or self.config_type is None):
            raise ValueError(f"trainable method {self.name!r} needs load_predictor and config_type")
        if not self.sources:
            object.__setattr__(self, "sources", (self.name,))

    @property
    def trainable(self) -> bool:
        return self.train is not None

    def accepts(self, option: str) -> bool:
        """Whether ``train`` takes the extra keyword ``option`` (e.g. ``validation``, ``labels``)."""
        if self.train is None:
            return False
        params = inspect.signature(self.train).parameters
        return option in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


METHODS: Registry[MethodInfo] = Registry("method", package="engine.methods")
register_method = METHODS.register


def get_method(name: str) -> MethodInfo:
    """The registered method ``name`` (UnknownEntryError lists the available ones)."""
    return METHODS.get(name)


def all_methods() -> dict[str, MethodInfo]:
    """Every registered method, trainable or not, by name."""
    return dict(METHODS.items())


def trainable_methods() -> dict[str, MethodInfo]:
    """The registered methods that can be trained (what the Train dialog and ``main.py train`` offer)."""
    return {name: m for name, m in METHODS.items() if m.trainable}


@dataclass
class TrainingLog:
    """Loss history a training run keeps (and writes next to its checkpoints)."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)

    def add(self, step: int, loss: float) -> None:
        self.steps.append(step)
        self.losses.append(float(loss))
