"""ReDO checkpoints: plain state dicts + JSON-able config, written atomically, read with weights_only."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from .config import RedoConfig
from .networks import RedoNetworks

CHECKPOINT_FORMAT = "maskcurator.redo"
CHECKPOINT_VERSION = 1


class CheckpointError(ValueError):
    """The file is not a usable ReDO checkpoint; the message says why."""


def atomic_save(obj: Any, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_checkpoint(path: Path, nets: RedoNetworks, cfg: RedoConfig, **meta: Any) -> Path:
    """All four networks (predictor needs only ``mask``; the rest lets the redrawing be inspected)."""
    state = {name: {k: v.detach().cpu() for k, v in getattr(nets, name).state_dict().items()}
             for name in ("mask", "generators", "discriminator", "encoder")}
    atomic_save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "state_dict": state,
                 "config": asdict(cfg), **meta}, path)
    return path


def config_from_dict(values: dict) -> RedoConfig:
    known = {f.name for f in dataclasses.fields(RedoConfig)}
    return RedoConfig(**{k: v for k, v in values.items() if k in known})


def load_checkpoint(path: str | Path) -> dict:
    """Read and validate a ReDO checkpoint (on CPU); clear errors for anything else."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"ReDO checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path.name} is not a readable torch checkpoint: {exc}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        fmt = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"{path.name} is not a ReDO checkpoint (format {fmt!r}, "
                              f"expected {CHECKPOINT_FORMAT!r})")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path.name} was written by a newer MaskCurator (version {ckpt['version']})")
    if "mask" not in ckpt.get("state_dict", {}):
        raise CheckpointError(f"{path.name} has no mask-network weights")
    try:
        ckpt["config_obj"] = config_from_dict(ckpt["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path.name} has an invalid ReDO config: {exc}") from None
    return ckpt
