"""ReDO inference: the mask network alone turns an image into a foreground proposal.

The image is resized (aspect kept) so its short side equals the training size — the mask network
is fully convolutional, so nothing is cropped away — and the region logits are upsampled back to
full resolution before the argmax. Foreground = every region except the background, where the
background is the checkpoint's model-level choice (border rule, see ``regions``), or decided per
image when the checkpoint has none or ``per_image_polarity`` is set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ...proposals import Proposal
from .checkpoint import CheckpointError, load_checkpoint
from .config import RedoConfig
from .data import to_model_input
from .mask_net import MaskNet
from .networks import build_mask_net
from .regions import background_per_image

SOURCE = "redo"


class RedoPredictor:
    def __init__(self, mask_net: MaskNet, cfg: RedoConfig, device: torch.device,
                 background_region: int | None = None):
        self.net = mask_net.to(device).eval()
        self.cfg = cfg
        self.device = device
        self.background_region = background_region

    def _input(self, rgb: np.ndarray) -> torch.Tensor:
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an uint8 RGB image (H, W, 3), got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        s = self.cfg.image_size / min(h, w)
        nh, nw = max(4, round(h * s / 4) * 4), max(4, round(w * s / 4) * 4)
        small = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.NEAREST))  # as training (reference)
        x = torch.from_numpy(np.array(small, copy=True)).permute(2, 0, 1)[None]
        return to_model_input(x).to(self.device)

    @torch.no_grad()
    def region_probabilities(self, rgb: np.ndarray) -> torch.Tensor:
        """(K, H, W) soft region masks at full image resolution (on the predictor's device)."""
        logits = self.net.logits(self._input(rgb))
        logits = F.interpolate(logits, size=rgb.shape[:2], mode="bilinear", align_corners=False)
        return torch.softmax(logits / self.cfg.mask_temperature, dim=1)[0]

    def background_of(self, probs: torch.Tensor) -> int:
        if self.background_region is not None and 0 <= self.background_region < probs.shape[0]:
            return self.background_region
        hard = F.one_hot(probs.argmax(0), probs.shape[0]).permute(2, 0, 1).float()
        return int(background_per_image(hard[None])[0])

    def predict(self, rgb: np.ndarray, tags: Sequence[str] = ()) -> list[Proposal]:
        """One proposal per non-background region (one for the default two regions)."""
        probs = self.region_probabilities(rgb)
        labels = probs.argmax(0)
        bg = self.background_of(probs)
        out = []
        for k in range(probs.shape[0]):
            if k == bg:
                continue
            mask = labels == k
            score = float(probs[k][mask].mean()) if bool(mask.any()) else 0.0
            name = "object" if probs.shape[0] == 2 else f"region {k}"
            out.append(Proposal(mask=mask.cpu().numpy(), source=SOURCE, label=k, score=score, name=name))
        return out


def load_predictor(checkpoint: str | Path, device: torch.device | str = "cpu", *,
                   per_image_polarity: bool = False) -> RedoPredictor:
    """Build the predictor from a ``train`` checkpoint (weights_only load; clear error otherwise)."""
    ckpt = load_checkpoint(checkpoint)
    cfg: RedoConfig = ckpt["config_obj"]
    net = build_mask_net(cfg)
    try:
        net.load_state_dict(ckpt["state_dict"]["mask"])
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(checkpoint).name}: mask weights do not match its config: {exc}") from None
    bg = int(ckpt.get("background_region", -1))
    return RedoPredictor(net, cfg, torch.device(device), None if per_image_polarity or bg < 0 else bg)
