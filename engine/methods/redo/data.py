"""Training images for ReDO: one square uint8 tensor per image, cached, sampled in shuffled epochs.

Each image is resized (nearest neighbour) so its short side equals ``size`` and centre-cropped, as the
reference does. Random horizontal flips are optional (off by default: the reference has none).
The whole set is kept as one uint8 tensor (328 horses at 128 px = 16 MB) on the training device, and
optionally persisted under the work directory so re-training skips decoding.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from PIL import Image

from ...fileio import atomic_torch_save
from ...imageio import ImageLoadError, load_image

CACHE_VERSION = 2  # 2: nearest resize + torchvision crop rounding


def square_crop(rgb: np.ndarray, size: int, resample: int = Image.NEAREST) -> np.ndarray:
    """Short side -> ``size``, then centre crop to ``size`` x ``size`` (works for masks too).

    torchvision's ``Resize(size, Image.NEAREST)`` + ``CenterCrop(size)`` as the reference uses them:
    long side ``int(size * long / short)``, crop offset ``int(round((n - size) / 2))``.
    """
    h, w = rgb.shape[:2]
    if h <= w:
        nh, nw = size, max(size, int(size * w / h))
    else:
        nh, nw = max(size, int(size * h / w)), size
    img = Image.fromarray(rgb).resize((nw, nh), resample)
    left, top = int(round((nw - size) / 2.0)), int(round((nh - size) / 2.0))
    return np.asarray(img.crop((left, top, left + size, top + size)))


def load_square(path: Path, size: int) -> np.ndarray:
    return square_crop(load_image(path), size)


def load_square_mask(path: Path, size: int) -> np.ndarray:
    """A binary ground-truth mask (any non-zero = foreground) cropped exactly like its image."""
    gt = np.asarray(Image.open(path).convert("L")) > 127
    return square_crop(gt.astype(np.uint8) * 255, size, Image.NEAREST) > 127


@dataclass(frozen=True)
class ImageTensor:
    """(N,3,S,S) uint8 images and the paths they came from (unreadable files are skipped)."""

    images: torch.Tensor
    paths: tuple[Path, ...]
    skipped: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.paths)


def _cache_key(paths: Sequence[Path], size: int) -> str:
    h = hashlib.sha1(f"v{CACHE_VERSION}:{size}".encode())
    for p in paths:
        try:
            st = p.stat()
            h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{p}|missing\n".encode())
    return h.hexdigest()[:16]


def build_image_tensor(paths: Sequence[Path], size: int, cache_dir: Path | None = None,
                       progress: Callable[[float, str], None] | None = None) -> ImageTensor:
    """Decode, crop and stack all images; re-uses ``cache_dir/redo_images_<key>.pt`` when it matches."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("The training set is empty: add images before training ReDO.")
    cache = cache_dir / f"redo_images_{size}_{_cache_key(paths, size)}.pt" if cache_dir else None
    if cache is not None and cache.is_file():
        try:
            blob = torch.load(cache, map_location="cpu", weights_only=True)
            return ImageTensor(blob["images"], tuple(Path(p) for p in blob["paths"]), tuple(blob["skipped"]))
        except Exception:  # a stale or truncated cache is rebuilt, never fatal
            pass
    arrays, kept, skipped = [], [], []
    for i, p in enumerate(paths):
        try:
            arrays.append(load_square(p, size))
            kept.append(p)
        except ImageLoadError as exc:
            skipped.append(str(exc))
        if progress is not None and (i % 8 == 0 or i == len(paths) - 1):
            progress((i + 1) / len(paths), f"Loading images {i + 1}/{len(paths)}")
    if not arrays:
        raise ValueError(f"None of the {len(paths)} training images could be read: {skipped[0]}")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    out = ImageTensor(images, tuple(kept), tuple(skipped))
    if cache is not None:
        try:
            atomic_torch_save({"images": images, "paths": [str(p) for p in kept], "skipped": skipped}, cache)
        except OSError:
            pass  # the cache only saves decoding time on the next run
    return out


def to_model_input(images_u8: torch.Tensor) -> torch.Tensor:
    """uint8 (B,3,H,W) -> float in [0, 1]: the reference feeds ``transforms.ToTensor()`` images (no
    normalisation) to the mask network and the discriminator, while the generators draw in tanh's
    [-1, 1]."""
    return images_u8.float().div_(255.0)


class BatchSampler:
    """Epoch-wise shuffled batches from a device-resident uint8 tensor, with random horizontal flips."""

    def __init__(self, images_u8: torch.Tensor, batch_size: int, seed: int, hflip: bool = False):
        if len(images_u8) == 0:
            raise ValueError("no images to sample from")
        self.images = images_u8
        self.batch_size = batch_size
        self.hflip = hflip
        self.gen = torch.Generator().manual_seed(seed)
        self._order = torch.empty(0, dtype=torch.long)
        self._pos = 0

    def _next_indices(self) -> torch.Tensor:
        out = []
        need = self.batch_size
        while need > 0:
            if self._pos >= len(self._order):
                self._order = torch.randperm(len(self.images), generator=self.gen)
                self._pos = 0
            take = self._order[self._pos:self._pos + need]
            self._pos += len(take)
            need -= len(take)
            out.append(take)
        return torch.cat(out)

    def next(self) -> torch.Tensor:
        idx = self._next_indices()
        x = to_model_input(self.images[idx.to(self.images.device)])
        if self.hflip:
            flip = (torch.rand(len(idx), generator=self.gen) < 0.5).to(x.device)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        return x
