"""Per-image ViT features with an on-disk cache.

Features are the expensive, reusable part: Deep Spectral Methods, STEGO and IAL all start from them,
and a user clicking back and forth through a dataset should pay for each image once. The cache key is
``sha1(image bytes) + backbone identity + extraction resolution``, so renaming or moving a file keeps
its cache entry and changing the backbone or resolution never returns stale features.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .backbone import Backbone
from .fileio import atomic_write
from .imageio import ImageFile, resize_max_side

#: Default longest side fed to the ViT. COCO / VOC / BSDS images are at or below it, so they run at
#: native resolution (as in DSM); larger photos are downscaled so the token graph stays tractable.
DEFAULT_MAX_SIDE = 640


@dataclass(frozen=True)
class PatchFeatures:
    """ViT outputs for one image on its patch grid.

    ``keys``/``tokens`` are float32 (h, w, C); ``input_rgb`` is the uint8 image exactly as fed to the
    ViT (resized and cropped to h*patch × w*patch) – methods that need colour at patch level use it.
    ``image_hw`` is the original upright image size, to map masks back to full resolution.
    """

    keys: np.ndarray
    tokens: np.ndarray
    cls: np.ndarray
    patch_size: int
    input_rgb: np.ndarray
    image_hw: tuple[int, int]

    @property
    def grid_hw(self) -> tuple[int, int]:
        return self.keys.shape[0], self.keys.shape[1]


def prepare_input(rgb: np.ndarray, patch_size: int, max_side: int | None) -> np.ndarray:
    """Resize to ``max_side`` and crop to a multiple of the patch size (uint8 RGB)."""
    small = resize_max_side(rgb, max_side)
    h, w = small.shape[:2]
    h, w = max(h // patch_size, 1) * patch_size, max(w // patch_size, 1) * patch_size
    if small.shape[0] < h or small.shape[1] < w:  # tiny image: pad up to one patch
        small = np.pad(small, ((0, max(0, h - small.shape[0])), (0, max(0, w - small.shape[1])), (0, 0)),
                       mode="edge")
    return np.ascontiguousarray(small[:h, :w])


def extract_features(backbone: Backbone, rgbs: list[np.ndarray], max_side: int | None = DEFAULT_MAX_SIDE,
                     batch_size: int = 8) -> list[PatchFeatures]:
    """Run the backbone on images, batching those whose prepared size is equal (GPU throughput)."""
    prepared = [prepare_input(rgb, backbone.patch_size, max_side) for rgb in rgbs]
    out: list[PatchFeatures | None] = [None] * len(rgbs)
    by_shape: dict[tuple[int, int], list[int]] = {}
    for i, p in enumerate(prepared):
        by_shape.setdefault(p.shape[:2], []).append(i)
    for indices in by_shape.values():
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            batch = torch.stack([backbone.normalise(prepared[i]) for i in chunk])
            tb = backbone(batch)
            keys, tokens, cls = (t.cpu().numpy() for t in (tb.keys, tb.tokens, tb.cls))
            for j, i in enumerate(chunk):
                out[i] = PatchFeatures(keys[j], tokens[j], cls[j], backbone.patch_size, prepared[i],
                                       tuple(rgbs[i].shape[:2]))
    return out  # type: ignore[return-value]


#: Bits per feature value in the cache (symmetric, one scale per channel, zlib-compressed). 5 bits keep
#: eigenvectors at |cos| > 0.999 and object masks at IoU > 0.99 of the float features
#: (tests/test_speed_paths.py) at ~0.42 MiB for a 640×480 image with ViT-S/16 (was 2.2 MiB).
CACHE_BITS = 5


def quantise(x: np.ndarray, bits: int = CACHE_BITS) -> tuple[np.ndarray, np.ndarray]:
    """(…, C) float → int8 codes in [−(2^(bits−1)−1), 2^(bits−1)−1] and a float32 (C,) scale per channel.

    Per channel, not per token: ViT outputs have a few very large channels that would otherwise
    crush every other channel of the token to zero."""
    q = 2 ** (bits - 1) - 1
    flat = x.reshape(-1, x.shape[-1]).astype(np.float32)
    scale = (np.abs(flat).max(axis=0) / q).astype(np.float32)
    codes = np.clip(np.rint(flat / np.maximum(scale, 1e-30)), -q, q).astype(np.int8)
    return codes.reshape(x.shape), scale


def dequantise(codes: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return codes.astype(np.float32) * scale.astype(np.float32)


class FeatureCache:
    """Directory of ``<key>.npz`` files: 5-bit codes of keys/tokens (zlib), float16 CLS, no image copy.

    The ViT input image is not stored: :meth:`get` rebuilds it from the image (``image``: the upright
    RGB or a function decoding it, as the caller has it anyway) with :func:`prepare_input`. Entries of
    the previous format (float16 + input image) are still read.
    """

    def __init__(self, root: str | Path, max_side: int | None = DEFAULT_MAX_SIDE):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_side = max_side  # to rebuild the ViT input of an entry; FeatureProvider sets its own

    @staticmethod
    def key(image_sha1: str, backbone_identity: str, max_side: int | None) -> str:
        return hashlib.sha1(f"{image_sha1}|{backbone_identity}|{max_side}".encode()).hexdigest()

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.npz"

    def get(self, key: str, image: np.ndarray | Callable[[], np.ndarray] | None = None,
            max_side: int | None | str = "default") -> PatchFeatures | None:
        """The entry, or None (missing, corrupt, or no ``image`` to rebuild the ViT input from)."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            with np.load(path) as z:
                patch = int(z["patch_size"])
                image_hw = tuple(int(v) for v in z["image_hw"])
                cls = z["cls"].astype(np.float32)
                if "input_rgb" in z.files:  # previous format
                    return PatchFeatures(z["keys"].astype(np.float32), z["tokens"].astype(np.float32), cls,
                                         patch, z["input_rgb"], image_hw)
                keys = dequantise(z["keys_q"], z["keys_scale"])
                tokens = dequantise(z["tokens_q"], z["tokens_scale"])
                input_hw = tuple(int(v) for v in z["input_hw"])
        except Exception:  # a half-written or corrupt entry is just a miss
            path.unlink(missing_ok=True)
            return None
        if image is None:
            return None
        rgb = image() if callable(image) else image
        input_rgb = prepare_input(rgb, patch, self.max_side if max_side == "default" else max_side)
        if input_rgb.shape[:2] != input_hw:  # decoded differently than when cached: recompute
            return None
        return PatchFeatures(keys, tokens, cls, patch, input_rgb, image_hw)

    def put(self, key: str, feats: PatchFeatures) -> None:
        path = self._path(key)
        keys_q, keys_scale = quantise(feats.keys)
        tokens_q, tokens_scale = quantise(feats.tokens)

        def write(f) -> None:
            np.savez_compressed(f, keys_q=keys_q, keys_scale=keys_scale, tokens_q=tokens_q,
                                tokens_scale=tokens_scale, cls=feats.cls.astype(np.float16),
                                patch_size=feats.patch_size, image_hw=np.asarray(feats.image_hw),
                                input_hw=np.asarray(feats.input_rgb.shape[:2]), bits=CACHE_BITS)

        try:
            atomic_write(path, write)
        except OSError:
            pass  # disk full: caching is an optimisation, not a must


class FeatureProvider:
    """Backbone + cache, the one place features are looked up or computed.

    ``features([(sha1, rgb), ...])`` returns cached features where present and extracts the misses
    together in batches; the caller passes the SHA-1 of the bytes it decoded (``engine.imageio.ImageFile``)
    so the file is not read again for the cache key.
    """

    def __init__(self, backbone: Backbone, cache: FeatureCache | None, max_side: int | None = DEFAULT_MAX_SIDE):
        self.backbone = backbone
        self.cache = cache
        self.max_side = max_side

    def features_for(self, path: str | Path, rgb: np.ndarray | None = None) -> PatchFeatures:
        """One image by path: its bytes are read once (cache key, and decoded to rebuild the ViT input)."""
        file = ImageFile.read(path)
        return self.features([(file.sha1, rgb if rgb is not None else file.decode)])[0]

    def features(self, images: Sequence[tuple[str, np.ndarray | Callable[[], np.ndarray]]],
                 batch_size: int = 8) -> list[PatchFeatures]:
        """``images``: (content SHA-1, upright uint8 RGB or a function decoding it, called at most once:
        on a miss, or on a hit to rebuild the ViT input the cache does not store) pairs; features in
        the same order."""
        cache = self.cache
        keys = [FeatureCache.key(sha1, self.backbone.spec.identity, self.max_side) if cache else ""
                for sha1, _ in images]
        out: list[PatchFeatures | None] = [None] * len(images)
        missing = []
        decoded: dict[int, np.ndarray] = {}

        def image(j: int):
            def load() -> np.ndarray:
                if j not in decoded:
                    rgb = images[j][1]
                    decoded[j] = rgb() if callable(rgb) else rgb
                return decoded[j]
            return load

        for j, key in enumerate(keys):
            hit = cache.get(key, image(j), self.max_side) if cache else None
            if hit is not None:
                out[j] = hit
            else:
                missing.append(j)
        if missing:
            rgbs = [image(j)() for j in missing]
            fresh = extract_features(self.backbone, rgbs, self.max_side, batch_size)
            for j, f in zip(missing, fresh):
                out[j] = f
                if cache:
                    cache.put(keys[j], f)
        return out  # type: ignore[return-value]
