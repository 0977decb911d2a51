"""Step 1 of IAL: class activation maps from image tags, turned into confident seeds.

A 1x1-conv classifier on the frozen ViT tokens is trained with multi-label BCE on global-average
pooled logits (so each token's logit is a class activation). CAMs are summed over scales and flips,
kept for the tagged classes and max-normalised. Seeds follow PSA: background score (1 - max CAM)^alpha
at a low and a high alpha, each sharpened by a dense CRF; pixels the low-alpha map still calls
foreground are confident foreground, pixels the high-alpha map still calls background are confident
background, everything else is ignored (255).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...backbone import Backbone
from ...crf import PSA_CRF, crf_labels
from ..base import TrainingLog
from .fitting import fit_steps
from .config import IalConfig
from .data import PixelStem, scaled_batch

IGNORE = 255


class CamClassifier(nn.Module):
    """Per-location class logits; the image logit is their spatial mean (CAM = ReLU of those logits).

    With ``pixel_stride`` set, a small trainable RGB stem is concatenated to the (upsampled) tokens so
    CAMs can follow detail finer than a ViT patch; otherwise it is a 1x1 conv on the tokens (PSA's
    ``conv(feat, fc8.w)``).
    """

    def __init__(self, in_dim: int, n_classes: int, pixel_stride: int | None = None):
        super().__init__()
        self.dropout = nn.Dropout2d(0.1)
        self.stem = PixelStem(pixel_stride) if pixel_stride else None
        self.pixel_stride = pixel_stride
        extra = self.stem.out_dim if self.stem is not None else 0
        self.fc = nn.Conv2d(in_dim + extra, n_classes, 1, bias=False)

    @property
    def needs_rgb(self) -> bool:
        return self.stem is not None

    def token_logits(self, tokens: torch.Tensor, rgb: torch.Tensor | None = None) -> torch.Tensor:
        x = self.dropout(tokens)
        if self.stem is not None:
            if rgb is None:
                raise ValueError("this CAM classifier has a pixel branch and needs the RGB input")
            grid = max(1, rgb.shape[-1] // self.pixel_stride)
            x = F.interpolate(x, size=(grid, grid), mode="bilinear", align_corners=False)
            x = torch.cat([x, self.stem(rgb, grid)], dim=1)
        return self.fc(x)

    def forward(self, tokens: torch.Tensor, rgb: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, h, w) tokens (+ normalised RGB) -> (B, n_classes) image logits."""
        return self.token_logits(tokens, rgb).mean(dim=(2, 3))


def train_classifier(classifier: CamClassifier, tokens: torch.Tensor, targets: torch.Tensor, cfg: IalConfig,
                     device: torch.device, report: Callable[[float, str], None],
                     rgb_batches: Callable[[torch.Tensor], torch.Tensor] | None = None) -> TrainingLog:
    """Multi-label BCE on stored tokens (N, C, h, w) with multi-hot ``targets`` (N, n_classes).

    Random horizontal flips act as augmentation. ``rgb_batches(idx)`` gives the normalised images
    when the classifier has a pixel branch. ``report(frac, msg)`` is the progress / cancel hook.
    """
    n = tokens.shape[0]

    def draw(gen):
        idx = torch.randint(n, (min(cfg.batch_size * 2, n),), generator=gen)
        rgb = rgb_batches(idx) if classifier.needs_rgb and rgb_batches is not None else None
        return (tokens[idx].to(device, torch.float32), rgb), (targets[idx].to(device),)

    def loss_of(x, rgb, target):
        return F.binary_cross_entropy_with_logits(classifier(x, rgb), target)

    steps = cfg.phase_steps("cam", n, min(cfg.batch_size * 2, n))
    return fit_steps(classifier, steps, cfg.cam_lr, draw, loss_of, report, "CAM classifier", cfg.seed)


@torch.no_grad()
def multiscale_cams(backbone: Backbone, classifier: CamClassifier, rgbs: np.ndarray, cfg: IalConfig) -> torch.Tensor:
    """Raw CAMs (B, n_classes, S, S) for square uint8 images (B, S, S, 3): sum over scales x flips.

    Each class map is ReLU(location logits), bilinearly upsampled to S and un-flipped before summing.
    """
    size = rgbs.shape[1]
    total = None
    flips = (False, True) if cfg.cam_flip else (False,)
    for scale in cfg.cam_scales:
        for flip in flips:
            tokens, x = scaled_batch(backbone, rgbs, scale, flip)
            cam = F.relu(classifier.token_logits(tokens, x))
            cam = F.interpolate(cam, size=(size, size), mode="bilinear", align_corners=False)
            if flip:
                cam = cam.flip(-1)
            total = cam if total is None else total + cam
    return total


def normalise_cams(cams: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
    """Zero absent classes and divide each present class map by its maximum (B, n, S, S) -> [0, 1]."""
    peak = cams.amax(dim=(2, 3), keepdim=True)
    return cams / (peak + 1e-5) * present[:, :, None, None].to(cams.dtype)


@dataclass(frozen=True)
class SeedStats:
    """How much of the image the seeds commit to: the three fractions add up to 1."""

    foreground: float
    background: float
    ignored: float


def make_seeds(rgb: np.ndarray, cams: np.ndarray, class_ids: np.ndarray, cfg: IalConfig) -> np.ndarray:
    """Confident seed labels (S, S) uint8 for one image: 0 = bg, c + 1 = class c, 255 = ignore.

    ``cams`` are the normalised maps of the image's tagged classes only (T, S, S); ``class_ids`` (T,)
    are their indices in the project class list.
    """
    size = rgb.shape[:2]
    seeds = np.full(size, IGNORE, np.uint8)
    if len(class_ids) == 0:
        return seeds
    fg_peak = cams.max(axis=0)
    labels = {}
    for name, alpha in (("low", cfg.alpha_low), ("high", cfg.alpha_high)):
        bg = np.power(np.clip(1.0 - fg_peak, 0.0, 1.0), alpha)[None]
        probs = np.concatenate([bg, cams], axis=0).astype(np.float32)
        labels[name] = crf_labels(rgb, probs, PSA_CRF) if cfg.use_crf else probs.argmax(axis=0)
    lut = np.concatenate([[0], np.asarray(class_ids) + 1]).astype(np.uint8)
    low = labels["low"]
    seeds[low > 0] = lut[low[low > 0]]
    seeds[labels["high"] == 0] = 0
    return seeds


def seed_stats(seeds: np.ndarray) -> SeedStats:
    total = max(seeds.size, 1)
    bg = float((seeds == 0).sum()) / total
    ign = float((seeds == IGNORE).sum()) / total
    return SeedStats(foreground=1.0 - bg - ign, background=bg, ignored=ign)
