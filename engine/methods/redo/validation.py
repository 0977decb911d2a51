"""Validation scores that pick ReDO's best checkpoint.

With ground-truth masks: mean IoU of the predicted foreground (border rule, see ``regions``) at the
training resolution — what the user will get, unlike the paper's best-of-both-polarities IoU.

Without: an unsupervised heuristic in [0, 1], the mean of three terms, each 1 when good —
* ``balance``: per image, the smallest region's area / (2 x collapse_min_area), clipped to 1
  (0 when a region vanished: the collapse ReDO is known for);
* ``confidence``: how far the soft masks are from uniform (crisp regions);
* ``realism``: 2 x P(D(redrawn) > D(real)) over all real/fake pairs, clipped to 1; scale-free, so it
  stays comparable while D changes (1 = D cannot rank fakes below reals).
It cannot see whether the object was found, only whether the redrawing game is healthy.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .config import RedoConfig
from .networks import RedoNetworks
from .regions import background_region, foreground, hard_masks


@dataclass(frozen=True)
class ValidationScore:
    score: float  # what checkpoint selection maximises
    kind: str  # "iou" or "unsupervised"
    balance: float
    confidence: float
    realism: float
    region_areas: tuple[float, ...]
    background_region: int
    iou: float | None = None


@torch.no_grad()
def _masks_in_chunks(nets: RedoNetworks, x: torch.Tensor, chunk: int) -> torch.Tensor:
    return torch.cat([nets.mask(x[i:i + chunk]) for i in range(0, len(x), chunk)])


@torch.no_grad()
def _realism(nets: RedoNetworks, x: torch.Tensor, chunk: int, seed: int) -> float:
    gen = torch.Generator().manual_seed(seed)
    real, fake = [], []
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        z = nets.sample_z(len(xb), gen)
        real.append(nets.discriminator(xb))
        fake.append(nets.discriminator(nets.redraw(xb, z).fakes))
    r, f = torch.cat(real), torch.cat(fake)
    p = (f[:, None] > r[None, :]).float().mean().item()
    return min(1.0, 2.0 * p)


@torch.no_grad()
def validate(nets: RedoNetworks, x: torch.Tensor, cfg: RedoConfig, gt: torch.Tensor | None = None,
             x_gt: torch.Tensor | None = None, seed: int = 0) -> ValidationScore:
    """Score the current networks on validation images ``x`` (N,3,S,S) in [-1,1].

    ``gt`` (M,S,S) bool with its images ``x_gt`` switches the score to foreground IoU.
    """
    was_training = nets.training
    nets.eval()
    try:
        chunk = max(1, cfg.batch_size)
        soft = _masks_in_chunks(nets, x, chunk)
        hard = hard_masks(soft)
        k = soft.shape[1]
        areas = hard.mean(dim=(2, 3))  # (N,K)
        target = max(2 * cfg.collapse_min_area, 1e-6)
        balance = (areas.min(1).values / target).clamp(max=1.0).mean().item()
        confidence = ((soft.max(1).values - 1.0 / k) / (1.0 - 1.0 / k)).mean().item()
        realism = _realism(nets, x, chunk, seed)
        bg = background_region(hard)
        unsup = (balance + confidence + realism) / 3.0
        iou = None
        if gt is not None and x_gt is not None and len(gt):
            fg = foreground(hard_masks(_masks_in_chunks(nets, x_gt, chunk)), bg) > 0.5
            gt = gt.to(fg.device)
            inter = (fg & gt).flatten(1).sum(1).float()
            union = (fg | gt).flatten(1).sum(1).float()
            iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union)).mean().item()
        return ValidationScore(score=iou if iou is not None else unsup,
                               kind="iou" if iou is not None else "unsupervised",
                               balance=balance, confidence=confidence, realism=realism,
                               region_areas=tuple(float(a) for a in areas.mean(0).tolist()),
                               background_region=bg, iou=iou)
    finally:
        nets.train(was_training)
