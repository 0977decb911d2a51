"""MaskCurator desktop app (PySide6 + pyqtgraph).

The GUI never computes: every model, solver, export and training run goes through
:class:`app.bridge.EngineBridge` to the engine's worker thread.
"""

from __future__ import annotations

__all__ = ["run_app"]


def run_app(folder_or_project=None) -> int:  # thin re-export so ``from app import run_app`` works
    from .main_window import run_app as _run

    return _run(folder_or_project)
