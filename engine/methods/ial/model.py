"""The three trained IAL heads in one module, and the refinement both training and prediction run.

Refinement = unary softmax restricted to background + present classes, random walk with the learned
affinities. Training uses it to produce the next round's labels, prediction to produce masks, so the
two can never drift apart.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from .affinity import AffinityNet, affinities, random_walk, transition
from .cam import CamClassifier
from .config import IalConfig
from .unary import UnaryHead, restrict_probs


class IalModel(nn.Module):
    """CAM classifier + unary head + affinity net for ``n_classes`` foreground classes (+ background)."""

    def __init__(self, in_dim: int, n_classes: int, cfg: IalConfig):
        super().__init__()
        self.n_classes = n_classes
        self.classifier = CamClassifier(in_dim, n_classes, cfg.map_stride if cfg.cam_pixel_branch else None)
        self.unary = UnaryHead(in_dim, n_classes + 1, cfg.unary_dim,
                               cfg.map_stride if cfg.unary_pixel_branch else None)
        self.affinity = AffinityNet(in_dim, cfg.map_stride, cfg.affinity_dim)


@torch.no_grad()
def refine(model: IalModel, tokens: torch.Tensor, rgb: torch.Tensor, allowed: torch.Tensor, grid: int,
           cfg: IalConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Unary probabilities and their random-walk refinement, both (B, n_classes + 1, grid, grid).

    ``allowed`` (B, n_classes + 1) bool marks background + the classes the image may contain.
    """
    unary = restrict_probs(model.unary(tokens, grid, rgb), allowed)
    aff, valid = affinities(model.affinity(tokens, rgb, grid), cfg.affinity_radius)
    trans = transition(aff, valid, cfg.rw_beta)
    used = allowed.any(dim=0)
    used[0] = True  # walk only the channels some image in the batch can hold
    refined = torch.zeros_like(unary)
    refined[:, used] = random_walk(unary[:, used], trans, cfg.rw_iterations, cfg.affinity_radius)
    return unary, refined
