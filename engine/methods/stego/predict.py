"""Turn a STEGO checkpoint into per-image cluster maps and mask proposals.

Inference follows the reference evaluation: the image is fed at ``predict_resolution`` (short side),
the code of the image and of its mirror are averaged, the code is bilinearly upsampled before the
probes, cluster posteriors are ``softmax(2·cos)``, optionally refined by the dense CRF (STEGO preset).
Masks are computed at a working resolution (longer side ≤ ``max_side``) and upsampled to full size,
so a 20-megapixel photo never allocates a 70-channel full-resolution code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ...backbone import Backbone, BackboneSpec, load_backbone
from ...configs import config_from_dict
from ...crf import STEGO_CRF, dense_crf
from ...fileio import read_checkpoint as read_checkpoint_file
from ...proposals import Proposal
from .config import StegoConfig
from .model import StegoModel

CHECKPOINT_FORMAT = "maskcurator.stego"
SOURCE = "stego"
#: Temperature of the cluster posterior used by STEGO's evaluation and CRF.
CLUSTER_ALPHA = 2.0


class StegoCheckpointError(ValueError):
    """The file is missing, unreadable, or not a STEGO checkpoint written by MaskCurator."""


@dataclass(frozen=True)
class StegoCheckpoint:
    config: StegoConfig
    state_dict: dict[str, torch.Tensor]
    step: int
    meta: dict[str, Any]

    @property
    def n_classes(self) -> int:
        return int(self.meta.get("n_classes", 0))

    @property
    def backbone_spec(self) -> BackboneSpec:
        b = self.meta.get("backbone") or {}
        if not b:
            return self.config.backbone_spec()
        return BackboneSpec(name=b.get("name") or "", checkpoint=b.get("checkpoint"), seed=int(b.get("seed", 0)))


def read_checkpoint(path: str | Path) -> StegoCheckpoint:
    """Load and validate a checkpoint with ``weights_only=True``; clear errors for wrong files."""
    path = Path(path)
    obj = read_checkpoint_file(path, "STEGO", StegoCheckpointError)
    if obj.get("format") != CHECKPOINT_FORMAT:
        found = obj.get("format")
        raise StegoCheckpointError(f"{path.name} is not a STEGO checkpoint (format {found!r}); "
                                   "train STEGO in MaskCurator to get one")
    state, raw_cfg = obj.get("state_dict"), obj.get("config")
    if not isinstance(state, dict) or not isinstance(raw_cfg, dict):
        raise StegoCheckpointError(f"{path.name} lacks its weights or settings")
    try:
        cfg = config_from_dict(StegoConfig, raw_cfg)
    except (TypeError, ValueError) as exc:
        raise StegoCheckpointError(f"{path.name}: stored settings are invalid: {exc}") from exc
    return StegoCheckpoint(cfg, state, int(obj.get("step", 0)), dict(obj.get("meta") or {}))


def build_model(ckpt: StegoCheckpoint) -> StegoModel:
    """Recreate the module tree the checkpoint was saved from and load its weights (strictly)."""
    state = ckpt.state_dict
    try:
        in_dim = int(state["head.linear.weight"].shape[1])
        n_clusters = int(state["cluster_probe.clusters"].shape[0])
    except KeyError as exc:
        raise StegoCheckpointError(f"checkpoint weights lack {exc}") from None
    n_classes = int(state["linear_probe.conv.weight"].shape[0]) if "linear_probe.conv.weight" in state else 0
    cfg = ckpt.config
    model = StegoModel(in_dim, cfg.dim, cfg.dropout, n_clusters, n_classes)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise StegoCheckpointError(f"checkpoint weights do not match the STEGO head: {exc}") from exc
    return model.eval()


@dataclass(frozen=True)
class StegoSegmentation:
    """Full-resolution outputs for one image: cluster ids, their confidence, linear-probe classes."""

    clusters: np.ndarray  # int64 (H, W)
    confidence: np.ndarray  # float32 (H, W): posterior of the chosen cluster
    classes: np.ndarray | None  # int64 (H, W) linear-probe classes, None without a linear probe


class StegoPredictor:
    """Frozen backbone + trained head/probes → cluster maps and one proposal per cluster present."""

    def __init__(self, model: StegoModel, backbone: Backbone, cfg: StegoConfig, device: torch.device,
                 crf: bool | None = None):
        if backbone.embed_dim != model.in_dim:
            raise StegoCheckpointError(f"the checkpoint was trained on {model.in_dim}-d features but the "
                                       f"backbone {backbone.spec.name} gives {backbone.embed_dim}-d")
        self.model = model.to(device).eval()
        self.backbone = backbone if backbone.device == device else backbone.to(device)
        self.cfg = cfg
        self.device = device
        self.crf = cfg.crf if crf is None else bool(crf)

    @property
    def n_clusters(self) -> int:
        return self.model.cluster_probe.n_clusters

    @property
    def n_classes(self) -> int:
        return self.model.linear_probe.n_classes if self.model.linear_probe is not None else 0

    def _net_input(self, rgb: np.ndarray) -> np.ndarray:
        """Short side → predict_resolution, each side snapped to a patch multiple (whole image kept)."""
        p = self.backbone.patch_size
        h, w = rgb.shape[:2]
        scale = self.cfg.predict_resolution / min(h, w)
        nh, nw = max(p, round(h * scale / p) * p), max(p, round(w * scale / p) * p)
        interp = cv2.INTER_AREA if nh < h else cv2.INTER_LINEAR
        return cv2.resize(rgb, (nw, nh), interpolation=interp)

    @torch.inference_mode()
    def code(self, rgb: np.ndarray) -> torch.Tensor:
        """(1, dim, h, w) code on the patch grid, averaged with the mirrored image's when flip_tta."""
        x = self.backbone.normalise(self._net_input(rgb))[None]
        if self.cfg.flip_tta:
            x = torch.cat([x, x.flip(-1)])
        tokens = self.backbone(x).tokens.permute(0, 3, 1, 2).to(self.device, torch.float32)
        _, code = self.model.head(tokens)
        if self.cfg.flip_tta:
            code = (code[:1] + code[1:].flip(-1)) / 2
        return code

    def _work_size(self, h: int, w: int) -> tuple[int, int]:
        scale = min(1.0, self.cfg.max_side / max(h, w))
        return max(1, round(h * scale)), max(1, round(w * scale))

    @torch.inference_mode()
    def segment(self, rgb: np.ndarray, crf: bool | None = None) -> StegoSegmentation:
        """Cluster ids (and linear-probe classes) for every pixel of ``rgb`` (H, W, 3) uint8."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        use_crf = self.crf if crf is None else crf
        h, w = rgb.shape[:2]
        wh, ww = self._work_size(h, w)
        code = F.interpolate(self.code(rgb), size=(wh, ww), mode="bilinear", align_corners=False)
        work_rgb = rgb if (wh, ww) == (h, w) else cv2.resize(rgb, (ww, wh), interpolation=cv2.INTER_AREA)
        cluster_probs = self.model.cluster_probe.log_probs(code, CLUSTER_ALPHA)[0].exp()
        clusters, conf = self._labels(work_rgb, cluster_probs, use_crf)
        classes = None
        if self.model.linear_probe is not None:
            class_probs = torch.softmax(self.model.linear_probe(code), dim=1)[0]
            classes, _ = self._labels(work_rgb, class_probs, use_crf)
        if (wh, ww) != (h, w):
            clusters = cv2.resize(clusters.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
            conf = cv2.resize(conf, (w, h), interpolation=cv2.INTER_LINEAR)
            if classes is not None:
                classes = cv2.resize(classes.astype(np.int32), (w, h), interpolation=cv2.INTER_NEAREST)
        return StegoSegmentation(clusters.astype(np.int64), conf.astype(np.float32),
                                 None if classes is None else classes.astype(np.int64))

    @staticmethod
    def _labels(rgb: np.ndarray, probs: torch.Tensor, use_crf: bool) -> tuple[np.ndarray, np.ndarray]:
        p = probs.float().cpu().numpy()
        if use_crf:
            # All K labels go in, as the reference: with the flat softmax(2·cos) posterior, dropping
            # labels that win no pixel would re-weight the Potts messages and change the result
            # (measured 2-14 % of pixels), at a cost linear in K.
            p = dense_crf(rgb, p, STEGO_CRF)
        labels = p.argmax(axis=0)
        return labels, np.take_along_axis(p, labels[None], axis=0)[0]

    def predict(self, rgb: np.ndarray, tags: Sequence[str] = ()) -> list[Proposal]:
        """One proposal per cluster present, full-resolution bool mask, score = mean posterior."""
        seg = self.segment(rgb)
        ids, counts = np.unique(seg.clusters, return_counts=True)
        sums = np.bincount(seg.clusters.ravel(), weights=seg.confidence.ravel(), minlength=self.n_clusters)
        proposals = []
        for k, n in zip(ids.tolist(), counts.tolist()):
            proposals.append(Proposal(mask=seg.clusters == k, source=SOURCE, label=int(k),
                                      score=float(sums[k] / n), name=f"cluster {k}",
                                      extra={"area_fraction": n / seg.clusters.size}))
        return proposals


def load_predictor(checkpoint: str | Path, device: torch.device | str = "cpu", *, crf: bool | None = None,
                   backbone: Backbone | None = None) -> StegoPredictor:
    """Checkpoint → :class:`StegoPredictor`. The backbone recorded in the checkpoint is loaded unless
    one is passed (e.g. already loaded by the app); ``crf`` overrides the stored setting."""
    device = torch.device(device)
    ckpt = read_checkpoint(checkpoint)
    model = build_model(ckpt)
    if backbone is None:
        backbone = load_backbone(ckpt.backbone_spec, device)
    return StegoPredictor(model, backbone, ckpt.config, device, crf)
