"""IAL inference: image (+ optional tags) -> one full-resolution mask proposal per present class.

Classes come from the tags when given (names outside the trained class list are ignored); without
tags, from the CAM classifier's image-level probabilities (>= ``score_threshold``; the single best
class if none passes). The refined map is upsampled to the original size before the arg-max.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...backbone import BackboneSpec, load_backbone
from ...configs import config_from_dict
from ...crf import PSA_CRF, dense_crf
from ...fileio import read_checkpoint as read_checkpoint_file
from ...proposals import Proposal
from .config import IalConfig
from .data import grid_size, resize_square, scaled_batch, working_size
from .model import IalModel, refine
from .train import CHECKPOINT_FORMAT


class CheckpointError(ValueError):
    """The file is not a usable IAL checkpoint; the message says why."""


def read_checkpoint(path: Path) -> dict:
    """Load and validate an IAL checkpoint with ``weights_only=True``."""
    path = Path(path)
    ckpt = read_checkpoint_file(path, "IAL", CheckpointError)
    if ckpt.get("method") != "ial":
        found = ckpt.get("method")
        raise CheckpointError(f"{path.name} is not an IAL checkpoint (method: {found!r})")
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path.name}: IAL checkpoint format {ckpt.get('format')} is not supported "
                              f"(expected {CHECKPOINT_FORMAT}); retrain the model")
    missing = [k for k in ("state_dict", "config", "class_names", "in_dim") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path.name}: IAL checkpoint lacks {missing}")
    return ckpt


class IalPredictor:
    """Holds the backbone and the trained heads on one device."""

    def __init__(self, model: IalModel, cfg: IalConfig, class_names: Sequence[str], backbone, device: torch.device):
        self.model = model.to(device).eval()
        self.cfg = cfg
        self.class_names = tuple(class_names)
        self.backbone = backbone
        self.device = device
        self.size = working_size(cfg.image_size, backbone.patch_size)
        self.grid = grid_size(self.size, cfg.map_stride)
        self._index = {name: i for i, name in enumerate(self.class_names)}

    @torch.no_grad()
    def class_scores(self, rgb: np.ndarray) -> np.ndarray:
        """Image-level class probabilities (n_classes,) from the CAM classifier."""
        tokens, x = scaled_batch(self.backbone, resize_square(rgb, self.size)[None])
        return torch.sigmoid(self.model.classifier(tokens, x))[0].cpu().numpy()

    def _allowed(self, tags: Sequence[str], scores: np.ndarray) -> np.ndarray:
        ids = [self._index[t] for t in tags if t in self._index]
        if not ids:
            ids = list(np.flatnonzero(scores >= self.cfg.score_threshold)) or [int(scores.argmax())]
        allowed = np.zeros(len(self.class_names) + 1, bool)
        allowed[0] = True
        allowed[np.asarray(ids) + 1] = True
        return allowed

    @torch.no_grad()
    def label_probs(self, rgb: np.ndarray, tags: Sequence[str] = ()) -> tuple[np.ndarray, np.ndarray]:
        """Refined probabilities (n_classes + 1, H, W) at full resolution and image-level scores."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an uint8 RGB image (H, W, 3), got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        small = resize_square(rgb, self.size)
        tokens, x = scaled_batch(self.backbone, small[None])
        scores = torch.sigmoid(self.model.classifier(tokens, x))[0].cpu().numpy()
        allowed = torch.from_numpy(self._allowed(tags, scores))[None].to(self.device)
        _, refined = refine(self.model, tokens, x, allowed, self.grid, self.cfg)
        if self.cfg.predict_crf:
            probs = F.interpolate(refined, size=(self.size, self.size), mode="bilinear", align_corners=False)
            keep = allowed[0].cpu().numpy()
            q = dense_crf(small, probs[0, keep].cpu().numpy(), PSA_CRF)
            refined_np = np.zeros((len(keep),) + q.shape[1:], np.float32)
            refined_np[keep] = q
            refined = torch.from_numpy(refined_np)[None].to(self.device)
        full = F.interpolate(refined, size=(h, w), mode="bilinear", align_corners=False)[0]
        return full.cpu().numpy(), scores

    def predict(self, rgb: np.ndarray, tags: Sequence[str] = ()) -> list[Proposal]:
        """One proposal per class that wins at least one pixel; masks are (H, W) bool at full size."""
        probs, scores = self.label_probs(rgb, tags)
        labels = probs.argmax(axis=0)
        out = []
        for c in np.unique(labels):
            if c == 0:
                continue
            mask = labels == c
            cls = int(c) - 1
            score = float(probs[c][mask].mean())
            out.append(Proposal(mask=mask, source="ial", label=cls, score=score, name=self.class_names[cls],
                                extra={"class_probability": float(scores[cls])}))
        return out


def load_predictor(checkpoint: Path, device: torch.device | str = "cpu") -> IalPredictor:
    """Checkpoint -> :class:`IalPredictor` on ``device`` (backbone rebuilt from the saved settings)."""
    device = torch.device(device)
    ckpt = read_checkpoint(Path(checkpoint))
    cfg = config_from_dict(IalConfig, ckpt["config"])
    class_names = [str(c) for c in ckpt["class_names"]]
    model = IalModel(int(ckpt["in_dim"]), len(class_names), cfg)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as exc:
        raise CheckpointError(f"{Path(checkpoint).name}: weights do not match the IAL model ({exc})") from exc
    backbone = load_backbone(BackboneSpec(cfg.backbone, cfg.backbone_checkpoint, cfg.backbone_seed), device)
    if backbone.embed_dim != int(ckpt["in_dim"]):
        raise CheckpointError(f"{Path(checkpoint).name} was trained on {ckpt['in_dim']}-d features but the "
                              f"backbone {cfg.backbone} gives {backbone.embed_dim}-d")
    return IalPredictor(model, cfg, class_names, backbone, device)
