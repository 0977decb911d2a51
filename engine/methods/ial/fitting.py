"""The optimisation loop IAL's three small networks share (CAM classifier, unary head, affinity net).

Each step draws a batch from stored features, flips it horizontally half of the time (the only
augmentation, applied to inputs and dense labels together), takes an Adam step and reports progress,
which is also the engine's cancellation point.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch

from ..base import TrainingLog

#: ``draw(generator) -> (spatial tensors flipped together (None allowed), other arguments)``.
BatchDraw = Callable[[torch.Generator], tuple[Sequence[torch.Tensor | None], Sequence[torch.Tensor]]]


def fit_steps(module: torch.nn.Module, steps: int, lr: float, draw: BatchDraw,
              loss_of: Callable[..., torch.Tensor], report: Callable[[float, str], None], what: str,
              seed: int) -> TrainingLog:
    """Train ``module`` for ``steps`` Adam steps (weight decay 1e-4) on ``loss_of(*spatial, *other)``."""
    log = TrainingLog()
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=lr, weight_decay=1e-4)
    module.train()
    for step in range(steps):
        spatial, other = draw(gen)
        if torch.rand(1, generator=gen).item() < 0.5:
            spatial = tuple(t.flip(-1) if t is not None else None for t in spatial)
        loss = loss_of(*spatial, *other)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        log.add(step, loss.item())
        report((step + 1) / steps, f"{what} step {step + 1}/{steps}, loss {loss.item():.4f}")
    module.eval()
    return log
