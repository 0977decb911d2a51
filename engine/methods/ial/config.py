"""IAL settings: one frozen dataclass the GUI turns into a form and the CLI fills from ``--set``.

Defaults follow PSA/AffinityNet where the IAL paper is silent (alpha 4/32, CRF 3/3 + 80/13/10,
radius 5, beta 8, 256 walk steps, 15 CAM epochs, 8 AffinityNet epochs), scaled to a frozen ViT
instead of a trained ResNet-38. Training length is in epochs; ``*_steps`` / ``max_steps`` override or
cap it for quick runs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class IalConfig:
    # -- backbone and input ---------------------------------------------------------------------
    backbone: str = "dino_vits16"
    backbone_checkpoint: str | None = None  # local ViT file; overrides ``backbone`` when set
    backbone_seed: int = 0  # only for random_* backbones (tests)
    image_size: int = 320  # images are resized to this square (cropped to the patch multiple)
    map_stride: int = 8  # pixels per cell of the unary / affinity / random-walk grid (power of 2)

    # -- CAM seeds ---------------------------------------------------------------------------------
    cam_scales: tuple[float, ...] = (0.75, 1.0, 1.5)
    cam_flip: bool = True
    cam_epochs: float = 15.0  # PSA train_cls.py --max_epoches 15 (steps = epochs · images / batch)
    cam_steps: int | None = None  # exact step count instead of epochs (tests, benchmarks)
    cam_lr: float = 5e-3
    alpha_low: float = 4.0  # (1 - max CAM)^alpha_low: weak background -> confident foreground
    alpha_high: float = 32.0  # (1 - max CAM)^alpha_high: background even then -> confident background
    use_crf: bool = True  # dense CRF (PSA preset) on both background versions
    cam_pixel_branch: bool = False  # let the CAM classifier also learn from RGB (colour-coded classes)

    # -- iterative unary / affinity learning ---------------------------------------------------------
    rounds: int = 2
    unary_epochs: float = 8.0  # no PSA counterpart (its segmentation net is trained separately): as AffinityNet
    unary_steps: int | None = None
    unary_lr: float = 1e-3
    unary_dim: int = 256
    unary_balanced: bool = True  # 1/sqrt(frequency) class weights: seeds are mostly background
    unary_pixel_branch: bool = True  # low-level RGB skip in the unary head (finer than a ViT patch)
    affinity_epochs: float = 8.0  # PSA train_aff.py --max_epoches 8
    affinity_steps: int | None = None
    affinity_lr: float = 1e-3
    affinity_dim: int = 64
    affinity_radius: int = 5  # neighbours j with |i - j| < radius (grid cells)
    rw_beta: float = 8.0  # transition matrix T = normalise(A ** beta)
    rw_iterations: int = 256
    batch_size: int = 8  # PSA train_aff.py; the CAM classifier draws 2x (PSA train_cls.py: 16)
    max_steps: int | None = None  # cap on every phase's step count (quick runs); None = no cap

    # -- confident-region mining (SLIC) --------------------------------------------------------------
    slic_segments: int = 150
    slic_compactness: float = 10.0
    vote_threshold: float = 0.7  # share of a superpixel's pixels agreeing with its majority label
    confidence_threshold: float = 0.5  # mean refined probability of that label inside the superpixel

    # -- prediction ----------------------------------------------------------------------------------
    score_threshold: float = 0.5  # classifier probability that counts as "present" when no tags given
    predict_crf: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        problems = []
        if self.image_size < 32:
            problems.append("image_size must be at least 32")
        if self.map_stride < 2 or self.map_stride & (self.map_stride - 1):
            problems.append("map_stride must be a power of two >= 2")
        if not self.cam_scales or any(s <= 0 for s in self.cam_scales):
            problems.append("cam_scales must be a non-empty list of positive factors")
        if not 0 < self.alpha_low < self.alpha_high:
            problems.append("need 0 < alpha_low < alpha_high")
        if not 1 <= self.rounds <= 10:
            problems.append("rounds must be between 1 and 10")
        if self.affinity_radius < 2:
            problems.append("affinity_radius must be at least 2")
        if self.rw_beta <= 0 or self.rw_iterations < 0:
            problems.append("rw_beta must be > 0 and rw_iterations >= 0")
        steps = [v for v in (self.cam_steps, self.unary_steps, self.affinity_steps, self.max_steps) if v is not None]
        if min([*steps, self.batch_size]) < 1:
            problems.append("step counts, max_steps and batch_size must be >= 1")
        if min(self.cam_epochs, self.unary_epochs, self.affinity_epochs) <= 0:
            problems.append("epochs must be > 0")
        for name in ("vote_threshold", "confidence_threshold", "score_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                problems.append(f"{name} must be in [0, 1]")
        if self.slic_segments < 2:
            problems.append("slic_segments must be >= 2")
        if problems:
            raise ValueError("Invalid IAL settings: " + "; ".join(problems))

    def phase_steps(self, phase: str, n_samples: int, batch: int) -> int:
        """Optimiser steps of ``phase`` ("cam", "unary", "affinity") for ``n_samples`` training images
        drawn ``batch`` at a time: the explicit ``<phase>_steps`` when set, else
        ``ceil(<phase>_epochs · n_samples / batch)`` (one epoch = every image seen once on average),
        capped by ``max_steps``."""
        explicit = getattr(self, f"{phase}_steps")
        if explicit is not None:
            steps = int(explicit)
        else:
            steps = math.ceil(getattr(self, f"{phase}_epochs") * max(n_samples, 1) / max(batch, 1))
        if self.max_steps is not None:
            steps = min(steps, self.max_steps)
        return max(1, steps)
