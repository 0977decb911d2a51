"""Image reading that every other part of the engine relies on.

One rule: whatever is on disk (grey, palette, RGBA, CMYK, 16-bit, EXIF-rotated), the engine sees an
upright ``uint8`` RGB array of shape (H, W, 3). Sizes reported to exporters are the sizes *after*
EXIF orientation, because that is what downstream loaders (detectron2, mmdet) check against.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import struct
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile as _PILImageFile, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"})

#: Decompression-bomb guard: PIL warns at ~89 MP; we refuse beyond this many pixels.
MAX_PIXELS = 200_000_000


def printable_name(path: str | Path) -> str:
    """A file name safe to print or store as UTF-8 on one line: bytes of a non-UTF-8 name are shown as
    ``\\xff``, control characters (a newline in a name) as ``\\n`` / ``\\x1b``."""
    text = str(path)
    try:
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):  # a newline in a name must not split a line
        text = "".join(c.encode("unicode_escape").decode("ascii") if ord(c) < 32 or ord(c) == 127 else c
                       for c in text)
    return text


class ImageLoadError(Exception):
    """A file could not be read as an image; the message names the file and the reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = printable_name(reason)
        super().__init__(f"{printable_name(Path(path).name)}: {self.reason}")


@dataclass(frozen=True)
class ImageInfo:
    """Upright (post-EXIF) size of an image without decoding all its pixels."""

    path: str
    width: int
    height: int


@dataclass(frozen=True)
class ImageScan:
    """What a folder holds: readable-looking image files, and entries with an image name that cannot be
    one (a folder named ``x.jpg``, a broken symlink or a symlink loop, a FIFO), each with its reason."""

    images: tuple[Path, ...]
    problems: tuple[tuple[Path, str], ...]


def _entry_problem(p: Path) -> str | None:
    """Why a directory entry with an image suffix is not a regular file (None: it is one)."""
    try:
        st = p.stat()  # follows symlinks
    except OSError as exc:
        if p.is_symlink():
            import errno

            if exc.errno == errno.ELOOP:
                return "symbolic link loop"
            return f"broken symbolic link (target {printable_name(os.readlink(p))} not found)" \
                if exc.errno == errno.ENOENT else f"symbolic link cannot be followed ({exc.strerror})"
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        return "is a folder, not an image file"
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file (device, pipe or socket)"
    return None


def scan_images(folder: str | Path) -> ImageScan:
    """Image entries directly inside ``folder`` sorted by name (hidden files skipped), split into files
    and entries that only look like images; nothing with an image suffix vanishes without a reason."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"Not a folder: {folder}")
    images, problems = [], []
    for p in sorted(folder.iterdir()):
        if p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        problem = _entry_problem(p)
        if problem is None:
            images.append(p)
        else:
            problems.append((p, problem))
    return ImageScan(tuple(images), tuple(problems))


def list_images(folder: str | Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name (hidden files skipped); see
    :func:`scan_images` for the entries that look like images but are not files."""
    return list(scan_images(folder).images)


def _open(path: Path, data: bytes | None = None) -> Image.Image:
    try:
        empty = (len(data) == 0) if data is not None else os.path.getsize(path) == 0
    except OSError:
        empty = False  # Image.open below names the reason
    if empty:
        raise ImageLoadError(path, "empty file (0 bytes)")
    try:
        img = Image.open(path if data is None else io.BytesIO(data))
    except FileNotFoundError:
        raise ImageLoadError(path, "file not found") from None
    except UnidentifiedImageError:
        raise ImageLoadError(path, "not a recognised image format (corrupt or wrong extension)") from None
    except Image.DecompressionBombError as exc:
        raise ImageLoadError(path, f"image too large ({exc})") from None
    except OSError as exc:
        raise ImageLoadError(path, f"cannot open: {exc.strerror or exc}") from None
    except (ValueError, SyntaxError, struct.error, IndexError, TypeError) as exc:  # malformed headers
        raise ImageLoadError(path, f"corrupt image header ({type(exc).__name__}: {exc})") from None
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


_TRUNCATION_LOCK = threading.Lock()

#: Modes ``Image.reduce`` handles (others, e.g. palette with transparency, are converted at full size).
_REDUCIBLE_MODES = frozenset({"L", "RGB", "RGBA", "LA", "I", "F", "CMYK", "I;16"})
#: EXIF orientation → the transpose that makes the image upright (as ImageOps.exif_transpose).
_TRANSPOSE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
              4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
              6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_90}


@contextmanager
def _strict_decoding():
    """PIL's LOAD_TRUNCATED_IMAGES (process-wide; some libraries switch it on) pads a truncated file
    with grey and returns it as valid: force it off while we decode."""
    if not _PILImageFile.LOAD_TRUNCATED_IMAGES:
        yield
        return
    with _TRUNCATION_LOCK:
        saved = _PILImageFile.LOAD_TRUNCATED_IMAGES
        _PILImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            _PILImageFile.LOAD_TRUNCATED_IMAGES = saved


def _reduce_factor(size: tuple[int, int], max_side: int | None) -> int:
    """Largest integer factor that keeps the longer side at least ``max_side`` (1 = full size)."""
    if not max_side:
        return 1
    return max(1, max(size) // int(max_side))


def load_image(path: str | Path, data: bytes | None = None, *, max_side: int | None = None) -> np.ndarray:
    """Decode ``path`` (or its already read bytes ``data``) into an upright ``uint8`` RGB array (H, W, 3).

    Raises :class:`ImageLoadError` with a human-readable reason for corrupt, truncated, missing or
    absurdly large files; never returns a partially decoded image (truncated data is an error even
    when something switched PIL's LOAD_TRUNCATED_IMAGES on).

    ``max_side``: the caller only needs about this resolution (features): the image is decoded at
    reduced size where the format allows (JPEG DCT scaling via ``draft``) and reduced by an integer
    factor before any colour conversion, so the result's longer side is at least ``max_side`` (often
    larger: resize it yourself) and peak memory stays near one full-size 8-bit decode at most.
    """
    path = Path(path)
    with _open(path, data) as img, _strict_decoding():
        factor = _reduce_factor(img.size, max_side)
        if factor > 1 and img.format == "JPEG":
            target = (max(1, -(-img.width // factor)), max(1, -(-img.height // factor)))
            try:
                img.draft(img.mode if img.mode in ("RGB", "L", "CMYK") else None, target)
            except (OSError, ValueError):
                pass
        try:
            img.load()
        except OSError as exc:  # truncated / corrupt data
            raise ImageLoadError(path, f"corrupt or truncated image data ({exc})") from None
        except Image.DecompressionBombError as exc:
            raise ImageLoadError(path, str(exc)) from None
        except (ValueError, SyntaxError, MemoryError) as exc:  # PIL plugins raise these for garbage too
            raise ImageLoadError(path, f"corrupt image data ({type(exc).__name__}: {exc})") from None
        upright = None
        factor = _reduce_factor(img.size, max_side)
        if factor > 1 and img.mode in _REDUCIBLE_MODES:
            try:
                orientation = int(img.getexif().get(0x0112, 1))
            except Exception:  # a broken EXIF block must not hide a readable image
                orientation = 1
            try:
                upright = img.reduce(factor)
            except (ValueError, OSError):  # a mode reduce() does not handle: converted at full size
                upright = None
            if upright is not None and orientation in _TRANSPOSE:
                upright = upright.transpose(_TRANSPOSE[orientation])
        if upright is None:
            try:
                upright = ImageOps.exif_transpose(img)
            except Exception:  # malformed EXIF: keep pixels as stored
                upright = img
            if upright is None:
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

    def decode(self, max_side: int | None = None) -> np.ndarray:
        """Same result as :func:`load_image` on the path (``max_side``: reduced-size decode)."""
        return load_image(self.path, self.data, max_side=max_side)


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
