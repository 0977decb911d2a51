"""IAL's unary branch: per-pixel class probabilities from frozen ViT tokens.

The paper uses a DeepLab network; here a small head on the frozen backbone keeps training to
seconds. It is trained with cross-entropy on confident pixels only (ignore index 255 elsewhere), at
the grid the affinity network and the random walk use.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..base import TrainingLog
from .fitting import fit_steps
from .config import IalConfig
from .data import PixelStem, downsample_labels

IGNORE = 255


class UnaryHead(nn.Module):
    """1x1 projection of tokens, upsampling to the map grid, optional RGB stem (DeepLab v3+'s
    low-level skip), 3x3 context conv, classifier."""

    def __init__(self, in_dim: int, n_labels: int, hidden: int = 256, pixel_stride: int | None = None):
        super().__init__()
        self.project = nn.Sequential(nn.Conv2d(in_dim, hidden, 1), nn.GroupNorm(8, hidden), nn.ReLU(inplace=True))
        self.stem = PixelStem(pixel_stride) if pixel_stride else None
        extra = self.stem.out_dim if self.stem is not None else 0
        self.context = nn.Sequential(nn.Conv2d(hidden + extra, hidden, 3, padding=1), nn.GroupNorm(8, hidden),
                                     nn.ReLU(inplace=True), nn.Dropout2d(0.1))
        self.classify = nn.Conv2d(hidden, n_labels, 1)

    def forward(self, tokens: torch.Tensor, grid: int, rgb: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, h, w) tokens (+ normalised RGB) -> (B, n_labels, grid, grid) logits (0 = background)."""
        x = F.interpolate(self.project(tokens), size=(grid, grid), mode="bilinear", align_corners=False)
        if self.stem is not None:
            if rgb is None:
                raise ValueError("this unary head has a pixel branch and needs the RGB input")
            x = torch.cat([x, self.stem(rgb, grid)], dim=1)
        return self.classify(self.context(x))


def unary_loss(logits: torch.Tensor, labels: torch.Tensor, weight: torch.Tensor | None = None) -> torch.Tensor:
    """(Weighted) cross-entropy over confident pixels; 0 (with a graph) when a batch has none."""
    if not (labels != IGNORE).any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits, labels, weight=weight, ignore_index=IGNORE)


def balance_weights(labels: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Per-label weights ~ 1 / sqrt(frequency) over the confident pixels, mean 1 over present labels.

    Seeds are dominated by background; without this the unary net shrinks objects round after round.
    """
    counts = torch.bincount(labels[labels != IGNORE].flatten(), minlength=n_labels).float()
    present = counts > 0
    w = torch.zeros(n_labels)
    w[present] = counts[present].rsqrt()
    return w / w[present].mean() if present.any() else torch.ones(n_labels)


def train_unary(head: UnaryHead, tokens: torch.Tensor, rgb_batches: Callable[[torch.Tensor], torch.Tensor],
                seeds: torch.Tensor, grid: int, cfg: IalConfig, device: torch.device,
                report: Callable[[float, str], None], seed: int) -> TrainingLog:
    """Fit ``head`` on stored tokens (N, C, h, w) and seed maps (N, S, S) uint8 for ``cfg.phase_steps("unary", ...)``."""
    labels_all = downsample_labels(seeds, grid)
    usable = torch.nonzero((labels_all != IGNORE).flatten(1).any(1)).flatten()
    if len(usable) == 0:
        raise ValueError("IAL: no image has any confident pixel to train the unary network on; "
                         "lower confidence_threshold / vote_threshold or check the tags")
    n_labels = head.classify.out_channels
    weight = balance_weights(labels_all, n_labels).to(device) if cfg.unary_balanced else None

    def draw(gen):
        idx = usable[torch.randint(len(usable), (min(cfg.batch_size, len(usable)),), generator=gen)]
        rgb = rgb_batches(idx) if head.stem is not None else None
        return (tokens[idx].to(device, torch.float32), labels_all[idx].to(device), rgb), ()

    def loss_of(x, y, rgb):
        return unary_loss(head(x, grid, rgb), y, weight)

    steps = cfg.phase_steps("unary", len(usable), min(cfg.batch_size, len(usable)))
    return fit_steps(head, steps, cfg.unary_lr, draw, loss_of, report, "unary", seed)


def restrict_probs(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Softmax over background + allowed classes only; ``allowed`` (B, n_labels) bool, column 0 forced on."""
    allowed = allowed.clone()
    allowed[:, 0] = True
    masked = logits.masked_fill(~allowed[:, :, None, None], float("-inf"))
    return masked.softmax(dim=1)
