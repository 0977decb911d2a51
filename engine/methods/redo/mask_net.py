"""The mask network F: image -> K soft region masks (PSP-style encoder-decoder, softmax over regions).

Layout as in the paper's code: reflection-padded 7x7 stem, two stride-2 convs (to 1/4 resolution),
residual blocks, a pyramid-pooling head (1, 2, 3, 6 bins, one channel each), then two x2
nearest up-samplings and a 7x7 conv to K logits. Fully convolutional, so prediction can run on
non-square images.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import ortho_

PSP_BINS = (1, 2, 3, 6)


def _conv_in_relu(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2), nn.InstanceNorm2d(cout, affine=True),
                         nn.ReLU(inplace=True))


class _ResBlock(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c, affine=True), nn.ReLU(inplace=True),
            nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c, affine=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class MaskNet(nn.Module):
    def __init__(self, n_regions: int = 2, nf: int = 64, n_res: int = 3, temperature: float = 1.0,
                 gain: float = 0.8):
        super().__init__()
        self.n_regions = n_regions
        self.temperature = temperature
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, nf // 4, 7),
                                  nn.InstanceNorm2d(nf // 4, affine=True), nn.ReLU(inplace=True))
        self.down = nn.Sequential(_conv_in_relu(nf // 4, nf // 2, 3, 2), _conv_in_relu(nf // 2, nf, 3, 2))
        self.res = nn.Sequential(*[_ResBlock(nf) for _ in range(n_res)])
        self.psp = nn.ModuleList(nn.Conv2d(nf, 1, 1) for _ in PSP_BINS)
        self.up1 = _conv_in_relu(nf + len(PSP_BINS), nf // 2, 3)
        self.up2 = _conv_in_relu(nf // 2, nf // 4, 3)
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(nf // 4, n_regions, 7))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                ortho_(m, gain)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) in [-1,1] -> (B,K,H,W) region logits (H, W need not be multiples of 4)."""
        h, w = x.shape[-2:]
        f = self.res(self.down(self.stem(x)))
        fh, fw = f.shape[-2:]
        pyramid = [F.interpolate(conv(F.adaptive_avg_pool2d(f, bins)), size=(fh, fw), mode="bilinear",
                                 align_corners=False) for bins, conv in zip(PSP_BINS, self.psp)]
        f = torch.cat([f, *pyramid], dim=1)
        f = self.up1(F.interpolate(f, size=(min(2 * fh, h), min(2 * fw, w)), mode="nearest"))
        f = self.up2(F.interpolate(f, size=(h, w), mode="nearest"))
        return self.head(f)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Soft masks (B,K,H,W) summing to one over regions."""
        return torch.softmax(self.logits(x) / self.temperature, dim=1)
