"""IAL training: CAM -> seeds -> [unary -> affinity -> random walk -> mining -> new seeds] x rounds.

The ViT stays frozen; its tokens are computed once per image and kept on the CPU in float16, so each
round only trains three small heads. Every stage reports progress through ``ctx.progress`` (also the
cancellation point), a checkpoint is written atomically after every round, and the loss history goes
to ``training_log.json`` next to it.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ...backbone import BackboneSpec, load_backbone
from ...imageio import load_image
from ...fileio import atomic_torch_save, atomic_write_json
from ...jobs import JobContext
from ..base import TrainingLog, TrainingSet
from .affinity import train_affinity
from .cam import make_seeds, multiscale_cams, normalise_cams, seed_stats, train_classifier
from .config import IalConfig
from .data import grid_size, resize_square, rgb_tensor, scaled_tokens, working_size
from .mining import mine_confident
from .model import IalModel, refine
from .unary import train_unary

CHECKPOINT_NAME = "ial.pt"
LOG_NAME = "training_log.json"
CHECKPOINT_FORMAT = 1
NO_TAGS_MESSAGE = ("IAL needs image-level tags; tag images in the Tags panel or import them with "
                   "`main.py tags import`")


def tagged_images(dataset: TrainingSet) -> tuple[list[Path], tuple[str, ...], np.ndarray]:
    """Paths of tagged images, the class list and multi-hot targets (N, n_classes) float32.

    The class list is the project's; when it is empty the sorted set of all tags is used. Images
    without tags are left out (their content is unknown, not "background only").
    """
    if not dataset.images:
        raise ValueError("IAL: the training set is empty")
    tagged = [im for im in dataset.images if im.tags]
    if not tagged:
        raise ValueError(NO_TAGS_MESSAGE)
    class_names = tuple(dataset.class_names) or tuple(sorted({t for im in tagged for t in im.tags}))
    index = {name: i for i, name in enumerate(class_names)}
    unknown = sorted({t for im in tagged for t in im.tags if t not in index})
    if unknown:
        raise ValueError(f"IAL: tags {unknown} are not in the project's class list {list(class_names)}")
    targets = np.zeros((len(tagged), len(class_names)), np.float32)
    for i, im in enumerate(tagged):
        targets[i, [index[t] for t in im.tags]] = 1.0
    return [Path(im.path) for im in tagged], class_names, targets


def _log_dict(log: TrainingLog) -> dict:
    tail = log.losses[-10:]
    return {"steps": log.steps, "losses": log.losses, "final_loss": float(np.mean(tail)) if tail else None}


def _mean_stats(seeds: np.ndarray) -> dict:
    stats = [seed_stats(s) for s in seeds]
    return {k: float(np.mean([getattr(s, k) for s in stats])) for k in ("foreground", "background", "ignored")}


def train(dataset: TrainingSet, cfg: IalConfig, ctx: JobContext, workdir: Path) -> Path:
    """Train IAL on the tagged images of ``dataset``; returns the final checkpoint path."""
    started = time.time()
    paths, class_names, targets_np = tagged_images(dataset)
    if len(paths) < len(dataset.images):
        ctx.message(f"IAL: {len(dataset.images) - len(paths)} untagged images are left out of training")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    device = ctx.device
    torch.manual_seed(cfg.seed)

    def span(lo: float, hi: float) -> Callable[[float, str], None]:
        return lambda frac, msg: ctx.progress(lo + (hi - lo) * frac, msg)

    ctx.progress(0.0, "IAL: loading backbone")
    backbone = load_backbone(BackboneSpec(cfg.backbone, cfg.backbone_checkpoint, cfg.backbone_seed), device)
    size = working_size(cfg.image_size, backbone.patch_size)
    grid = grid_size(size, cfg.map_stride)
    n, bs = len(paths), cfg.batch_size

    # -- frozen features, once -------------------------------------------------------------------
    rgbs = np.empty((n, size, size, 3), np.uint8)
    token_chunks = []
    for start in range(0, n, bs):
        chunk = range(start, min(start + bs, n))
        for i in chunk:
            rgbs[i] = resize_square(load_image(paths[i]), size)
        token_chunks.append(scaled_tokens(backbone, rgbs[chunk.start:chunk.stop]).to("cpu", torch.float16))
        span(0.02, 0.10)(chunk.stop / n, f"IAL: features {chunk.stop}/{n}")
    tokens = torch.cat(token_chunks)
    targets = torch.from_numpy(targets_np)
    model = IalModel(tokens.shape[1], len(class_names), cfg).to(device)

    # -- CAM classifier and seeds ----------------------------------------------------------------
    rgb_batches = lambda idx: rgb_tensor(rgbs[idx.numpy()], device)  # noqa: E731
    cam_log = train_classifier(model.classifier, tokens, targets, cfg, device, span(0.10, 0.20), rgb_batches)
    seeds = np.empty((n, size, size), np.uint8)
    for start in range(0, n, bs):
        stop = min(start + bs, n)
        cams = normalise_cams(multiscale_cams(backbone, model.classifier, rgbs[start:stop], cfg),
                              targets[start:stop].to(device) > 0).cpu().numpy()
        for j, i in enumerate(range(start, stop)):
            ids = np.flatnonzero(targets_np[i])
            seeds[i] = make_seeds(rgbs[i], cams[j][ids], ids, cfg)
        span(0.20, 0.30)(stop / n, f"IAL: CAM seeds {stop}/{n}")
    log: dict = {"method": "ial", "class_names": list(class_names), "images": n, "working_size": size,
                 "grid": grid, "cam": _log_dict(cam_log), "seeds": _mean_stats(seeds), "rounds": []}

    allowed_all = torch.cat([torch.ones(n, 1, dtype=torch.bool), targets > 0], dim=1)
    checkpoint = workdir / CHECKPOINT_NAME
    per_round = 0.68 / cfg.rounds
    for r in range(cfg.rounds):
        lo = 0.30 + r * per_round
        seeds_t = torch.from_numpy(seeds)
        unary_log = train_unary(model.unary, tokens, rgb_batches, seeds_t, grid, cfg, device,
                                span(lo, lo + 0.4 * per_round), seed=cfg.seed + 101 * r)
        aff_log = train_affinity(model.affinity, tokens, rgb_batches, seeds_t, grid, cfg, device,
                                 span(lo + 0.4 * per_round, lo + 0.8 * per_round), seed=cfg.seed + 211 * r)
        new_seeds = np.empty_like(seeds)
        kept = total = 0
        for start in range(0, n, bs):
            stop = min(start + bs, n)
            idx = torch.arange(start, stop)
            x = tokens[idx].to(device, torch.float32)
            _, refined = refine(model, x, rgb_batches(idx), allowed_all[idx].to(device), grid, cfg)
            probs = F.interpolate(refined, size=(size, size), mode="bilinear", align_corners=False).cpu().numpy()
            for j, i in enumerate(range(start, stop)):
                mined = mine_confident(rgbs[i], probs[j], cfg.slic_segments, cfg.slic_compactness,
                                       cfg.vote_threshold, cfg.confidence_threshold)
                new_seeds[i] = mined.labels
                kept += mined.n_kept
                total += mined.n_superpixels
            span(lo + 0.8 * per_round, lo + per_round)(stop / n, f"IAL round {r + 1}: random walk + mining {stop}/{n}")
        round_log = {"round": r + 1, "unary": _log_dict(unary_log), "affinity": _log_dict(aff_log),
                     "mined": _mean_stats(new_seeds), "superpixels_kept": kept / max(total, 1)}
        log["rounds"].append(round_log)
        if (new_seeds != 255).any():
            seeds = new_seeds
        else:
            ctx.message(f"IAL round {r + 1}: no region passed the confidence thresholds; keeping the previous seeds")
        atomic_torch_save(_checkpoint(model, cfg, class_names, tokens.shape[1], backbone.patch_size, r + 1), checkpoint)
        log["seconds"] = time.time() - started
        atomic_write_json(workdir / LOG_NAME, log)
    ctx.progress(1.0, f"IAL: done, checkpoint {checkpoint.name}")
    return checkpoint


def _checkpoint(model: IalModel, cfg: IalConfig, class_names: tuple[str, ...], in_dim: int, patch: int,
                round_: int) -> dict:
    return {"method": "ial", "format": CHECKPOINT_FORMAT,
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
            "config": asdict(cfg), "class_names": list(class_names), "in_dim": in_dim, "patch_size": patch,
            "round": round_}
