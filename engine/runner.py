"""Run one engine job synchronously with a tqdm progress bar (the headless CLI and scripts).

Why a module of its own: the CLI and evaluation scripts both need "run ``fn(ctx)`` on the engine's
device with a progress bar"; keeping it here (below both) avoids an import circle between them.
"""

from __future__ import annotations

import sys
from typing import Any, Callable


class Progress:
    """tqdm bar fed by ``ctx.progress(fraction, message)``."""

    def __init__(self, desc: str, quiet: bool = False):
        from tqdm import tqdm

        self.bar = tqdm(total=1000, desc=desc, unit="‰", disable=quiet, file=sys.stderr,
                        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining} {postfix}")

    def __call__(self, fraction: float, message: str) -> None:
        self.bar.update(max(0, int(fraction * 1000) - self.bar.n))
        if message:
            self.bar.set_postfix_str(message[:60], refresh=False)

    def close(self) -> None:
        self.bar.close()


def run_with_progress(fn: Callable, device: Any = "auto", desc: str = "", quiet: bool = False) -> Any:
    """``engine.jobs.run_sync(fn, device)`` with a progress bar on stderr (hidden when ``quiet``)."""
    from .jobs import run_sync

    bar = Progress(desc, quiet)
    try:
        return run_sync(fn, device, bar)
    finally:
        bar.close()


class StageContext:
    """A job context whose progress 0..1 maps onto ``start..end`` of the parent's (everything else,
    ``device``, ``check_cancelled``, ``message``, is the parent's): one job running several steps."""

    def __init__(self, ctx: Any, start: float, end: float):
        self._ctx, self._start, self._span = ctx, float(start), float(end) - float(start)

    def progress(self, fraction: float, message: str = "") -> None:
        self._ctx.progress(self._start + self._span * min(max(fraction, 0.0), 1.0), message)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ctx, name)
