"""Weight-free per-pixel features: ilastik's default filter bank on CIE Lab, in torch.

Why: without ViT weights (no hub access) every method still needs features that group pixels of
the same stuff. ilastik's default set does that for interactive pixel classification:

* Gaussian smoothing ``G_σ``,
* gradient magnitude ``|∇G_σ|``,
* Laplacian of Gaussian ``∂xx + ∂yy`` of ``G_σ``,
* difference of Gaussians ``G_σ − G_{0.66σ}`` (ilastik's ratio),
* structure-tensor eigenvalues (inner scale σ, outer scale σ/2, as ilastik),
* Hessian-of-Gaussian eigenvalues,

at σ = 0.7, 1.0, 1.6, 3.5, 5.0, 10.0 pixels on each of L, a, b: 6 × 8 × 3 = 144 channels.

Definitions (what :func:`pixel_features` with ``exact=True`` computes, tested against scikit-image):

* Gaussian: sampled kernel truncated at 4σ, normalised to sum 1, edges replicated — exactly
  ``skimage.filters.gaussian(mode="nearest")`` / ``scipy.ndimage.gaussian_filter``.
* Derivatives are central differences of ``G_σ`` (``np.gradient``): first ``∂x = (x₊₁ − x₋₁)/2``,
  second ``∂xx = ∂x(∂x)`` — in the interior exactly scikit-image's Hessian for
  ``multiscale_basic_features`` (``np.gradient`` twice). scikit-image's *edges* channel is
  ``sobel(G_σ) = sqrt((Sx² + Sy²)/2)`` with kernels ``[1,2,1]/4 ⊗ [1,0,−1]``, i.e. ``√2·|∇|`` with an
  extra [1,2,1]/4 cross-smoothing; ours is the plain ``|∇G_σ|`` (same up to that smoothing).
* Eigenvalues of 2×2 symmetric tensors in closed form, larger first.
* Lab: sRGB (D65, 2°) as ``skimage.color.rgb2lab``.

Speed (the fast path the backbone uses, ``exact=False``): a σ is computed on the coarsest level of a
2×2-average pyramid where its residual σ (``sqrt(σ² − v_l) / 2^l``, ``v_l`` = variance the averaging
already applied) is still ≥ 0.8 pixel, derivatives rescaled to full-resolution pixel units. Only
σ 0.7 and 1.0 run at full resolution; the rest costs a quarter or less. Features are then pooled to
the patch grid (:func:`patch_features`) or upsampled bilinearly (:func:`pixel_features`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

SIGMAS: tuple[float, ...] = (0.7, 1.0, 1.6, 3.5, 5.0, 10.0)
FAMILIES: tuple[str, ...] = ("gaussian", "gradient_magnitude", "laplacian", "dog",
                             "hessian_eig1", "hessian_eig2", "structure_eig1", "structure_eig2")
LAB: tuple[str, ...] = ("L", "a", "b")
DOG_RATIO = 0.66  # ilastik: G(σ) − G(0.66σ)
STRUCTURE_OUTER = 0.5  # ilastik: structure tensor outer scale = σ / 2
TRUNCATE = 4.0  # scipy / scikit-image default
MIN_LEVEL_SIGMA = 0.8  # a σ moves to a coarser pyramid level while its residual σ stays above this
#: Bumped whenever a definition changes: part of the backbone identity, so caches are not reused.
FEATURE_VERSION = "filters-v2"


@dataclass(frozen=True)
class FilterSettings:
    """Which filters; ``exact`` computes every σ at full resolution (slow, reference)."""

    sigmas: tuple[float, ...] = SIGMAS
    exact: bool = False
    max_level: int = 3  # coarsest pyramid level (1/8 resolution)

    def channel_names(self) -> list[str]:
        """Channel order of every output: σ-major, then family, then L/a/b."""
        return [f"{fam}[s={s:g}]{c}" for s in self.sigmas for fam in FAMILIES for c in LAB]

    @property
    def n_channels(self) -> int:
        return len(self.sigmas) * len(FAMILIES) * len(LAB)


# ----------------------------------------------------------------------------------------------
# Colour


_RGB_TO_XYZ = torch.tensor([[0.412453, 0.357580, 0.180423],
                            [0.212671, 0.715160, 0.072169],
                            [0.019334, 0.119193, 0.950227]])
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883])


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) sRGB in [0, 1] → CIE Lab (L in [0, 100]), as ``skimage.color.rgb2lab``."""
    rgb = rgb.clamp(0.0, 1.0)
    lin = torch.where(rgb > 0.04045, ((rgb + 0.055) / 1.055).pow(2.4), rgb / 12.92)
    m = (_RGB_TO_XYZ / _WHITE_D65[:, None]).to(rgb)
    xyz = torch.einsum("ij,bjhw->bihw", m, lin)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12).pow(1.0 / 3.0), 7.787 * xyz + 16.0 / 116.0)
    fx, fy, fz = f[:, 0], f[:, 1], f[:, 2]
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=1)


# ----------------------------------------------------------------------------------------------
# Separable Gaussian filtering


def gaussian_kernel1d(sigma: float, truncate: float = TRUNCATE) -> np.ndarray:
    """scipy.ndimage's sampled kernel: radius int(truncate·σ + 0.5), normalised; σ ≤ 0 → [1]."""
    if sigma <= 1e-6:
        return np.ones(1)
    radius = int(truncate * sigma + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def blur(x: torch.Tensor, sigmas: list[float]) -> torch.Tensor:
    """Blur (N, C, H, W) channel c with ``sigmas[c]`` (separable, replicated edges) in one grouped
    conv per axis; kernels are zero-padded to the longest so all channels share one call."""
    n, c, h, w = x.shape
    kernels = [gaussian_kernel1d(s) for s in sigmas]
    r = max(len(k) for k in kernels) // 2
    if r == 0:
        return x
    weight = np.zeros((c, 2 * r + 1))
    for i, k in enumerate(kernels):
        kr = len(k) // 2
        weight[i, r - kr:r + kr + 1] = k
    wt = torch.from_numpy(weight).to(x)
    # channels-last grouped convolutions are several times faster on CPU than NCHW ones
    x = F.pad(x, (r, r, r, r), mode="replicate").contiguous(memory_format=torch.channels_last)
    x = F.conv2d(x, wt.view(c, 1, 1, -1), groups=c)
    return F.conv2d(x, wt.view(c, 1, -1, 1), groups=c).contiguous()


def _pad_replicate(x: torch.Tensor, pad: tuple[int, int, int, int]) -> torch.Tensor:
    left, right, top, bottom = pad
    if left or right:
        x = torch.cat([x[..., :1].expand(*x.shape[:-1], left), x, x[..., -1:].expand(*x.shape[:-1], right)], -1)
    if top or bottom:
        x = torch.cat([x[..., :1, :].expand(*x.shape[:-2], top, x.shape[-1]), x,
                       x[..., -1:, :].expand(*x.shape[:-2], bottom, x.shape[-1])], -2)
    return x


def _dx(x: torch.Tensor) -> torch.Tensor:
    """Central difference along W (np.gradient's interior; edges: half the one-sided difference)."""
    p = _pad_replicate(x, (1, 1, 0, 0))
    return (p[..., 2:] - p[..., :-2]) * 0.5


def _dy(x: torch.Tensor) -> torch.Tensor:
    p = _pad_replicate(x, (0, 0, 1, 1))
    return (p[..., 2:, :] - p[..., :-2, :]) * 0.5


def _eig2(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues (larger, smaller) of [[a, b], [b, c]]."""
    half_tr = (a + c) * 0.5
    root = torch.sqrt(((a - c) * 0.5).square_() + b * b)
    return half_tr + root, half_tr - root


# ----------------------------------------------------------------------------------------------
# One pyramid level


def _level_of(sigma: float, settings: FilterSettings) -> int:
    if settings.exact:
        return 0
    level = 0
    for lv in range(1, settings.max_level + 1):
        v = (4 ** lv - 1) / 12.0
        if sigma * sigma > v and math.sqrt(sigma * sigma - v) / 2 ** lv >= MIN_LEVEL_SIGMA:
            level = lv
    return level


def _residual(sigma: float, level: int) -> float:
    v = (4 ** level - 1) / 12.0
    return math.sqrt(max(sigma * sigma - v, 0.0)) / 2 ** level


def _diff_x(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Central difference x₊₁ − x₋₁ along W into ``out`` (np.gradient × 2; one-sided at the two edges)."""
    torch.sub(x[..., 2:], x[..., :-2], out=out[..., 1:-1])
    torch.sub(x[..., 1], x[..., 0], out=out[..., 0]).mul_(2)
    torch.sub(x[..., -1], x[..., -2], out=out[..., -1]).mul_(2)
    return out


def _diff_y(x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    torch.sub(x[..., 2:, :], x[..., :-2, :], out=out[..., 1:-1, :])
    torch.sub(x[..., 1, :], x[..., 0, :], out=out[..., 0, :]).mul_(2)
    torch.sub(x[..., -1, :], x[..., -2, :], out=out[..., -1, :]).mul_(2)
    return out


def _smooth_pairs(lab: torch.Tensor, sigmas: list[float], level: int) -> torch.Tensor:
    """(B, 3, H, W) → (B, 3, 2S, H, W): per L/a/b channel G_σ for every σ, then G_{0.66σ}; one grouped
    convolution per axis (channel-major so the 3 input channels are never copied 2S times)."""
    b, c, h, w = lab.shape
    s = len(sigmas)
    res = [_residual(sg, level) for sg in sigmas] + [_residual(DOG_RATIO * sg, level) for sg in sigmas]
    kernels = [gaussian_kernel1d(r) for r in res]
    r = max(len(k) for k in kernels) // 2
    weight = np.zeros((2 * s, 2 * r + 1))
    for i, k in enumerate(kernels):
        kr = len(k) // 2
        weight[i, r - kr:r + kr + 1] = k
    wt = torch.from_numpy(weight).to(lab)
    x = F.pad(lab, (r, r, r, r), mode="replicate").contiguous(memory_format=torch.channels_last)
    x = F.conv2d(x, wt.repeat(c, 1).view(c * 2 * s, 1, 1, -1), groups=c)
    x = F.conv2d(x, wt.repeat(c, 1).view(c * 2 * s, 1, -1, 1), groups=c * 2 * s)
    return x.contiguous().view(b, c, 2 * s, h, w)


#: Slots of the maps per level: G and G_{0.66σ} (the smoothing), then the per-pixel derived maps.
_G, _GI, _GRAD, _LOG, _ROOT, _JXX, _JXY, _JYY = range(8)
_DERIVED = 6  # slots _GRAD.._JYY


def _level_maps(lab: torch.Tensor, sigmas: list[float], level: int, reduce) -> tuple[torch.Tensor, float]:
    """Per-pixel maps for ``sigmas`` on a (B, 3, H_l, W_l) level, each passed through ``reduce``
    ((B, k, H_l, W_l) → (B, k, h', w'): pooling, or identity): returns (B, 8, 3, S, h', w') with slots
    G, G_{0.66σ}, |D|, Dxx + Dyy, hypot((Dxx − Dyy)/2, Dxy), Dx², DxDy, Dy², where D are *unscaled*
    differences (x₊₁ − x₋₁), and ``half`` = 0.5 / 2^level, the factor that turns one D into a
    derivative in full-resolution pixel units. Everything linear in the end result (means over a
    cell, λ = tr/2 ± root) is scaled after pooling. The derived maps are computed one (channel, σ)
    plane at a time in reused buffers: a small working set that stays in cache."""
    b, _, h, w = lab.shape
    s = len(sigmas)
    smooth = _smooth_pairs(lab, sigmas, level)  # (B, 3, 2S, H, W)
    smoothed = reduce(smooth.view(b, 3 * 2 * s, h, w))
    oh, ow = smoothed.shape[-2:]
    out = torch.empty(b, 8, 3, s, oh, ow, device=lab.device)
    smoothed = smoothed.view(b, 3, 2, s, oh, ow)
    out[:, _G], out[:, _GI] = smoothed[:, :, 0], smoothed[:, :, 1]
    derived = torch.empty(b, _DERIVED, h, w, device=lab.device)
    dx, dy, dxx, dxy = (torch.empty(b, h, w, device=lab.device) for _ in range(4))
    grad, log, root, jxx, jxy, jyy = (derived[:, i] for i in range(_DERIVED))
    for c in range(3):
        for i in range(s):
            g = smooth[:, c, i]
            _diff_x(g, dx)
            _diff_y(g, dy)
            _diff_x(dx, dxx)
            _diff_y(dx, dxy)
            dyy = _diff_y(dy, root)  # root's slot is free until the end
            torch.hypot(dx, dy, out=grad)
            torch.mul(dx, dx, out=jxx)
            torch.mul(dx, dy, out=jxy)
            torch.mul(dy, dy, out=jyy)
            torch.add(dxx, dyy, out=log)
            dxx.sub_(dyy).mul_(0.5)
            torch.hypot(dxx, dxy, out=root)
            out[:, _GRAD:, c, i] = reduce(derived)
    return out, 0.5 / 2 ** level


def _finish(maps: torch.Tensor, half: float) -> torch.Tensor:
    """Slots (B, 8, …) → families (B, 8, …): G, |∇G|, LoG, DoG, Hessian λ1, λ2, structure λ1, λ2
    (structure tensor = the Jxx/Jxy/Jyy slots as they are: pooled over a cell or blurred)."""
    g, gi, grad, log, root = (maps[:, i] for i in (_G, _GI, _GRAD, _LOG, _ROOT))
    h2 = half * half
    lap = log * h2
    st1, st2 = _eig2(maps[:, _JXX] * h2, maps[:, _JXY] * h2, maps[:, _JYY] * h2)
    return torch.stack([g, grad * half, lap, g - gi, lap * 0.5 + root * h2, lap * 0.5 - root * h2, st1, st2], 1)


def _to_families(feats: torch.Tensor) -> torch.Tensor:
    """(B, 8, 3, S, …) → (B, S, 8, 3, …) (the public channel order: σ, family, L/a/b)."""
    return feats.permute(0, 3, 1, 2, *range(4, feats.ndim))


def _pyramid(lab: torch.Tensor, levels: int, first: int = 0) -> list[torch.Tensor | None]:
    """Levels ``first``..``levels`` by 2×2 averaging; ``lab`` is level ``first`` (finer ones: None)."""
    out: list[torch.Tensor | None] = [None] * first + [lab]
    for _ in range(first, levels):
        x = out[-1]
        h, w = x.shape[-2] // 2 * 2, x.shape[-1] // 2 * 2
        if h < 2 or w < 2:
            break
        out.append(F.avg_pool2d(x[..., :h, :w], 2))
    return out


def _levels(settings: FilterSettings, finest: int = 0) -> dict[int, list[int]]:
    by_level: dict[int, list[int]] = {}
    for i, sg in enumerate(settings.sigmas):
        by_level.setdefault(max(_level_of(sg, settings), finest), []).append(i)
    return by_level


# ----------------------------------------------------------------------------------------------
# Public API


def to_tensor(rgb: np.ndarray | torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 (H, W, 3) or (B, H, W, 3) → float (B, 3, H, W) in [0, 1] on ``device``."""
    t = rgb if isinstance(rgb, torch.Tensor) else torch.from_numpy(np.require(rgb, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"]))
    if t.ndim == 3:
        t = t[None]
    return t.to(device).permute(0, 3, 1, 2).float().div_(255.0)


@torch.inference_mode()
def pixel_features(rgb: np.ndarray | torch.Tensor, settings: FilterSettings = FilterSettings(),
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """Per-pixel features (B, C, H, W) at the image's resolution, channel order
    ``settings.channel_names()`` (structure tensor with outer scale σ/2). ``rgb``: uint8 (H, W, 3) /
    (B, H, W, 3), or a float (B, 3, H, W) tensor in [0, 1]. Coarse-level σ are computed on the
    pyramid and upsampled bilinearly unless ``settings.exact``."""
    is_float = isinstance(rgb, torch.Tensor) and rgb.ndim == 4 and rgb.shape[1] == 3 and rgb.is_floating_point()
    lab = rgb_to_lab(rgb.to(device) if is_float else to_tensor(rgb, device))
    b, _, h, w = lab.shape
    out = torch.empty(b, len(settings.sigmas), len(FAMILIES), 3, h, w, device=lab.device)
    by_level = _levels(settings)
    pyramid = _pyramid(lab, max(by_level))
    for level, idx in sorted(by_level.items()):
        level = min(level, len(pyramid) - 1)
        sig = [settings.sigmas[i] for i in idx]
        maps, half = _level_maps(pyramid[level], sig, level, lambda t: t.clone())
        lh, lw = maps.shape[-2:]
        outer = [STRUCTURE_OUTER * sg / 2 ** level for sg in sig]  # ilastik: outer scale σ/2
        j = maps[:, _JXX:_JYY + 1].reshape(b, 9 * len(sig), lh, lw)
        maps[:, _JXX:_JYY + 1] = blur(j, [o for _ in range(9) for o in outer]).view(b, 3, 3, len(sig), lh, lw)
        feats = _to_families(_finish(maps, half))
        if feats.shape[-2:] != (h, w):
            lh, lw = feats.shape[-2:]
            up = F.interpolate(feats.reshape(b, -1, lh, lw), scale_factor=2 ** level, mode="bilinear",
                               align_corners=False)
            up = _pad_replicate(up, (0, max(w - up.shape[-1], 0), 0, max(h - up.shape[-2], 0)))[..., :h, :w]
            feats = up.reshape(b, len(idx), len(FAMILIES), 3, h, w)
        out[:, idx] = feats
    return out.reshape(b, -1, h, w)


@torch.inference_mode()
def patch_features(rgb01: torch.Tensor, patch: int, settings: FilterSettings = FilterSettings(),
                   affine: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Filter responses averaged over each ``patch`` × ``patch`` cell: (B, 3, H, W) in [0, 1] (H, W
    multiples of ``patch``) → (B, C, H/patch, W/patch). The backbone's fast path: the finest level
    keeps 8×8 samples per cell (16-px patches: half resolution), and the structure tensor's
    integration window is the cell (mean of ∇G∇Gᵀ over the cell, then its eigenvalues).
    ``affine`` = (scale, offset) (3,) turns the input into [0, 1] RGB (``x·scale + offset``, clamped)
    *after* the first 2×2 averaging, which it commutes with: a normalised ViT batch goes in as it is."""
    b, _, h, w = rgb01.shape

    def to_rgb01(x: torch.Tensor) -> torch.Tensor:
        if affine is None:
            return x
        scale, offset = (a.to(x).view(1, 3, 1, 1) for a in affine)
        return (x * scale + offset).clamp_(0.0, 1.0)

    gh, gw = h // patch, w // patch
    finest = 0 if settings.exact else max(0, int(math.log2(max(patch // 8, 1))))
    if finest and h % 2 ** finest == 0 and w % 2 ** finest == 0:  # Lab of the averaged image (cheaper)
        lab = rgb_to_lab(to_rgb01(F.avg_pool2d(rgb01, 2 ** finest)))
    else:
        finest = 0
        lab = rgb_to_lab(to_rgb01(rgb01))
    out = torch.empty(b, len(settings.sigmas), len(FAMILIES), 3, gh, gw, device=lab.device)
    by_level = _levels(settings, finest)
    pyramid = _pyramid(lab, max(by_level), finest)
    for level, idx in sorted(by_level.items()):
        level = min(level, len(pyramid) - 1)
        lh, lw = pyramid[level].shape[-2:]
        cell = patch / 2 ** level
        if cell >= 1 and cell == int(cell) and lh == gh * int(cell) and lw == gw * int(cell):
            pool = functools.partial(F.avg_pool2d, kernel_size=int(cell))
        else:  # odd sizes (tiny images): area resampling
            pool = functools.partial(F.adaptive_avg_pool2d, output_size=(gh, gw))
        pooled, half = _level_maps(pyramid[level], [settings.sigmas[i] for i in idx], level, pool)
        out[:, idx] = _to_families(_finish(pooled, half))
    return out.reshape(b, -1, gh, gw)


# ----------------------------------------------------------------------------------------------
# Normalisation to tokens


#: Families whose values are signed/heavy-tailed derivatives (compressed with a signed log).
_DERIVATIVE = np.array([fam != "gaussian" for _ in SIGMAS for fam in FAMILIES for _c in LAB])
_STATS_FILE = Path(__file__).with_name("filters_stats.npz")


def compress(raw: torch.Tensor, scale: torch.Tensor, derivative: torch.Tensor) -> torch.Tensor:
    """Signed log ``sign(x)·log1p(|x|/s)`` on derivative channels (heavy-tailed: edges dominate a
    mean otherwise); Lab smoothing channels divided by s. raw (B, C, …), scale/derivative (C,)."""
    shape = (1, -1) + (1,) * (raw.ndim - 2)
    s = scale.view(shape)
    y = raw / s
    return torch.where(derivative.view(shape), torch.sign(y) * torch.log1p(y.abs()), y)


@dataclass(frozen=True)
class FixedStats:
    """Per-channel constants of the fixed normalisation (fitted once on the bundled demo photos)."""

    scale: np.ndarray  # (C,) median |raw| per channel (Lab channels: 50)
    mean: np.ndarray  # (C,) mean of compressed features
    std: np.ndarray  # (C,) std of compressed features


def fit_fixed_stats(images: list[np.ndarray], patch: int = 16) -> FixedStats:
    """Fit :class:`FixedStats` on uint8 RGB images (patch-pooled features, all cells pooled)."""
    raws = []
    for rgb in images:
        h, w = rgb.shape[0] // patch * patch, rgb.shape[1] // patch * patch
        raw = patch_features(to_tensor(rgb[:h, :w]), patch)[0]
        raws.append(raw.reshape(raw.shape[0], -1))
    raw = torch.cat(raws, 1)
    deriv = torch.from_numpy(_DERIVATIVE)
    scale = torch.where(deriv, raw.abs().median(1).values.clamp_min(1e-4), torch.full((raw.shape[0],), 50.0))
    comp = compress(raw[None], scale, deriv)[0]
    return FixedStats(scale.numpy().astype(np.float32), comp.mean(1).numpy().astype(np.float32),
                      comp.std(1).clamp_min(1e-3).numpy().astype(np.float32))


def fixed_stats() -> FixedStats:
    """The shipped constants (``filters_stats.npz``, written by :func:`write_fixed_stats`)."""
    global _STATS
    if _STATS is None:
        with np.load(_STATS_FILE) as z:
            _STATS = FixedStats(z["scale"], z["mean"], z["std"])
    return _STATS


_STATS: FixedStats | None = None


def write_fixed_stats(demo_dir: Path, out: Path = _STATS_FILE) -> FixedStats:
    from .imageio import load_image, resize_max_side

    images = [resize_max_side(load_image(p), 512) for p in sorted(Path(demo_dir).iterdir())
              if p.suffix.lower() in (".png", ".jpg", ".jpeg")]
    stats = fit_fixed_stats(images)
    np.savez(out, scale=stats.scale, mean=stats.mean, std=stats.std, version=FEATURE_VERSION)
    return stats


@dataclass(frozen=True)
class FilterTokens:
    """What the backbone returns: keys (B, h, w, C[+2]), tokens (B, h, w, C), cls (B, C)."""

    keys: torch.Tensor
    tokens: torch.Tensor
    cls: torch.Tensor


def tokens_from_raw(raw: torch.Tensor, position_weight: float = 0.0, keys: str = "fixed") -> FilterTokens:
    """(B, C, h, w) pooled responses → tokens / keys / cls.

    * ``tokens``: fixed normalisation (signed log on derivative channels, then the demo-photo
      mean/std per channel): comparable across images, which STEGO, IAL and the dataset-wide DSM
      clustering need.
    * ``keys`` (DSM's affinity): ``"fixed"`` (default) = the tokens / √C, so cosine similarities
      are averages over channels; ``"image"`` = the compressed features standardised per image
      and channel / √C. Measured on 20 Weizmann horses (DSM object IoU without CRF, all-foreground
      0.265): fixed 0.202 / 0.371 (16 / 8 px), per image 0.174 / 0.233 — per-image
      standardisation blows up channels that hardly vary in an image into noise. ``position_weight``
      > 0 appends (x, y) in [−1, 1] times that weight.
    * ``cls``: the mean token (a crop's or an image's description).
    """
    if keys not in ("fixed", "image"):
        raise ValueError(f"keys must be 'fixed' or 'image', not {keys!r}")
    st = fixed_stats()
    dev = raw.device
    std = torch.from_numpy(st.std).to(dev).view(1, -1, 1, 1)
    comp = compress(raw, torch.from_numpy(st.scale).to(dev), torch.from_numpy(_DERIVATIVE).to(dev))
    tokens = (comp - torch.from_numpy(st.mean).to(dev).view(1, -1, 1, 1)) / std
    b, c, h, w = tokens.shape
    if keys == "image":
        mu = comp.mean(dim=(2, 3), keepdim=True)
        sd = comp.std(dim=(2, 3), keepdim=True, unbiased=False)
        # a flat channel (uniform image) has no contrast to give: scaled by its fixed std instead
        k = (comp - mu) / torch.maximum(sd, 0.05 * std)
    else:
        k = tokens
    k = k / math.sqrt(c)
    if position_weight > 0:
        ys = torch.linspace(-1, 1, h, device=dev).view(1, 1, h, 1).expand(b, 1, h, w)
        xs = torch.linspace(-1, 1, w, device=dev).view(1, 1, 1, w).expand(b, 1, h, w)
        k = torch.cat([k, position_weight * xs, position_weight * ys], 1)
    return FilterTokens(k.permute(0, 2, 3, 1).contiguous(), tokens.permute(0, 2, 3, 1).contiguous(),
                        tokens.mean(dim=(2, 3)))
