"""Image preparation shared by IAL training and prediction.

Every image is resized to one square working size so a whole batch is one tensor on the GPU (ViT
tokens, CAMs, unary and affinity maps). Masks are mapped back to the original size at the end.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...backbone import IMAGENET_MEAN, IMAGENET_STD, Backbone


def working_size(image_size: int, patch_size: int) -> int:
    """Largest multiple of the patch size not above ``image_size`` (at least one patch)."""
    return max(patch_size, image_size // patch_size * patch_size)


def grid_size(work: int, map_stride: int) -> int:
    """Side of the unary / affinity / random-walk grid."""
    return max(1, work // map_stride)


def resize_square(rgb: np.ndarray, size: int) -> np.ndarray:
    """uint8 (H, W, 3) -> uint8 (size, size, 3); area filter when shrinking, linear when growing."""
    h, w = rgb.shape[:2]
    interp = cv2.INTER_AREA if size * size < h * w else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(rgb, (size, size), interpolation=interp))


def rgb_tensor(rgbs: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 (B, S, S, 3) -> ImageNet-normalised float (B, 3, S, S) on ``device``."""
    x = torch.from_numpy(np.ascontiguousarray(rgbs)).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


def scaled_tokens(backbone: Backbone, rgbs: np.ndarray, scale: float = 1.0, flip: bool = False) -> torch.Tensor:
    """ViT output tokens (B, C, h, w) for a batch of square uint8 images at ``scale`` of their size.

    The result is a normal (not inference-mode) float32 tensor on the backbone's device, so heads can
    be trained on it.
    """
    return scaled_batch(backbone, rgbs, scale, flip)[0]


def scaled_batch(backbone: Backbone, rgbs: np.ndarray, scale: float = 1.0,
                 flip: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Tokens (B, C, h, w) and the normalised, rescaled (and flipped) input (B, 3, s, s) they came from."""
    x = rgb_tensor(rgbs, backbone.device)
    p = backbone.patch_size
    side = max(p, int(round(x.shape[-1] * scale / p)) * p)
    if side != x.shape[-1]:
        x = F.interpolate(x, size=(side, side), mode="bilinear", align_corners=False)
    if flip:
        x = x.flip(-1)
    tokens = backbone(x).tokens
    return tokens.permute(0, 3, 1, 2).contiguous().clone(), x


class PixelStem(nn.Module):
    """Trainable stride-``stride`` conv stack on the RGB image: detail finer than a ViT patch.

    Plays the part of DeepLab v3+'s low-level features next to the frozen, coarse ViT tokens.
    """

    def __init__(self, stride: int, out_dim: int = 32):
        super().__init__()
        layers, ch = [], 3
        for i in range(max(1, stride.bit_length() - 1)):
            out = 16 if i == 0 else out_dim
            layers += [nn.Conv2d(ch, out, 3, stride=2, padding=1), nn.ELU(inplace=True)]
            ch = out
        self.layers = nn.Sequential(*layers)
        self.out_dim = ch

    def forward(self, rgb: torch.Tensor, grid: int) -> torch.Tensor:
        """Normalised (B, 3, S, S) -> (B, out_dim, grid, grid)."""
        r = self.layers(rgb)
        if r.shape[-1] != grid or r.shape[-2] != grid:
            r = F.interpolate(r, size=(grid, grid), mode="bilinear", align_corners=False)
        return r


def downsample_labels(labels: torch.Tensor, size: int) -> torch.Tensor:
    """Nearest-neighbour (B, S, S) label maps -> (B, size, size) long (ignore 255 survives)."""
    x = F.interpolate(labels[:, None].float(), size=(size, size), mode="nearest")
    return x[:, 0].long()
