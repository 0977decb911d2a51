"""Image reading that every other part of the engine relies on.

One rule: whatever is on disk (grey, palette, RGBA, CMYK, 16-bit, EXIF-rotated), the engine sees an
upright ``uint8`` RGB array of shape (H, W, 3). Sizes reported to exporters are the sizes *after*
EXIF orientation, because that is what downstream loaders (detectron2, mmdet) check against.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})

#: Decompression-bomb guard: PIL warns at ~89 MP; we refuse beyond this many pixels.
MAX_PIXELS = 200_000_000


class ImageLoadError(Exception):
    """A file could not be read as an image; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{Path(path).name}: {reason}")


@dataclass(frozen=True)
class ImageInfo:
    """Upright (post-EXIF) size of an image without decoding all its pixels."""

    path: str
    width: int
    height: int


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (hidden files skipped)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Not a folder: {folder}")
    return sorted(
        p for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def _open(path: Path, data: bytes | None = None) -> Image.Image:
    try:
        img = Image.open(path if data is None else io.BytesIO(data))
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not a recognised image format (corrupt or wrong extension)") from None
    except OSError as exc:
        raise ImageLoadError(path, f"cannot open: {exc}") from None
    if img.width * img.height > MAX_PIXELS:
        raise ImageLoadError(path, f"image too large ({img.width}x{img.height} pixels)")
    return img


def read_image_info(path: str | Path) -> ImageInfo:
    """Upright width/height from the header only (cheap: used when scanning big folders)."""
    path = Path(path)
    with _open(path) as img:
        w, h = img.size
        try:
            orientation = img.getexif().get(0x0112, 1)
        except Exception:  # a broken EXIF block must not hide a readable image
            orientation = 1
    if orientation in (5, 6, 7, 8):
        w, h = h, w
    return ImageInfo(str(path), w, h)


def _to_rgb8(img: Image.Image, path: Path) -> np.ndarray:
    """Convert any PIL mode to uint8 RGB; 16-bit/float data are rescaled, alpha is composited on white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = np.nanmin(arr), np.nanmax(arr)
        if mode.startswith("I;16"):
            lo, hi = 0.0, 65535.0 if hi > 255 else 255.0
        scaled = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo)
        grey = np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    if mode == "RGB":
        return np.asarray(img)
    # CMYK, YCbCr, L, 1, P, LAB, HSV ... PIL knows the conversion.
    try:
        return np.asarray(img.convert("RGB"))
    except (ValueError, OSError) as exc:
        raise ImageLoadError(path, f"unsupported colour mode {mode}: {exc}") from None


def load_image(path: str | Path, data: bytes | None = None) -> np.ndarray:
    """Decode ``path`` (or its already read bytes ``data``) into an upright ``uint8`` RGB array (H, W, 3).

    Raises :class:`ImageLoadError` with a human-readable reason for corrupt, truncated, missing or
    absurdly large files; never returns a partially decoded image.
    """
    path = Path(path)
    with _open(path, data) as img:
        try:
            img.load()
        except OSError as exc:  # truncated / corrupt data
            raise ImageLoadError(path, f"corrupt or truncated image data ({exc})") from None
        except Image.DecompressionBombError as exc:
            raise ImageLoadError(path, str(exc)) from None
        try:
            upright = ImageOps.exif_transpose(img)
        except Exception:  # malformed EXIF: keep pixels as stored
            upright = img
        if getattr(upright, "n_frames", 1) > 1:
            upright.seek(0)
        rgb = _to_rgb8(upright, path)
    return np.ascontiguousarray(rgb, dtype=np.uint8)


@dataclass(frozen=True, eq=False)
class ImageFile:
    """One read of an image file: its bytes, their SHA-1 (cache key) and a decode that reuses them.

    Why: an analysis needs both the content hash (feature / analysis cache keys) and the pixels;
    reading the file once and passing this object along avoids re-reading it for each.
    """

    path: Path
    data: bytes

    @classmethod
    def read(cls, path: str | Path) -> "ImageFile":
        path = Path(path)
        try:
            return cls(path, path.read_bytes())
        except FileNotFoundError:
            raise ImageLoadError(path, "file not found") from None
        except OSError as exc:
            raise ImageLoadError(path, f"cannot read: {exc}") from None

    @cached_property
    def sha1(self) -> str:
        return hashlib.sha1(self.data).hexdigest()

    def decode(self) -> np.ndarray:
        """Same result as :func:`load_image` on the path."""
        return load_image(self.path, self.data)


def content_hash(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-1 of the file bytes: identifies an image independently of its name (feature-cache key)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def resize_max_side(rgb: np.ndarray, max_side: int | None) -> np.ndarray:
    """Downscale so the longer side is at most ``max_side`` (area interpolation); never upscales."""
    if not max_side:
        return rgb
    h, w = rgb.shape[:2]
    scale = max_side / max(h, w)
    if scale >= 1.0:
        return rgb
    import cv2

    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    return cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_AREA)
