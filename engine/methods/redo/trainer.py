"""One ReDO optimisation step (networks + optimisers), shared by ``train`` and the benchmark.

Per step, as the reference: a generator-side update of F, G and δ together on one batch,
``L = -mean D(x̂) + λ_z · MSE(z, δ(Σ_k h_k))`` over all K redrawings of every image; then a
discriminator update with the hinge loss on a second real batch vs. the redrawings of the first
(recomputed with the just-updated F and G, so F runs twice per step).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .config import RedoConfig
from .data import BatchSampler
from .networks import RedoNetworks

#: Order of the values in the stats vector returned by :meth:`RedoTrainer.step`.
STAT_NAMES = ("loss_d", "loss_g_adv", "loss_z")


def hinge_d_loss(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def hinge_g_loss(d_fake: torch.Tensor) -> torch.Tensor:
    return -d_fake.mean()


class RedoTrainer:
    def __init__(self, cfg: RedoConfig, images_u8: torch.Tensor, device: torch.device, seed: int):
        self.cfg, self.device = cfg, device
        torch.manual_seed(seed)
        self.nets = RedoNetworks(cfg).to(device)
        self.nets.train()
        betas = (cfg.beta1, cfg.beta2)
        n = self.nets
        self.opt_m = torch.optim.Adam(n.mask.parameters(), cfg.lr_mask, betas, weight_decay=cfg.mask_weight_decay)
        self.opt_g = torch.optim.Adam(n.generators.parameters(), cfg.lr_generator, betas)
        self.opt_e = torch.optim.Adam(n.encoder.parameters(), cfg.lr_encoder, betas)
        self.opt_d = torch.optim.Adam(n.discriminator.parameters(), cfg.lr_discriminator, betas)
        images_u8 = images_u8.to(device)
        self.g_batches = BatchSampler(images_u8, cfg.batch_size, seed, cfg.hflip)
        self.d_batches = BatchSampler(images_u8, cfg.batch_size, seed + 7919, cfg.hflip)

    def step(self) -> torch.Tensor:
        """One G-side + one D update; returns detached [loss_d, loss_g_adv, loss_z, area_1..area_K]."""
        cfg, n = self.cfg, self.nets
        x = self.g_batches.next()
        z = torch.randn(x.shape[0], cfg.n_regions, cfg.z_dim, device=self.device)

        # F, G, δ step (D frozen: no parameter gradients computed for it)
        n.discriminator.requires_grad_(False)
        red = n.redraw(x, z)
        loss_adv = hinge_g_loss(n.discriminator(red.fakes))
        loss_z = F.mse_loss(n.encoder(red.contents.sum(1)), z)
        loss = loss_adv + cfg.lambda_z * loss_z
        for opt in (self.opt_m, self.opt_g, self.opt_e):
            opt.zero_grad(set_to_none=True)
        loss.backward()
        for opt in (self.opt_m, self.opt_g, self.opt_e):
            opt.step()
        n.discriminator.requires_grad_(True)
        areas = torch.nn.functional.one_hot(red.masks.detach().argmax(1), cfg.n_regions).float().mean((0, 1, 2))

        # D step: hinge loss, real batch vs. redrawings of the generator batch
        with torch.no_grad():
            fakes = n.redraw(x, z).fakes
        x_real = self.d_batches.next()
        loss_d = hinge_d_loss(n.discriminator(x_real), n.discriminator(fakes))
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        self.opt_d.step()
        head = torch.stack([loss_d.detach(), loss_adv.detach(), loss_z.detach()])
        return torch.cat([head, areas])
