"""STEGO training: precompute crop features once, then train the head (and probes) on them.

Three optimisers, as the reference: Adam(lr) for the head on the correlation loss, Adam(probe_lr) for
the cluster probe and, only when labels are given, for the linear probe. Both probes read the
detached code, so they never influence the head.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from ...backbone import Backbone, load_backbone
from ...fileio import atomic_torch_save, atomic_write_json
from ...jobs import JobContext
from ..base import TrainingLog, TrainingSet
from .config import StegoConfig
from .data import IGNORE_LABEL, CropFeatures, LabelSource, build_crop_features, n_label_classes
from .loss import LossSettings, stego_loss
from .model import StegoModel
from .predict import CHECKPOINT_FORMAT

CHECKPOINT_VERSION = 1
FINAL_NAME = "stego_final.pt"
LOG_NAME = "training_log.json"

#: Share of the progress bar spent on feature extraction (the rest is training steps).
_FEATURE_SHARE = 0.15
#: Crop features stay on the GPU when they take less than this (else they are moved per batch).
_GPU_RESIDENT_BYTES = 4 << 30


def train(dataset: TrainingSet, cfg: StegoConfig, ctx: JobContext, workdir: Path, *,
          labels: Sequence[LabelSource] | None = None, n_classes: int | None = None,
          backbone: Backbone | None = None) -> Path:
    """Train STEGO on ``dataset``; returns the final checkpoint path under ``workdir``.

    ``labels`` (one class-index mask per image, 255 = ignore) also trains the linear probe with
    ``n_classes`` classes (default: inferred from the labels). ``backbone`` may be passed to reuse an
    already loaded one; it must be the one ``cfg.backbone`` names (its spec is recorded).
    """
    if not isinstance(cfg, StegoConfig):
        raise TypeError(f"expected StegoConfig, got {type(cfg).__name__}")
    if not dataset.images:
        raise ValueError("The training set is empty: add images before training STEGO.")
    ctx.progress(0.0, "Loading backbone")
    if backbone is None:
        backbone = load_backbone(cfg.backbone_spec(), ctx.device)
    elif backbone.device != ctx.device:
        backbone.to(ctx.device)
    data = build_crop_features(dataset, backbone, cfg, labels,
                               progress=lambda f, m: ctx.progress(_FEATURE_SHARE * f, m))
    if n_classes is None:
        n_classes = n_label_classes(data)
    meta = {"backbone": {"name": backbone.spec.name, "checkpoint": backbone.spec.checkpoint,
                         "seed": backbone.spec.seed},
            "n_images": len(dataset.images)}
    return train_on_features(data, cfg, ctx, Path(workdir), n_classes=n_classes if data.labels is not None else 0,
                             meta=meta, progress_start=_FEATURE_SHARE)


def train_on_features(data: CropFeatures, cfg: StegoConfig, ctx: JobContext, workdir: Path, *,
                      n_classes: int = 0, meta: dict[str, Any] | None = None,
                      progress_start: float = 0.0) -> Path:
    """The optimisation loop over precomputed crop features (also used by the benchmark)."""
    if len(data) < 2:
        raise ValueError("STEGO needs at least two training crops")
    device = ctx.device
    workdir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)  # head / centroid initialisation
    gen = torch.Generator().manual_seed(cfg.seed)  # batches, kNN picks, sampled coordinates
    train_linear = data.labels is not None and n_classes > 0
    model = StegoModel(data.feat_dim, cfg.dim, cfg.dropout, cfg.total_clusters,
                       n_classes if train_linear else 0).to(device)
    head_opt = torch.optim.Adam(model.head.parameters(), lr=cfg.lr)
    cluster_opt = torch.optim.Adam(model.cluster_probe.parameters(), lr=cfg.probe_lr)
    linear_opt = (torch.optim.Adam(model.linear_probe.parameters(), lr=cfg.probe_lr)
                  if model.linear_probe is not None else None)
    settings = LossSettings.from_config(cfg)

    feats = data.feats
    if device.type == "cuda" and feats.numel() * feats.element_size() < _GPU_RESIDENT_BYTES:
        feats = feats.to(device)
    labels = data.labels
    batch = min(cfg.batch_size, len(data))
    log = TrainingLog()
    terms_log: dict[str, list[float]] = {"self": [], "knn": [], "rand": [], "cluster": [], "linear": []}
    base_meta = dict(meta or {}, feat_dim=data.feat_dim, patch_size=data.patch_size, n_classes=n_classes
                     if train_linear else 0, n_crops=len(data))

    order = torch.randperm(len(data), generator=gen)
    cursor = 0
    model.train()
    for step in range(1, cfg.steps + 1):
        if cursor + batch > len(order):
            order, cursor = torch.randperm(len(data), generator=gen), 0
        idx = order[cursor:cursor + batch]
        cursor += batch
        ranks = torch.randint(data.knn.shape[1], (batch,), generator=gen)
        pos = data.knn[idx, ranks]

        f = feats[idx.to(feats.device)].to(device, torch.float32, non_blocking=True)
        f_pos = feats[pos.to(feats.device)].to(device, torch.float32, non_blocking=True)
        f_drop, code = model.head(f)
        f_pos_drop, code_pos = model.head(f_pos)
        terms = stego_loss(f_drop, f_pos_drop, code, code_pos, settings, gen)

        detached = code.detach()
        cluster_loss, _ = model.cluster_probe(detached)
        loss = terms.total + cluster_loss
        linear_loss = torch.zeros((), device=device)
        if model.linear_probe is not None and labels is not None:
            target = labels[idx].to(device, torch.long)
            logits = F.interpolate(model.linear_probe(detached), size=target.shape[-2:], mode="bilinear",
                                   align_corners=False)
            target = torch.where(target >= n_classes, torch.full_like(target, IGNORE_LABEL), target)
            if (target != IGNORE_LABEL).any():
                linear_loss = F.cross_entropy(logits, target, ignore_index=IGNORE_LABEL)
                loss = loss + linear_loss

        value = float(terms.total.detach())
        if value != value or abs(value) == float("inf"):
            raise FloatingPointError(f"STEGO loss became {value} at step {step}; lower the learning rate")
        head_opt.zero_grad(set_to_none=True)
        cluster_opt.zero_grad(set_to_none=True)
        if linear_opt is not None:
            linear_opt.zero_grad(set_to_none=True)
        loss.backward()
        head_opt.step()
        cluster_opt.step()
        if linear_opt is not None:
            linear_opt.step()

        log.add(step, value)
        for key, v in (("self", terms.self_term), ("knn", terms.knn_term), ("rand", terms.rand_term),
                       ("cluster", cluster_loss), ("linear", linear_loss)):
            terms_log[key].append(float(v.detach()))
        ctx.progress(progress_start + (1 - progress_start) * step / cfg.steps,
                     f"Step {step}/{cfg.steps}  loss {value:.4f}")
        if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and step < cfg.steps:
            save_checkpoint(workdir / f"stego_step{step:06d}.pt", model, cfg, step, base_meta)
            save_log(workdir / LOG_NAME, log, terms_log)

    final = save_checkpoint(workdir / FINAL_NAME, model, cfg, cfg.steps, base_meta)
    save_log(workdir / LOG_NAME, log, terms_log)
    return final


def save_checkpoint(path: Path, model: StegoModel, cfg: StegoConfig, step: int, meta: dict[str, Any]) -> Path:
    """``{"format", "version", "state_dict", "config", "step", "meta"}``, written atomically."""
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "state_dict": state,
               "config": asdict(cfg), "step": int(step), "meta": meta}
    atomic_torch_save(payload, path)
    return path


def save_log(path: Path, log: TrainingLog, terms: dict[str, list[float]]) -> None:
    atomic_write_json(path, {**asdict(log), "terms": terms})
