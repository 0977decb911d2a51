"""The four ReDO networks built from one config, and the redraw step that ties them together."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn

from .config import RedoConfig
from .discriminator import Discriminator, LatentEncoder
from .generator import RegionGenerators
from .mask_net import MaskNet


def build_mask_net(cfg: RedoConfig) -> MaskNet:
    return MaskNet(cfg.n_regions, cfg.nf_mask, cfg.mask_res_blocks, cfg.mask_temperature, cfg.init_gain)


class RedoNetworks(nn.Module):
    """F (mask), G_1..G_K (generators), D (discriminator) and δ (latent encoder)."""

    def __init__(self, cfg: RedoConfig):
        super().__init__()
        self.cfg = cfg
        self.mask = build_mask_net(cfg)
        self.generators = RegionGenerators(cfg.n_regions, cfg.image_size, cfg.z_dim, cfg.nf_generator,
                                           cfg.self_attention_g, cfg.init_gain)
        self.discriminator = Discriminator(cfg.image_size, cfg.nf_discriminator, cfg.self_attention_d,
                                           cfg.init_gain)
        self.encoder = LatentEncoder(cfg.image_size, cfg.n_regions, cfg.z_dim, cfg.nf_encoder, cfg.init_gain)

    def sample_z(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        device = next(self.parameters()).device
        z = torch.randn(batch, self.cfg.n_regions, self.cfg.z_dim, generator=generator)
        return z.to(device)

    def redraw(self, x: torch.Tensor, z: torch.Tensor) -> "Redraw":
        """Masks of x, new content for every region, and the K composites per image."""
        masks = self.mask(x)  # (B,K,S,S)
        h = self.generators(masks, z)  # (B,K,3,S,S)
        fakes = h + (1.0 - masks[:, :, None]) * x[:, None]
        return Redraw(masks, h, fakes.flatten(0, 1))


@dataclass(frozen=True)
class Redraw:
    masks: torch.Tensor  # (B,K,S,S) soft masks
    contents: torch.Tensor  # (B,K,3,S,S) generated region contents (already masked)
    fakes: torch.Tensor  # (B*K,3,S,S) composites x̂_k = h_k + (1 - m_k) x
