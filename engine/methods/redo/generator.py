"""Region generators G_k: (mask m_k, noise z_k) -> new content for region k, already multiplied by m_k.

As the reference's ``_resMaskedGenerator128``: a plain linear map of z to a 4x4 map, SN residual
up-sampling blocks with conditional instance norm on z (scale γ(z)), the mask (pooled to each block's
input size) concatenated once per block before its up-sampling conv and once at the output, and a
SAGAN block before the last up-block. One independent generator per region.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import ConditionalInstanceNorm, SelfAttention, ortho_linear, resize_mask, sn_conv


def generator_channels(nf: int, n_blocks: int) -> list[int]:
    """Channel count at each stage, 16nf -> ... -> nf for 5 blocks (capped at 16nf)."""
    return [nf * min(16, 2 ** (n_blocks - i)) for i in range(n_blocks + 1)]


class _UpBlock(nn.Module):
    """Reference ``_resMaskedGenerator128`` block k: the mask (pooled to the input's size) is
    concatenated once, before the up-sampling conv; the second conv sees features only."""

    def __init__(self, cin: int, cout: int, z_dim: int, gain: float):
        super().__init__()
        self.n1 = ConditionalInstanceNorm(cin, z_dim, gain)
        self.c1 = sn_conv(cin + 1, cout, 3, gain, bias=False)
        self.n2 = ConditionalInstanceNorm(cout, z_dim, gain)
        self.c2 = sn_conv(cout, cout, 3, gain)
        self.skip = sn_conv(cin, cout, 1, gain)

    def forward(self, x: torch.Tensor, z: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = resize_mask(mask, x.shape[-2:])
        h = torch.cat([F.relu(self.n1(x, z)), m], 1)
        h = self.c1(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.c2(F.relu(self.n2(h, z)))
        return h + self.skip(F.interpolate(x, scale_factor=2, mode="nearest"))


class RegionGenerator(nn.Module):
    def __init__(self, image_size: int, z_dim: int = 32, nf: int = 32, self_attention: bool = True,
                 gain: float = 0.8):
        super().__init__()
        n_blocks = (image_size // 4).bit_length() - 1
        ch = generator_channels(nf, n_blocks)
        self.c0 = ch[0]
        self.fc = ortho_linear(z_dim, 4 * 4 * ch[0], gain)  # reference: plain nn.Linear
        self.blocks = nn.ModuleList(_UpBlock(ch[i], ch[i + 1], z_dim, gain) for i in range(n_blocks))
        self.attention = SelfAttention(ch[-2], gain) if self_attention else None
        self.out_norm = ConditionalInstanceNorm(ch[-1], z_dim, gain)
        self.out = sn_conv(ch[-1] + 1, 3, 3, gain)

    def forward(self, mask: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """mask (B,1,S,S) in [0,1], z (B,z_dim) -> (B,3,S,S) region content in [-1,1] times mask."""
        h = self.fc(z).view(z.shape[0], self.c0, 4, 4)
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            if i == last and self.attention is not None:
                h = self.attention(h)
            h = block(h, z, mask)
        h = F.relu(self.out_norm(h, z))
        return torch.tanh(self.out(torch.cat([h, mask], 1))) * mask


class RegionGenerators(nn.Module):
    """One generator per region; ``forward`` redraws every region at once (K fakes per real image)."""

    def __init__(self, n_regions: int, image_size: int, z_dim: int, nf: int, self_attention: bool,
                 gain: float):
        super().__init__()
        self.gens = nn.ModuleList(RegionGenerator(image_size, z_dim, nf, self_attention, gain)
                                  for _ in range(n_regions))

    def forward(self, masks: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """masks (B,K,S,S), z (B,K,z_dim) -> region contents h (B,K,3,S,S)."""
        return torch.stack([g(masks[:, k:k + 1], z[:, k]) for k, g in enumerate(self.gens)], dim=1)
