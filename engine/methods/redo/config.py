"""ReDO settings. Defaults follow the reference (``mickaelChen/ReDO`` train.py) unless noted.

Widths follow the README's Flowers command (``--nfX 32 --useSelfAttG --useSelfAttD``): 64 for the
mask network, discriminator and latent encoder (``--nf`` default), 32 for the region generators.
Tests and CPU runs use much narrower widths through these same fields.

The GUI builds its training form from these fields and the CLI parses ``--set key=value`` against
their types, so every field is a plain scalar with a default.
"""

from __future__ import annotations

from dataclasses import dataclass


def _is_pow2(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


@dataclass(frozen=True)
class RedoConfig:
    # data / model shape
    image_size: int = 128  # square training side: 4 * 2**n (the generator starts from a 4x4 map)
    z_dim: int = 32
    n_regions: int = 2
    # network widths (reference: 64 everywhere, see module docstring)
    nf_mask: int = 64
    nf_generator: int = 32
    nf_discriminator: int = 64
    nf_encoder: int = 64
    mask_res_blocks: int = 3
    self_attention_g: bool = True  # SAGAN block before the generators' last up-block
    self_attention_d: bool = True  # SAGAN block after the discriminator's first block
    mask_temperature: float = 1.0
    init_gain: float = 0.8  # orthogonal initialisation gain
    # optimisation (Adam, betas (beta1, beta2) for all four networks)
    batch_size: int = 20
    lr_mask: float = 1e-5
    mask_weight_decay: float = 1e-4
    lr_generator: float = 1e-4
    lr_discriminator: float = 1e-4
    lr_encoder: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    lambda_z: float = 5.0  # weight of the latent-recovery MSE in the generator-side loss
    steps: int = 30000  # README: stop between 20k and 40k iterations
    seed: int = 0
    hflip: bool = False  # random horizontal flip of training images (the reference has none)
    # bookkeeping
    log_every: int = 10  # loss averages written to the training log
    checkpoint_every: int = 500  # redo_last.pt; 0 = only at the end
    validate_every: int = 500  # validation score -> redo_best.pt
    val_fraction: float = 0.05  # held-out share of the training images used for validation
    val_max_images: int = 64
    # collapse detection and automatic restart (reference --autoRestart, before iteration 7000)
    collapse_min_area: float = 0.05  # a region whose mean (hard) area is below this ...
    collapse_max_area: float = 0.95  # ... or above this counts as collapsed at a check
    collapse_check_every: int = 250
    collapse_patience: int = 3  # consecutive collapsed checks that trigger a restart
    restart_until: int = 7000  # restarts only before this step (0 = any time); later collapses
    #                            are left to best-checkpoint selection
    max_restarts: int = 5

    def __post_init__(self) -> None:
        problems = []
        if self.image_size < 16 or self.image_size % 4 or not _is_pow2(self.image_size // 4):
            problems.append("image_size must be 4 * 2**n and >= 16 (16, 32, 64, 128, 256 ...)")
        if self.z_dim < 1:
            problems.append("z_dim must be >= 1")
        if self.n_regions < 2:
            problems.append("n_regions must be >= 2")
        for name in ("nf_mask", "nf_generator", "nf_discriminator", "nf_encoder"):
            if getattr(self, name) < 4:
                problems.append(f"{name} must be >= 4")
        if self.nf_mask % 4:
            problems.append("nf_mask must be a multiple of 4")
        if self.mask_res_blocks < 0:
            problems.append("mask_res_blocks must be >= 0")
        if self.mask_temperature <= 0:
            problems.append("mask_temperature must be > 0")
        if self.batch_size < 1:
            problems.append("batch_size must be >= 1")
        if min(self.lr_mask, self.lr_generator, self.lr_discriminator, self.lr_encoder) <= 0:
            problems.append("learning rates must be > 0")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            problems.append("Adam betas must be in [0, 1)")
        if self.lambda_z < 0 or self.mask_weight_decay < 0:
            problems.append("lambda_z and mask_weight_decay must be >= 0")
        if self.steps < 1:
            problems.append("steps must be >= 1")
        if self.log_every < 1:
            problems.append("log_every must be >= 1")
        if self.checkpoint_every < 0 or self.validate_every < 0:
            problems.append("checkpoint_every and validate_every must be >= 0")
        if not 0.0 <= self.val_fraction < 1.0:
            problems.append("val_fraction must be in [0, 1)")
        if self.val_max_images < 1:
            problems.append("val_max_images must be >= 1")
        if not 0.0 <= self.collapse_min_area < self.collapse_max_area <= 1.0:
            problems.append("need 0 <= collapse_min_area < collapse_max_area <= 1")
        if self.collapse_check_every < 1 or self.collapse_patience < 1:
            problems.append("collapse_check_every and collapse_patience must be >= 1")
        if self.restart_until < 0 or self.max_restarts < 0:
            problems.append("restart_until and max_restarts must be >= 0")
        if problems:
            raise ValueError("Invalid ReDO settings: " + "; ".join(problems))

    @property
    def n_up_blocks(self) -> int:
        """Generator up-sampling blocks (and discriminator down-samplings): 4 * 2**n = image_size."""
        return (self.image_size // 4).bit_length() - 1
