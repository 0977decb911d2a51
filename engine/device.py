"""Device choice and the one place that knows what a GPU out-of-memory error looks like."""

from __future__ import annotations

import os

import torch


def pick_device(preference: str = "auto") -> torch.device:
    """``"auto"`` → CUDA if present, else CPU; ``"cpu"``/``"cuda"``/``"cuda:1"`` are taken literally.

    ``MASKCURATOR_DEVICE`` overrides ``"auto"`` (handy to force CPU on a shared GPU box).
    """
    if preference == "auto":
        preference = os.environ.get("MASKCURATOR_DEVICE", "auto")
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"Device {preference!r} requested but CUDA is not available on this machine")
    return device


def is_out_of_memory(exc: BaseException) -> bool:
    """True for CUDA OOM in all the forms torch raises it (typed error or RuntimeError text)."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def release_cuda_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def peak_memory_mb(device: torch.device) -> float:
    """Peak allocated memory since the last reset: CUDA allocator on GPU, process max RSS on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work (timings are meaningless without it); a no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
