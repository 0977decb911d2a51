"""SN-ResNet trunk used twice: the hinge-loss discriminator D and the latent-recovery encoder δ.

The reference's ``_resDiscriminator128`` / ``_resEncoder128``: an optimised first block, down-sampling
residual blocks doubling the width (capped at 16nf) until a 4x4 map, one last block without
down-sampling, sum pooling of its output (no ReLU before it) and a plain (not SN) linear head.
D has a SAGAN block after its first block; δ maps the sum of generated region contents to all z_k.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import SelfAttention, ortho_linear, sn_conv


class _DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, first: bool, gain: float):
        super().__init__()
        self.first, self.down = first, down
        self.c1 = sn_conv(cin, cout, 3, gain)
        self.c2 = sn_conv(cout, cout, 3, gain)
        self.skip = sn_conv(cin, cout, 1, gain) if (cin != cout or down) else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.c2(F.relu(self.c1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        s = x
        if self.skip is not None:
            if self.first:  # optimised block: pool first, then 1x1 conv (cheaper, same function class)
                s = self.skip(F.avg_pool2d(s, 2) if self.down else s)
            else:
                s = self.skip(s)
                s = F.avg_pool2d(s, 2) if self.down else s
        return h + s


class SNResNet(nn.Module):
    def __init__(self, image_size: int, nf: int, n_out: int, self_attention: bool, gain: float):
        super().__init__()
        n_down = (image_size // 4).bit_length() - 1
        ch = [nf * min(16, 2 ** i) for i in range(n_down)]  # nf, 2nf, ... (n_down stages)
        blocks: list[nn.Module] = [_DownBlock(3, ch[0], True, True, gain)]
        if self_attention:
            blocks.append(SelfAttention(ch[0], gain))
        for i in range(1, n_down):
            blocks.append(_DownBlock(ch[i - 1], ch[i], True, False, gain))
        c_last = ch[-1]
        blocks.append(_DownBlock(ch[-1], c_last, False, False, gain))
        self.blocks = nn.Sequential(*blocks)
        self.fc = ortho_linear(c_last, n_out, gain)  # reference: plain nn.Linear (``dense``)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Reference: ``x.sum(3).sum(2)`` straight after the last block (no ReLU), then ``dense``.
        return self.fc(self.blocks(x).sum(dim=(2, 3)))


class Discriminator(SNResNet):
    """Images (N,3,S,S) -> realism scores (N,)."""

    def __init__(self, image_size: int, nf: int = 64, self_attention: bool = True, gain: float = 0.8):
        super().__init__(image_size, nf, 1, self_attention, gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).squeeze(1)


class LatentEncoder(SNResNet):
    """δ: Σ_k h_k (B,3,S,S) -> recovered z (B,K,z_dim), trained with MSE (weight λ_z)."""

    def __init__(self, image_size: int, n_regions: int, z_dim: int, nf: int = 64, gain: float = 0.8):
        super().__init__(image_size, nf, n_regions * z_dim, False, gain)
        self.n_regions, self.z_dim = n_regions, z_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x).view(x.shape[0], self.n_regions, self.z_dim)
