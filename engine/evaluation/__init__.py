"""``main.py eval NAME``: score each method against ground truth with the protocol of its paper.

=====================  ==========================================  ================================
evaluation             data layout (``../shared/data`` example)    metric
=====================  ==========================================  ================================
dsm-localization       COCO instances (coco_val_subset)            CorLoc (IoU >= 0.5 with any box)
dsm-object             paired binary masks (sod_bsds, horses)      IoU, pixel accuracy, maxFβ (β²=.3)
dsm-semantic           paired class masks (voc12_samples)          Hungarian mIoU / accuracy
stego                  paired class masks                          Hungarian mIoU (+ linear probe)
redo                   paired binary masks (weizmann_horse)        IoU, pixel accuracy
ial                    paired class masks (tags derived from GT)   mIoU, accuracy
=====================  ==========================================  ================================

Each module of this package registers its evaluations (``base.register_evaluation`` / the
``base.evaluation`` decorator); :data:`EVALUATIONS` finds them by importing every submodule, so the
CLI's ``eval`` choices are whatever is registered. Quality figures need real DINO weights; with
``random_*`` backbones they only show the code runs.
"""

from __future__ import annotations

import argparse
from typing import Callable

from .base import (EVALUATIONS, EvalReport, Evaluation, add_common_arguments, evaluation, need_checkpoint,
                   register_evaluation)

__all__ = ["EVALUATIONS", "EvalReport", "Evaluation", "add_arguments", "evaluation", "need_checkpoint",
           "register_evaluation"]


def add_arguments(parser: argparse.ArgumentParser,
                  common: Callable[[argparse.ArgumentParser], None] | None = None) -> None:
    """One sub-parser per registered evaluation (``args.evaluation`` = its name, ``args.run`` = its job):
    the shared options, the evaluation's own, then ``common`` (e.g. the CLI's --device / -q)."""
    sub = parser.add_subparsers(dest="evaluation", required=True, metavar="NAME",
                                title="evaluations")
    for name, ev in EVALUATIONS.items():
        sp = sub.add_parser(name, help=ev.help, description=ev.description or ev.help)
        add_common_arguments(sp)
        if ev.add_arguments is not None:
            ev.add_arguments(sp)
        if common is not None:
            common(sp)
        sp.set_defaults(evaluation_run=ev.run)
