"""ReDO training job: data, attempts with automatic restart on mask collapse, validation, checkpoints.

Writes under ``workdir``: ``redo_best.pt`` (best validation score over all attempts — the returned
path), ``redo_last.pt`` (latest weights of the current attempt), ``training_log.json`` and a
``cache/`` of decoded training images.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from ...fileio import atomic_write_json
from ...jobs import JobContext
from ..base import TrainingLog, TrainingSet
from .checkpoint import save_checkpoint
from .collapse import CollapseMonitor
from .config import RedoConfig
from .data import ImageTensor, build_image_tensor, load_square, load_square_mask, to_model_input
from .evaluate import LabelledImage
from .trainer import STAT_NAMES, RedoTrainer
from .validation import ValidationScore, validate

BEST_NAME = "redo_best.pt"
LAST_NAME = "redo_last.pt"
LOG_NAME = "training_log.json"
#: Share of the progress bar spent decoding images.
_DATA_SHARE = 0.05
#: Seed offset between restarts (any odd constant gives unrelated streams).
_RESTART_SEED_STRIDE = 1_000_003


@dataclass
class RedoTrainingLog(TrainingLog):
    """``losses`` holds the discriminator hinge loss; the rest is ReDO-specific."""

    attempts: list[int] = field(default_factory=list)  # attempt index of each logged step
    loss_g_adv: list[float] = field(default_factory=list)
    loss_z: list[float] = field(default_factory=list)
    region_areas: list[list[float]] = field(default_factory=list)
    validations: list[dict] = field(default_factory=list)
    restarts: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=dict)
    n_train: int = 0
    n_val: int = 0
    skipped_images: list[str] = field(default_factory=list)

    def write(self, path: Path) -> None:
        atomic_write_json(path, asdict(self))


def split_train_val(n: int, cfg: RedoConfig) -> tuple[np.ndarray, np.ndarray, bool]:
    """(train idx, val idx, held_out). Too few images for a hold-out: validate on training images."""
    order = np.random.default_rng(cfg.seed).permutation(n)
    n_val = min(cfg.val_max_images, int(n * cfg.val_fraction))
    if n_val >= 1 and n - n_val >= 2:
        return np.sort(order[n_val:]), np.sort(order[:n_val]), True
    return np.arange(n), np.sort(order[:min(n, cfg.val_max_images)]), False


def _gt_tensors(pairs: Sequence[LabelledImage], size: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs = [load_square(p.image, size) for p in pairs]
    ms = [load_square_mask(p.mask, size) for p in pairs]
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
    return to_model_input(x), torch.from_numpy(np.stack(ms))


def train(dataset: TrainingSet, cfg: RedoConfig, ctx: JobContext, workdir: Path, *,
          validation: Sequence[LabelledImage] | None = None) -> Path:
    """Train ReDO on ``dataset``; returns the best checkpoint.

    ``validation`` (image + ground-truth mask pairs, optional) switches checkpoint selection from the
    unsupervised score to foreground IoU, as the reference selects by validation IoU.
    """
    if not isinstance(cfg, RedoConfig):
        raise TypeError(f"expected RedoConfig, got {type(cfg).__name__}")
    if not dataset.images:
        raise ValueError("The training set is empty: add images before training ReDO.")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    ctx.progress(0.0, "Loading images")
    data = build_image_tensor([im.path for im in dataset.images], cfg.image_size, workdir / "cache",
                              progress=lambda f, m: ctx.progress(_DATA_SHARE * f, m))
    for reason in data.skipped:
        ctx.message(f"ReDO: skipped unreadable image {reason}")
    gt = _gt_tensors(validation, cfg.image_size) if validation else None
    return train_on_images(data, cfg, ctx, workdir, gt=gt, progress_start=_DATA_SHARE)


def train_on_images(data: ImageTensor, cfg: RedoConfig, ctx: JobContext, workdir: Path, *,
                    gt: tuple[torch.Tensor, torch.Tensor] | None = None,
                    progress_start: float = 0.0) -> Path:
    """The optimisation loop over a decoded image tensor (see module docstring for outputs)."""
    if len(data) < 1:
        raise ValueError("ReDO needs at least one readable training image")
    device = ctx.device
    workdir.mkdir(parents=True, exist_ok=True)
    tr_idx, val_idx, held_out = split_train_val(len(data), cfg)
    train_u8 = data.images[torch.from_numpy(tr_idx)]
    x_val = to_model_input(data.images[torch.from_numpy(val_idx)]).to(device)
    x_gt, m_gt = (gt[0].to(device), gt[1].to(device)) if gt is not None else (None, None)
    if not held_out:
        ctx.message(f"ReDO: only {len(data)} images, validating on training images (no hold-out)")

    log = RedoTrainingLog(n_train=len(tr_idx), n_val=len(val_idx), skipped_images=list(data.skipped))
    best_path, last_path, log_path = workdir / BEST_NAME, workdir / LAST_NAME, workdir / LOG_NAME
    best_score = -math.inf
    span = 1.0 - progress_start
    attempt, seed = 0, cfg.seed
    gave_up_warned = False
    try:
        while True:
            trainer = RedoTrainer(cfg, train_u8, device, seed)
            monitor = CollapseMonitor(cfg.collapse_min_area, cfg.collapse_max_area, cfg.collapse_patience)
            log_sum = torch.zeros(len(STAT_NAMES) + cfg.n_regions, device=device)
            log_n = 0
            area_sum = torch.zeros(cfg.n_regions, device=device)
            area_n = 0
            restart = False
            for step in range(1, cfg.steps + 1):
                stats = trainer.step()
                log_sum += stats
                area_sum += stats[len(STAT_NAMES):]
                log_n += 1
                area_n += 1
                last_step = step == cfg.steps
                if step % cfg.log_every == 0 or last_step:
                    mean = (log_sum / log_n).tolist()
                    log.add(step, mean[0])
                    log.attempts.append(attempt)
                    log.loss_g_adv.append(mean[1])
                    log.loss_z.append(mean[2])
                    log.region_areas.append(mean[len(STAT_NAMES):])
                    if not all(math.isfinite(v) for v in mean[:len(STAT_NAMES)]):
                        raise FloatingPointError(f"ReDO losses became non-finite at step {step}: {mean}")
                    log_sum.zero_()
                    log_n = 0
                if step % cfg.collapse_check_every == 0:
                    areas = (area_sum / area_n).tolist()
                    area_sum.zero_()
                    area_n = 0
                    may_restart = cfg.restart_until == 0 or step <= cfg.restart_until
                    if monitor.update(areas) and may_restart:
                        if attempt < cfg.max_restarts:
                            log.restarts.append({"attempt": attempt, "step": step, "seed": seed,
                                                 "region_areas": areas})
                            ctx.message(f"ReDO: masks collapsed (region areas {_fmt(areas)}) at step {step}; "
                                        f"restarting from scratch ({attempt + 1}/{cfg.max_restarts})")
                            restart = True
                            break
                        if not gave_up_warned:
                            ctx.message(f"ReDO: masks still collapse after {cfg.max_restarts} restarts; "
                                        "continuing, the best checkpoint is kept")
                            gave_up_warned = True
                if (cfg.validate_every and step % cfg.validate_every == 0) or last_step:
                    score = validate(trainer.nets, x_val, cfg, m_gt, x_gt, seed=cfg.seed)
                    log.validations.append({"attempt": attempt, "step": step, **asdict(score)})
                    if score.score > best_score:
                        best_score = score.score
                        _save(best_path, trainer, cfg, attempt, step, seed, score)
                        log.best = {"attempt": attempt, "step": step, "seed": seed, **asdict(score)}
                    log.write(log_path)
                if (cfg.checkpoint_every and step % cfg.checkpoint_every == 0) or last_step:
                    _save(last_path, trainer, cfg, attempt, step, seed, None)
                frac = progress_start + span * step / cfg.steps
                ctx.progress(frac, f"ReDO step {step}/{cfg.steps}" + (f" (restart {attempt})" if attempt else ""))
            if not restart:
                break
            attempt += 1
            seed = cfg.seed + _RESTART_SEED_STRIDE * attempt
    finally:
        log.write(log_path)
    return best_path


def _fmt(areas: Sequence[float]) -> str:
    return ", ".join(f"{a:.2f}" for a in areas)


def _save(path: Path, trainer: RedoTrainer, cfg: RedoConfig, attempt: int, step: int, seed: int,
          score: ValidationScore | None) -> None:
    meta: dict[str, Any] = {"attempt": attempt, "step": step, "seed": seed}
    if score is not None:
        meta.update(score=score.score, score_kind=score.kind, background_region=score.background_region)
    else:  # background rule on the latest masks is computed at prediction time per image
        meta.update(background_region=-1)
    save_checkpoint(path, trainer.nets, cfg, **meta)
