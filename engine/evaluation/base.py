"""What an evaluation is: a registry entry with its own command-line options and a job that scores.

Why: ``main.py eval NAME`` offers whatever is registered here, so adding an evaluation is one new
module in ``engine/evaluation/`` that calls :func:`register_evaluation` (or decorates its run
function with :func:`evaluation`); no list of names, no dispatch table, no CLI edit. Every
evaluation gets ``--data``, ``--limit`` and ``--json``; its ``add_arguments`` hook adds the rest.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..jobs import JobContext
from ..registry import Registry


@dataclass(frozen=True)
class EvalReport:
    """One evaluation's figures, printable as a table and dumpable as JSON.

    ``settings["backbone"]``, when present, lets the CLI warn that random weights measure nothing.
    """

    name: str
    n_images: int
    scores: dict[str, float]
    settings: dict[str, Any] = field(default_factory=dict)
    text: str = ""  # a family's own table (e.g. one row per method) printed instead of the score list

    def table(self) -> str:
        if self.text:
            return self.text
        lines = [f"{self.name}  ({self.n_images} images)"]
        lines += [f"  {k:<22} {v:.4f}" for k, v in self.scores.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class Evaluation:
    """Registry entry. ``run(args, ctx) -> EvalReport`` runs as an engine job (``ctx.device`` is the
    device); it raises ValueError / FileNotFoundError with a user-facing message for bad input.
    ``add_arguments(parser)`` adds this evaluation's own options to its ``eval NAME`` sub-parser."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, JobContext], EvalReport]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    description: str = ""  # longer text for ``eval NAME --help`` (data layout, metric)


EVALUATIONS: Registry[Evaluation] = Registry("evaluation", package="engine.evaluation")
register_evaluation = EVALUATIONS.register


def evaluation(name: str, help: str, add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
               description: str = ""):
    """Decorator: register ``fn(args, ctx) -> EvalReport`` as evaluation ``name``; returns ``fn``."""

    def decorate(fn):
        register_evaluation(Evaluation(name, help, fn, add_arguments, description or (fn.__doc__ or "").strip()))
        return fn

    return decorate


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", required=True, help="dataset folder (layouts: engine/evaluation/__init__.py)")
    p.add_argument("--limit", type=int, default=0, help="only the first N images")
    p.add_argument("--json", help="also write the report as JSON here")


def add_checkpoint_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", help="trained checkpoint (train one with `main.py train`)")


def need_checkpoint(args: argparse.Namespace) -> Path:
    if not getattr(args, "checkpoint", None):
        raise ValueError(f"`eval {args.evaluation}` needs --checkpoint (train one with `main.py train`)")
    return Path(args.checkpoint)
