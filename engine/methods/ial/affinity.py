"""IAL's pairwise branch: learned local affinities and the random walk that refines the unary map.

Substitute for the unreleased IAL affinity network, after PSA/AffinityNet: an embedding f per grid
cell, a_ij = exp(-mean |f_i - f_j|) for j within ``radius`` of i, trained from seed agreement
(same-label pairs pulled to 1, different-label pairs pushed to 0; bg-pos / fg-pos / neg weighted
1/4, 1/4, 1/2). The embedding fuses projected ViT tokens with a small conv net on the RGB image so
that affinities follow colour edges finer than the ViT patch.

Affinities are kept as a local (B, k*k, H, W) stack (k = 2 * radius - 1, offsets outside the disc
are zero) instead of PSA's dense (HW)^2 matrix, so the walk costs O(HW * k^2) per step and memory
stays linear in image area.
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


def window_offsets(radius: int) -> tuple[list[tuple[int, int]], torch.Tensor]:
    """All (dy, dx) of the (2r-1)^2 window in row-major (``F.unfold``) order, and the disc mask |d| < r."""
    half = radius - 1
    offsets = [(dy, dx) for dy in range(-half, half + 1) for dx in range(-half, half + 1)]
    disc = torch.tensor([dy * dy + dx * dx < radius * radius for dy, dx in offsets])
    return offsets, disc


def _shifted(x: torch.Tensor, half: int, fill: float) -> Callable[[int, int], torch.Tensor]:
    """x[..., i + dy, j + dx] for every (i, j), ``fill`` outside the image."""
    padded = F.pad(x, (half, half, half, half), value=fill)
    h, w = x.shape[-2:]
    return lambda dy, dx: padded[..., half + dy: half + dy + h, half + dx: half + dx + w]


def local_distances(f: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean L1 embedding distance to every window neighbour and which neighbours are real.

    Returns ``dist`` (B, K, H, W) and ``valid`` (1, K, H, W) bool (inside the image and the disc).
    """
    offsets, disc = window_offsets(radius)
    half = radius - 1
    shift_f = _shifted(f, half, 0.0)
    ones = torch.ones((1, 1) + f.shape[-2:], device=f.device)
    shift_valid = _shifted(ones, half, 0.0)
    dists, valids = [], []
    zero = torch.zeros((f.shape[0],) + f.shape[-2:], device=f.device, dtype=f.dtype)
    for k, (dy, dx) in enumerate(offsets):
        if disc[k]:
            dists.append((f - shift_f(dy, dx)).abs().mean(dim=1))
            valids.append(shift_valid(dy, dx)[:, 0] > 0)
        else:
            dists.append(zero)
            valids.append(torch.zeros_like(ones[:, 0], dtype=torch.bool))
    return torch.stack(dists, 1), torch.stack(valids, 1)


def affinities(f: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """a_ij = exp(-mean |f_i - f_j|) (B, K, H, W), zero where the neighbour is not valid; plus ``valid``."""
    dist, valid = local_distances(f, radius)
    return torch.exp(-dist) * valid, valid


def transition(aff: torch.Tensor, valid: torch.Tensor, beta: float) -> torch.Tensor:
    """Random-walk transition weights: A^beta normalised over each cell's neighbourhood (rows sum to 1)."""
    w = aff.clamp_min(0).pow(beta) * valid
    return w / w.sum(dim=1, keepdim=True).clamp_min(1e-12)


def random_walk(probs: torch.Tensor, trans: torch.Tensor, iterations: int, radius: int) -> torch.Tensor:
    """Propagate (B, L, H, W) label scores ``iterations`` times: x_i <- sum_j T_ij x_j over the window.

    Each step is one ``F.unfold``; shape and per-cell totals are preserved because rows of T sum to 1.
    """
    b, n_labels, h, w = probs.shape
    k = 2 * radius - 1
    if trans.shape != (b, k * k, h, w):
        raise ValueError(f"transition must be {(b, k * k, h, w)} for radius {radius}, got {tuple(trans.shape)}")
    t = trans[:, None]
    x = probs
    for _ in range(iterations):
        nb = F.unfold(x, kernel_size=k, padding=radius - 1).view(b, n_labels, k * k, h, w)
        x = (nb * t).sum(dim=2)
    return x


class AffinityNet(nn.Module):
    """Embedding for affinities: projected ViT tokens (upsampled) + a stride-``map_stride`` RGB conv stack."""

    def __init__(self, in_dim: int, map_stride: int, dim: int = 64):
        super().__init__()
        self.token_proj = nn.Sequential(nn.Conv2d(in_dim, 128, 1), nn.ELU(inplace=True))
        self.rgb = PixelStem(map_stride, 64)
        self.fuse = nn.Sequential(nn.Conv2d(128 + self.rgb.out_dim, dim, 1), nn.ELU(inplace=True),
                                  nn.Conv2d(dim, dim, 1))

    def forward(self, tokens: torch.Tensor, rgb: torch.Tensor, grid: int) -> torch.Tensor:
        """tokens (B, C, h, w), normalised rgb (B, 3, S, S) -> embedding (B, dim, grid, grid)."""
        t = F.interpolate(self.token_proj(tokens), size=(grid, grid), mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([t, self.rgb(rgb, grid)], dim=1))


def pair_masks(labels: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seed agreement of every window pair: (bg_pos, fg_pos, neg) masks (B, K, H, W).

    Pairs with an ignored end, outside the disc or the image, and the self pair are in none of them.
    """
    offsets, disc = window_offsets(radius)
    half = radius - 1
    shift = _shifted(labels[:, None].float(), half, float(IGNORE))
    centre = labels.float()
    same, both = [], []
    for k, (dy, dx) in enumerate(offsets):
        nb = shift(dy, dx)[:, 0]
        ok = (centre != IGNORE) & (nb != IGNORE) & bool(disc[k]) & ((dy, dx) != (0, 0))
        both.append(ok)
        same.append(centre == nb)
    both_t, same_t = torch.stack(both, 1), torch.stack(same, 1)
    is_bg = (labels == 0)[:, None]
    return both_t & same_t & is_bg, both_t & same_t & ~is_bg, both_t & ~same_t


def affinity_loss(dist: torch.Tensor, labels: torch.Tensor, radius: int) -> torch.Tensor:
    """PSA's loss on distances d (a = exp(-d)): 1/4 bg-pos -log a + 1/4 fg-pos -log a + 1/2 neg -log(1-a)."""
    bg_pos, fg_pos, neg = pair_masks(labels, radius)
    terms = []
    if bg_pos.any():
        terms.append(0.25 * dist[bg_pos].mean())
    if fg_pos.any():
        terms.append(0.25 * dist[fg_pos].mean())
    if neg.any():
        terms.append(0.5 * -torch.log(-torch.expm1(-dist[neg].clamp_min(1e-6))).mean())
    if not terms:
        return dist.sum() * 0.0
    return sum(terms)


def train_affinity(net: AffinityNet, tokens: torch.Tensor, rgb_batches: Callable[[torch.Tensor], torch.Tensor],
                   seeds: torch.Tensor, grid: int, cfg: IalConfig, device: torch.device,
                   report: Callable[[float, str], None], seed: int) -> TrainingLog:
    """Fit ``net`` so affinities agree with the seed labels (N, S, S) on the map grid."""
    labels_all = downsample_labels(seeds, grid)
    usable = torch.nonzero((labels_all != IGNORE).flatten(1).sum(1) >= 2).flatten()
    if len(usable) == 0:
        raise ValueError("IAL: no image has confident pixels to train the affinity network on")

    def draw(gen):
        idx = usable[torch.randint(len(usable), (min(cfg.batch_size, len(usable)),), generator=gen)]
        return (tokens[idx].to(device, torch.float32), rgb_batches(idx), labels_all[idx].to(device)), ()

    def loss_of(x, rgb, y):
        dist, _ = local_distances(net(x, rgb, grid), cfg.affinity_radius)
        return affinity_loss(dist, y, cfg.affinity_radius)

    steps = cfg.phase_steps("affinity", len(usable), min(cfg.batch_size, len(usable)))
    return fit_steps(net, steps, cfg.affinity_lr, draw, loss_of, report, "affinity", seed)
