"""The mask network F: image -> K soft region masks (the reference's ``_netEncM``).

Layout as in the paper's code: reflection-padded 7x7 stem, two stride-2 convs (to 1/4 resolution),
residual blocks (conv-IN-ReLU-conv, then IN + ReLU *after* the skip addition), a pyramid-pooling head
(average pools of a half, a third and a sixth of the map and the whole map, one channel each,
bilinearly upsampled back), then two x2 nearest up-samplings with (nf+4)/2 and (nf+4)/4 channels and a
reflection-padded 7x7 conv. Two regions use one logit l: masks (σ(l/T), 1 − σ(l/T)); more regions a
softmax over K logits. Fully convolutional, so prediction can run on non-square images.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .layers import ortho_weight_

PSP_BINS = (1, 2, 3, 6)


def _conv_in_relu(cin: int, cout: int, k: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.InstanceNorm2d(cout, affine=True),
                         nn.ReLU(inplace=True))


class _ResBlock(nn.Module):
    """Reference ``_resBloc``: ``relu(IN(conv(relu(IN(conv(x)))) + x))`` with zero-padded 3x3 convs."""

    def __init__(self, c: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.InstanceNorm2d(c, affine=True), nn.ReLU(inplace=True),
            nn.Conv2d(c, c, 3, 1, 1, bias=True))
        self.after = nn.Sequential(nn.InstanceNorm2d(c, affine=True), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.after(self.body(x) + x)


def psp_pool(f: torch.Tensor, bins: int) -> torch.Tensor:
    """``nn.AvgPool2d(size // bins, size // bins)`` of the reference (a bin of 32 // 3 = 10 cells, not
    adaptive pooling), per axis so non-square maps work; falls back to 1 when the map is small."""
    kh, kw = max(1, f.shape[-2] // bins), max(1, f.shape[-1] // bins)
    return F.avg_pool2d(f, (kh, kw), (kh, kw))


class MaskNet(nn.Module):
    def __init__(self, n_regions: int = 2, nf: int = 64, n_res: int = 3, temperature: float = 1.0,
                 gain: float = 0.8):
        super().__init__()
        self.n_regions = n_regions
        self.temperature = temperature
        self.stem = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, nf // 4, 7, bias=False),
                                  nn.InstanceNorm2d(nf // 4, affine=True), nn.ReLU(inplace=True))
        self.down = nn.Sequential(_conv_in_relu(nf // 4, nf // 2, 3, 2), _conv_in_relu(nf // 2, nf, 3, 2))
        self.res = nn.Sequential(*[_ResBlock(nf) for _ in range(n_res)])
        self.psp = nn.ModuleList(nn.Conv2d(nf, 1, 1) for _ in PSP_BINS)
        wide = nf + len(PSP_BINS)  # the reference's _upConv(nf=nf+4): its widths derive from nf + 4
        self.up1 = _conv_in_relu(wide, wide // 2, 3)
        self.up2 = _conv_in_relu(wide // 2, wide // 4, 3)
        self.n_logits = 1 if n_regions == 2 else n_regions
        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(wide // 4, self.n_logits, 7))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                ortho_weight_(m, gain)  # reference weights_init_ortho: weights only

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) -> (B,K,H,W) region logits whose softmax (after /T) are the masks.

        For two regions the reference's single logit l becomes (l, 0): softmax((l, 0)/T) is exactly
        (σ(l/T), 1 − σ(l/T)). H, W need not be multiples of 4.
        """
        h, w = x.shape[-2:]
        f = self.res(self.down(self.stem(x)))
        fh, fw = f.shape[-2:]
        pyramid = [F.interpolate(conv(psp_pool(f, bins)), size=(fh, fw), mode="bilinear", align_corners=False)
                   for bins, conv in zip(PSP_BINS, self.psp)]
        f = torch.cat([f, *pyramid], dim=1)
        f = self.up1(F.interpolate(f, size=(min(2 * fh, h), min(2 * fw, w)), mode="nearest"))
        f = self.up2(F.interpolate(f, size=(h, w), mode="nearest"))
        out = self.head(f)
        if self.n_logits == 1:
            out = torch.cat([out, torch.zeros_like(out)], dim=1)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Soft masks (B,K,H,W) summing to one over regions."""
        return torch.softmax(self.logits(x) / self.temperature, dim=1)
