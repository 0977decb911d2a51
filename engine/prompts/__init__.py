"""Prompted refinement: clicks, boxes, scribbles and prior masks → one object mask (issue 9).

Qt-free. ``PromptContext.build`` once per image (graph + LU factorisation), then ``refine`` per
prompt change; ``evaluation.evaluate_interactive`` runs the standard click-simulation protocol.
"""

from .context import PromptContext, RefineSettings
from .refine import refine
from .types import Prompts, RefineResult

__all__ = ["PromptContext", "Prompts", "RefineResult", "RefineSettings", "refine"]
