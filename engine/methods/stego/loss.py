"""STEGO's contrastive correlation loss.

For two images x, y the loss compares the feature correlation F (cosine of frozen ViT features) with
the code correlation S (cosine of head outputs) on a random S×S grid of coordinates per image:

    L(x, y) = − mean( max(S, 0) · (F_centred − b) )

where F is spatially centred over y's coordinates (then the global mean added back) and b is a shift
per pair type. Pairs: the image with itself (b_self), with a kNN image (b_knn) and with random images
(b_rand, several derangements of the batch). Above-shift feature affinity pulls codes together,
below-shift pushes them apart; the clamp stops codes from being pushed below orthogonal.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class PairTerm:
    """Weight λ and shift b of one pair type."""

    weight: float
    shift: float


@dataclass(frozen=True)
class LossSettings:
    self_pair: PairTerm
    knn_pair: PairTerm
    rand_pair: PairTerm
    feature_samples: int = 11
    neg_samples: int = 5
    pointwise: bool = True
    zero_clamp: bool = True
    stabilize: bool = False

    @classmethod
    def from_config(cls, cfg) -> "LossSettings":
        return cls(PairTerm(cfg.lambda_self, cfg.shift_self), PairTerm(cfg.lambda_knn, cfg.shift_knn),
                   PairTerm(cfg.lambda_rand, cfg.shift_rand), cfg.feature_samples, cfg.neg_samples,
                   cfg.pointwise, cfg.zero_clamp, cfg.stabilize)


@dataclass(frozen=True)
class LossTerms:
    """Weighted total (differentiable) plus the unweighted per-pair means (for logging)."""

    total: torch.Tensor
    self_term: torch.Tensor
    knn_term: torch.Tensor
    rand_term: torch.Tensor


def _normed(t: torch.Tensor) -> torch.Tensor:
    return F.normalize(t, dim=1, eps=1e-10)


def _corr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(B,C,h,w) × (B,C,i,j) → (B,h,w,i,j) dot products, as one batched GEMM."""
    out = torch.bmm(a.flatten(2).transpose(1, 2), b.flatten(2))
    return out.view(a.shape[0], *a.shape[2:], *b.shape[2:])


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Cosine correlation of every location of ``a`` (B,C,h,w) with every location of ``b`` (B,C,i,j)."""
    return _corr(_normed(a), _normed(b))


def sample_at(t: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear samples of ``t`` (B,C,h,w) at ``coords`` (B,S,S,2) in [-1, 1] → (B,C,S,S)."""
    return F.grid_sample(t, coords.to(t.dtype), mode="bilinear", padding_mode="border", align_corners=True)


def _pair_loss_normed(f1: torch.Tensor, f2: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor, shift: float,
                      pointwise: bool, zero_clamp: bool, stabilize: bool) -> torch.Tensor:
    with torch.no_grad():
        fd = _corr(f1, f2)
        if pointwise:
            global_mean = fd.mean()
            fd = fd - fd.mean(dim=(3, 4), keepdim=True)
            fd = fd - fd.mean() + global_mean
    cd = _corr(c1, c2)
    low = 0.0 if zero_clamp else None
    high = 0.8 if stabilize else None
    if low is not None or high is not None:
        cd = cd.clamp(min=low, max=high)
    return -cd * (fd - shift)


def pair_loss(f1: torch.Tensor, f2: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor, shift: float,
              pointwise: bool = True, zero_clamp: bool = True, stabilize: bool = False) -> torch.Tensor:
    """Per-location-pair loss (B, h, w, i, j) for features f and codes c of two (sampled) images."""
    return _pair_loss_normed(_normed(f1), _normed(f2), _normed(c1), _normed(c2), shift, pointwise,
                             zero_clamp, stabilize)


def derangement(n: int, generator: torch.Generator) -> torch.Tensor:
    """A random permutation with no fixed point (one random cycle); needs n >= 2."""
    if n < 2:
        raise ValueError("a derangement needs at least two items")
    order = torch.randperm(n, generator=generator)
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(-1)
    return perm


def random_coords(b: int, samples: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return (torch.rand(b, samples, samples, 2, generator=generator) * 2 - 1).to(device)


def stego_loss(feats: torch.Tensor, feats_pos: torch.Tensor, code: torch.Tensor, code_pos: torch.Tensor,
               settings: LossSettings, generator: torch.Generator) -> LossTerms:
    """Weighted self + kNN + random-pair correlation loss for one batch.

    ``feats``/``code`` belong to the batch images, ``feats_pos``/``code_pos`` to their kNN partners.
    Random coordinates come from ``generator`` (CPU) so training is reproducible on any device.
    """
    b = feats.shape[0]
    s = settings
    coords1 = random_coords(b, s.feature_samples, generator, feats.device)
    coords2 = random_coords(b, s.feature_samples, generator, feats.device)
    # Sample then normalise once per tensor (normalising is per location, so the order is free).
    f1, c1 = _normed(sample_at(feats, coords1)), _normed(sample_at(code, coords1))
    f_pos, c_pos = _normed(sample_at(feats_pos, coords2)), _normed(sample_at(code_pos, coords2))
    opts = dict(pointwise=s.pointwise, zero_clamp=s.zero_clamp, stabilize=s.stabilize)

    self_term = _pair_loss_normed(f1, f1, c1, c1, s.self_pair.shift, **opts).mean()
    knn_term = _pair_loss_normed(f1, f_pos, c1, c_pos, s.knn_pair.shift, **opts).mean()
    if s.neg_samples > 0 and b >= 2:
        # Random partners: the batch itself at the second coordinate draw, under derangements.
        f2, c2 = _normed(sample_at(feats, coords2)), _normed(sample_at(code, coords2))
        neg = []
        for _ in range(s.neg_samples):
            perm = derangement(b, generator).to(feats.device)
            neg.append(_pair_loss_normed(f1, f2[perm], c1, c2[perm], s.rand_pair.shift, **opts))
        rand_term = torch.cat(neg, dim=0).mean()
    else:
        rand_term = torch.zeros((), device=feats.device)
    total = (s.self_pair.weight * self_term + s.knn_pair.weight * knn_term + s.rand_pair.weight * rand_term)
    return LossTerms(total, self_term.detach(), knn_term.detach(), rand_term.detach())
