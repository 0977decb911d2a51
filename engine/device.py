"""Device choice and the one place that knows what a GPU out-of-memory error looks like."""

from __future__ import annotations

import functools
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


def single_blas_thread():
    """Context: NumPy/SciPy BLAS (OpenBLAS/MKL) limited to one thread while torch keeps its own pool.

    Why: on a few shared cores torch's OpenMP threads and OpenBLAS's pthreads oversubscribe; the small
    matrix-vector products of Lanczos (``eigsh``), the sparse CG of matting and k-means then spend
    most of their time spinning (measured 4x slower eigenvectors with the default thread count).
    Falls back to a no-op when threadpoolctl (a scikit-learn dependency) is absent.
    """
    controller = _blas_controller()
    if controller is None:  # pragma: no cover - scikit-learn always brings threadpoolctl
        import contextlib

        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.lru_cache(maxsize=1)
def _blas_controller():
    """One threadpoolctl controller for the process: building one scans every loaded library (~2 ms),
    too much for a context entered on every prompt click; limiting through it costs ~0.05 ms."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:  # pragma: no cover
        return None
    return ThreadpoolController()


class small_cpu_ops:
    """Context for the many small CPU steps after the ViT (graph, eigenvectors, k-means, CRF, matting):
    one torch thread and one BLAS thread, restored afterwards; a no-op on GPU devices.

    Why: these ops are a few milliseconds each; with two pools of threads competing for a few shared
    cores the synchronisation costs more than the work (k-means on 1200 points: 27 ms → 7 ms, Lanczos
    eigenvectors 104 → 24 ms measured on 2 cores). The ViT forward pass keeps all threads.
    """

    def __init__(self, device: torch.device | str = "cpu"):
        self.active = torch.device(device).type == "cpu"
        self._saved = 0
        self._blas = None

    def __enter__(self) -> "small_cpu_ops":
        if self.active:
            self._saved = torch.get_num_threads()
            torch.set_num_threads(1)
            self._blas = single_blas_thread()
            self._blas.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            self._blas.__exit__(*exc)
            torch.set_num_threads(self._saved)


_BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_bf16_matmul() -> bool:
    """True where the CPU multiplies bfloat16 natively (Intel AMX / AVX512-BF16), so ViT inference
    under bf16 autocast runs ~3× faster than float32 (ViT-S/16, 416×640, one thread: 0.22 vs 0.66 CPU-s)
    with patch features within cos 0.999 of float32. Elsewhere bf16 is emulated and slower: False.
    ``MASKCURATOR_CPU_BF16=0`` / ``=1`` overrides the detection."""
    forced = os.environ.get("MASKCURATOR_CPU_BF16", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    try:
        if not torch.backends.mkldnn.is_available() or not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except (OSError, AttributeError, RuntimeError):
        return False
    return any(flag in flags for flag in _BF16_CPU_FLAGS)
