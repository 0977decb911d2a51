"""ReDO checkpoints: plain state dicts + JSON-able config, written atomically, read with weights_only."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from ...configs import config_from_dict
from ...fileio import atomic_torch_save, read_checkpoint
from .config import RedoConfig
from .networks import RedoNetworks

CHECKPOINT_FORMAT = "maskcurator.redo"
CHECKPOINT_VERSION = 2  # 2: network blocks as the reference (v1 layouts no longer load)


class CheckpointError(ValueError):
    """The file is not a usable ReDO checkpoint; the message says why."""


def save_checkpoint(path: Path, nets: RedoNetworks, cfg: RedoConfig, **meta: Any) -> Path:
    """All four networks (predictor needs only ``mask``; the rest lets the redrawing be inspected)."""
    state = {name: {k: v.detach().cpu() for k, v in getattr(nets, name).state_dict().items()}
             for name in ("mask", "generators", "discriminator", "encoder")}
    atomic_torch_save({"format": CHECKPOINT_FORMAT, "version": CHECKPOINT_VERSION, "state_dict": state,
                 "config": asdict(cfg), **meta}, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read and validate a ReDO checkpoint (on CPU); clear errors for anything else."""
    path = Path(path)
    ckpt = read_checkpoint(path, "ReDO", CheckpointError)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        fmt = ckpt.get("format")
        raise CheckpointError(f"{path.name} is not a ReDO checkpoint (format {fmt!r}, "
                              f"expected {CHECKPOINT_FORMAT!r})")
    if ckpt.get("version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(f"{path.name} was written by a newer MaskCurator (version {ckpt['version']})")
    if ckpt.get("version", 0) < CHECKPOINT_VERSION:
        raise CheckpointError(f"{path.name} was trained with an older ReDO network layout (version "
                              f"{ckpt.get('version', 0)}); train ReDO again to get a usable model")
    if "mask" not in ckpt.get("state_dict", {}):
        raise CheckpointError(f"{path.name} has no mask-network weights")
    try:
        ckpt["config_obj"] = config_from_dict(RedoConfig, ckpt["config"])
    except (TypeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"{path.name} has an invalid ReDO config: {exc}") from None
    return ckpt
