"""Building blocks shared by ReDO's networks: initialisation, spectral norm, CIN, self-attention."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.parametrizations import spectral_norm


def ortho_(module: nn.Module, gain: float) -> nn.Module:
    """Orthogonal init (reference gain 0.8) of a conv/linear weight, zero bias; returns the module."""
    nn.init.orthogonal_(module.weight, gain)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    return module


def ortho_weight_(module: nn.Module, gain: float) -> nn.Module:
    """The reference's ``weights_init_ortho``: orthogonal weight, PyTorch's default bias init kept."""
    nn.init.orthogonal_(module.weight, gain)
    return module


def sn_conv(cin: int, cout: int, k: int, gain: float, stride: int = 1, padding: int | None = None,
            bias: bool = True) -> nn.Module:
    pad = k // 2 if padding is None else padding
    return spectral_norm(ortho_(nn.Conv2d(cin, cout, k, stride, pad, bias=bias), gain))


def sn_linear(cin: int, cout: int, gain: float) -> nn.Module:
    return spectral_norm(ortho_(nn.Linear(cin, cout), gain))


def ortho_linear(cin: int, cout: int, gain: float) -> nn.Module:
    """A plain (not spectrally normalised) Linear, as the reference's generator input and D/δ heads."""
    return ortho_weight_(nn.Linear(cin, cout), gain)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Average-pool a full-resolution mask (B,1,H,W) to a feature map's size (exact for powers of two)."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    return F.adaptive_avg_pool2d(mask, size)


class ConditionalInstanceNorm(nn.Module):
    """Instance norm whose scale and shift are linear functions of z: ``IN(x) · γ(z) + β(z)``.

    As the reference (``gammaA[k](c)``, 1x1 convs of z, no spectral norm): the scale is γ(z) itself,
    not 1 + γ(z).
    """

    def __init__(self, channels: int, z_dim: int, gain: float):
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.gamma = ortho_weight_(nn.Linear(z_dim, channels), gain)
        self.beta = ortho_weight_(nn.Linear(z_dim, channels), gain)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        g = self.gamma(z)[:, :, None, None]
        b = self.beta(z)[:, :, None, None]
        return self.norm(x) * g + b


class SelfAttention(nn.Module):
    """SAGAN self-attention with 2x max-pooled keys/values (4x fewer keys), gated by a learnt gamma=0;
    bias-free 1x1 convs as the reference's ``SelfAttention``.

    Uses ``scaled_dot_product_attention`` (scale 1, as SAGAN) so the HW x HW/4 attention matrix is
    never materialised on GPUs with fused kernels.
    """

    def __init__(self, channels: int, gain: float):
        super().__init__()
        self.cq = max(channels // 8, 1)
        self.cv = max(channels // 2, 1)
        self.query = sn_conv(channels, self.cq, 1, gain, bias=False)
        self.key = sn_conv(channels, self.cq, 1, gain, bias=False)
        self.value = sn_conv(channels, self.cv, 1, gain, bias=False)
        self.out = sn_conv(self.cv, channels, 1, gain, bias=False)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, cq)
        pool = (lambda t: F.max_pool2d(t, 2)) if h >= 2 and w >= 2 else (lambda t: t)
        k = pool(self.key(x)).flatten(2).transpose(1, 2)  # (B, HW/4, cq)
        v = pool(self.value(x)).flatten(2).transpose(1, 2)  # (B, HW/4, cv)
        att = F.scaled_dot_product_attention(q[:, None], k[:, None], v[:, None], scale=1.0)[:, 0]
        att = att.transpose(1, 2).reshape(b, self.cv, h, w)
        return x + self.gamma * self.out(att)
