"""Self-supervised ViT backbones (DINO, DINOv2) built with timm, from a hub name or a local file.

Every method in MaskCurator reads the same three things off a frozen ViT:

* ``keys``   – the last block's attention keys, heads concatenated (Deep Spectral Methods' choice),
* ``tokens`` – the last block's normalised output tokens (STEGO's "feat"),
* ``cls``    – the class token of that output (per-image / per-crop embedding).

:class:`Backbone` wraps a timm ``VisionTransformer`` built with ``dynamic_img_size=True`` so it runs at
any resolution that is a multiple of the patch size; a forward hook on ``blocks[-1].attn.qkv`` picks
the keys out of the fused qkv projection.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .fileio import describe_load_error, torch_load_weights

#: User-facing names (the ones DINO's torch.hub and the DSM/STEGO papers use) → timm model names.
HUB_MODELS: dict[str, str] = {
    "dino_vits16": "vit_small_patch16_224.dino",
    "dino_vits8": "vit_small_patch8_224.dino",
    "dino_vitb16": "vit_base_patch16_224.dino",
    "dino_vitb8": "vit_base_patch8_224.dino",
    "dinov2_vits14": "vit_small_patch14_dinov2.lvd142m",
    "dinov2_vitb14": "vit_base_patch14_dinov2.lvd142m",
    "dinov2_vitl14": "vit_large_patch14_dinov2.lvd142m",
    "dinov2_vits14_reg": "vit_small_patch14_reg4_dinov2.lvd142m",
    "dinov2_vitb14_reg": "vit_base_patch14_reg4_dinov2.lvd142m",
}

#: Weight-free filter-bank "backbones" (engine/filters.py): name → patch size. What to use offline.
FILTER_MODELS: dict[str, int] = {
    "filters": 16,
    "filters8": 8,
}

#: The name the app and the CLI suggest when no ViT weights are available.
OFFLINE_BACKBONE = "filters"

#: Randomly initialised variants: no download, used by tests and offline smoke runs only.
RANDOM_MODELS: dict[str, str] = {
    "random_vits16": "vit_small_patch16_224",
    "random_vits8": "vit_small_patch8_224",
    "random_vitb16": "vit_base_patch16_224",
    "random_vitt16": "vit_tiny_patch16_224",
}

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

_HEADS_BY_DIM = {192: 3, 384: 6, 768: 12, 1024: 16, 1536: 24}


class BackboneLoadError(Exception):
    """The backbone could not be built or its weights could not be loaded; message says why."""


@dataclass(frozen=True)
class BackboneSpec:
    """What the user picked: a name from :data:`HUB_MODELS` / :data:`RANDOM_MODELS`, or a checkpoint path."""

    name: str = "dino_vits16"
    checkpoint: str | None = None
    seed: int = 0  # only used by random_* models, so tests are reproducible

    @property
    def identity(self) -> str:
        """Stable id for caches: hub name, or checkpoint path + size + mtime."""
        if self.checkpoint:
            p = Path(self.checkpoint)
            st = p.stat()
            return f"file:{p.resolve()}:{st.st_size}:{int(st.st_mtime)}|{POS_EMBED_RULE}"
        if self.name in RANDOM_MODELS:
            return f"{self.name}:seed{self.seed}|{POS_EMBED_RULE}"
        if self.name in FILTER_MODELS:
            from .filters import FEATURE_VERSION

            return f"{self.name}|{FEATURE_VERSION}"
        return f"{self.name}|{POS_EMBED_RULE}"


@dataclass(frozen=True)
class TokenBatch:
    """Patch-grid outputs of one forward pass. Shapes: keys/tokens (B, h, w, C), cls (B, C)."""

    keys: torch.Tensor
    tokens: torch.Tensor
    cls: torch.Tensor
    patch_size: int


class Backbone:
    """A frozen ViT that returns :class:`TokenBatch` for a batch of normalised images."""

    def __init__(self, model: torch.nn.Module, spec: BackboneSpec, device: torch.device):
        self.model = model.eval().requires_grad_(False).to(device)
        self.spec = spec
        self.device = device
        self.patch_size = int(model.patch_embed.patch_size[0])
        self.embed_dim = int(model.embed_dim)
        self.num_prefix_tokens = int(getattr(model, "num_prefix_tokens", 1))
        self._keys: torch.Tensor | None = None
        attn = model.blocks[-1].attn
        self._num_heads = int(attn.num_heads)
        attn.qkv.register_forward_hook(self._grab_keys)

    def _grab_keys(self, _module, _inputs, output: torch.Tensor) -> None:
        b, n, three_c = output.shape
        self._keys = output.reshape(b, n, 3, three_c // 3)[:, :, 1]

    def to(self, device: torch.device) -> "Backbone":
        self.model.to(device)
        self.device = device
        return self

    def crop_to_patch_multiple(self, image: torch.Tensor) -> torch.Tensor:
        """Crop (not pad) H and W down to multiples of the patch size, as DSM does."""
        p = self.patch_size
        h, w = image.shape[-2:]
        return image[..., : h // p * p, : w // p * p]

    def normalise(self, rgb: np.ndarray) -> torch.Tensor:
        """uint8 (H, W, 3) → normalised float (3, H', W') cropped to the patch multiple."""
        t = torch.from_numpy(np.require(rgb, np.uint8, ["C_CONTIGUOUS", "WRITEABLE"])).permute(2, 0, 1).float().div_(255.0)
        mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
        return self.crop_to_patch_multiple((t - mean) / std)

    def _autocast(self):
        """float16 on CUDA; bfloat16 on a CPU that multiplies it natively (see
        :func:`engine.device.cpu_bf16_matmul`: ~3× faster, features within cos 0.999); else float32."""
        from .device import cpu_bf16_matmul

        if self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.float16)
        if self.device.type == "cpu" and cpu_bf16_matmul():
            return torch.autocast("cpu", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> TokenBatch:
        """Run the ViT on a (B, 3, H, W) normalised batch; H, W multiples of the patch size."""
        if images.shape[-2] % self.patch_size or images.shape[-1] % self.patch_size:
            raise ValueError("image size must be a multiple of the patch size; use normalise()")
        images = images.to(self.device, non_blocking=True)
        h, w = images.shape[-2] // self.patch_size, images.shape[-1] // self.patch_size
        with self._autocast():
            out = self.model.forward_features(images)
        keys = self._keys
        self._keys = None
        npt = self.num_prefix_tokens
        b = images.shape[0]
        tokens = out[:, npt:].float().reshape(b, h, w, -1)
        keys = keys[:, npt:].float().reshape(b, h, w, -1)
        return TokenBatch(keys=keys, tokens=tokens, cls=out[:, 0].float(), patch_size=self.patch_size)


@contextlib.contextmanager
def _single_thread(enabled: bool):
    """One torch CPU thread inside: the filter bank is many short memory-bound kernels, which one
    thread runs as fast as two (1024 px: ~150 ms), while with two OpenMP threads on cores shared with
    other processes every kernel can wait for a descheduled partner (measured 0.3–3 s)."""
    if not enabled or torch.get_num_threads() == 1:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class FilterBackbone(Backbone):
    """The weight-free backbone: ilastik's filter bank on Lab (``engine.filters``) pooled to patches.

    Same contract as the ViT: ``normalise`` (inherited: ImageNet mean/std, cropped to the patch
    multiple) and ``__call__(batch) -> TokenBatch``; the normalisation is undone inside. ``tokens``
    carry a fixed normalisation (comparable across images: STEGO, IAL, dataset clustering), ``keys``
    are the same scaled to unit-ish norm (``key_norm="image"``: standardised per image instead),
    ``cls`` is the mean token. See ``engine.filters.tokens_from_raw``.
    """

    def __init__(self, spec: BackboneSpec, device: torch.device, patch_size: int,
                 position_weight: float = 0.0, key_norm: str = "fixed"):
        from .filters import FilterSettings

        self.model = None
        self.spec = spec
        self.device = torch.device(device)
        self.patch_size = int(patch_size)
        self.settings = FilterSettings()
        self.embed_dim = self.settings.n_channels
        self.num_prefix_tokens = 0
        self.position_weight = float(position_weight)
        self.key_norm = key_norm
        self._keys = None

    def to(self, device: torch.device) -> "FilterBackbone":
        self.device = torch.device(device)
        return self

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor) -> TokenBatch:
        from .filters import patch_features, tokens_from_raw

        if images.shape[-2] % self.patch_size or images.shape[-1] % self.patch_size:
            raise ValueError("image size must be a multiple of the patch size; use normalise()")
        images = images.to(self.device, torch.float32)
        undo = (torch.tensor(IMAGENET_STD), torch.tensor(IMAGENET_MEAN))  # back to [0, 1] RGB, after pooling
        with _single_thread(self.device.type == "cpu"):
            raw = patch_features(images, self.patch_size, self.settings, affine=undo)
            t = tokens_from_raw(raw, self.position_weight, self.key_norm)
        return TokenBatch(keys=t.keys, tokens=t.tokens, cls=t.cls, patch_size=self.patch_size)


# ----------------------------------------------------------------------------------------------
# Construction


def _timm():
    # Imported lazily: timm pulls in torchvision, which is slow to import and not needed by the GUI
    # until a model is actually built.
    import timm

    return timm


def available_backbones() -> list[str]:
    """Hub ViTs, then the weight-free filter backbones (offline), then random ViTs (smoke tests)."""
    return list(HUB_MODELS) + list(FILTER_MODELS) + list(RANDOM_MODELS)


# ----------------------------------------------------------------------------------------------
# Position embeddings at non-native sizes, as DINO and DINOv2 resample them


#: Names the resampling rule inside cache keys, so features computed under another rule are not reused.
POS_EMBED_RULE = "dino-bicubic-offset0.1"


def official_patch_pos_embed(patch_pos: torch.Tensor, grid_hw: tuple[int, int],
                             offset: float = 0.1, antialias: bool = False) -> torch.Tensor:
    """Patch position embeddings (1, M·M, C) resampled to ``grid_hw`` = (h0, w0) the way DINO's and
    DINOv2's ``interpolate_pos_encoding`` do it: bicubic with ``scale_factor = ((h0 + 0.1) / M,
    (w0 + 0.1) / M)`` (not an output size: the scale factor, not in/out, sets the sampling grid),
    ``align_corners=False``, no antialiasing (DINOv2's ``interpolate_antialias`` defaults to False;
    DINO has none), computed in float32. At the native square grid the embeddings are returned as
    they are (``npatch == N and w == h``). timm's ``resample_abs_pos_embed`` instead interpolates to
    a size with ``antialias=True``, which gives different embeddings whenever the grid changes.
    """
    n, c = patch_pos.shape[1], patch_pos.shape[2]
    m = int(math.sqrt(n))
    if m * m != n:
        raise ValueError(f"position embedding of {n} tokens is not a square grid")
    h0, w0 = int(grid_hw[0]), int(grid_hw[1])
    if h0 * w0 == n and h0 == w0:
        return patch_pos
    grid = patch_pos.float().reshape(1, m, m, c).permute(0, 3, 1, 2)
    out = F.interpolate(grid, scale_factor=(float(h0 + offset) / m, float(w0 + offset) / m), mode="bicubic",
                        align_corners=False, antialias=antialias)
    if tuple(out.shape[-2:]) != (h0, w0):  # DINO asserts the same
        raise RuntimeError(f"position embedding resampled to {tuple(out.shape[-2:])}, expected {(h0, w0)}")
    return out.permute(0, 2, 3, 1).reshape(1, h0 * w0, c).to(patch_pos.dtype)


def _official_pos_embed(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Replacement for timm's ``VisionTransformer._pos_embed`` (x: (B, H, W, C) patch grid) that
    resamples with :func:`official_patch_pos_embed`; token layout as timm's (prefix tokens first)."""
    b, h, w, c = x.shape
    x = x.reshape(b, h * w, c)
    prefix = [model.cls_token.expand(b, -1, -1)] if model.cls_token is not None else []
    if model.reg_token is not None:
        prefix.append(model.reg_token.expand(b, -1, -1))
    if model.pos_embed is None:
        return model.pos_drop(torch.cat(prefix + [x], dim=1))
    n_pos_prefix = 0 if model.no_embed_class else model.num_prefix_tokens
    pos = model.pos_embed
    pos = torch.cat([pos[:, :n_pos_prefix], official_patch_pos_embed(pos[:, n_pos_prefix:], (h, w))], dim=1)
    if model.no_embed_class:  # DINOv2 with registers: class position folded into the class token
        x = torch.cat(prefix + [x + pos], dim=1)
    else:
        x = torch.cat(prefix + [x], dim=1) + pos
    return model.pos_drop(x)


def use_official_pos_embed(model: torch.nn.Module) -> torch.nn.Module:
    """Make a dynamic-size timm ViT resample position embeddings as DINO / DINOv2 do (in place)."""
    if not getattr(model, "dynamic_img_size", False):
        raise ValueError("the ViT must be built with dynamic_img_size=True")
    model._pos_embed = functools.partial(_official_pos_embed, model)
    return model


def load_backbone(spec: BackboneSpec, device: torch.device | str = "cpu") -> Backbone:
    """Build the backbone ``spec`` names. Raises :class:`BackboneLoadError` with a clear reason."""
    device = torch.device(device)
    if spec.checkpoint:
        try:
            model = _model_from_checkpoint(Path(spec.checkpoint))
        except (KeyError, IndexError, ValueError) as exc:  # a layout none of the checks above foresaw
            raise BackboneLoadError(f"{Path(spec.checkpoint).name}: unsupported ViT checkpoint layout "
                                    f"({type(exc).__name__}: {exc})") from exc
    elif spec.name in FILTER_MODELS:
        return FilterBackbone(spec, device, FILTER_MODELS[spec.name])
    elif spec.name in RANDOM_MODELS:
        torch.manual_seed(spec.seed)
        model = _timm().create_model(RANDOM_MODELS[spec.name], pretrained=False, num_classes=0,
                                     dynamic_img_size=True)
    elif spec.name in HUB_MODELS:
        model = _model_from_hub(spec.name)
    else:
        known = ", ".join(available_backbones())
        raise BackboneLoadError(f"Unknown backbone {spec.name!r}. Known names: {known}; "
                                "or give a local checkpoint file.")
    # Every model here is DINO / DINOv2 (or a random stand-in for one): resample like the originals.
    return Backbone(use_official_pos_embed(model), spec, device)


#: Where hub weights come from; probed once per process before a download is attempted.
HUB_PROBE_ADDRESS: tuple[str, int] = ("huggingface.co", 443)
HUB_PROBE_TIMEOUT_S = 1.5
_hub_reachable: dict[tuple[str, int], bool] = {}


def hub_reachable(timeout: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Can a TCP connection to the model hub be opened within ``timeout`` seconds? Cached per process.

    Without this, timm's download retries make an offline hub name fail only after ~50 s. The
    probe (DNS included, which ``socket`` cannot time out) runs in a daemon thread so the answer
    never takes longer than ``timeout``.
    """
    import socket
    import ssl
    import threading

    address = HUB_PROBE_ADDRESS
    if address in _hub_reachable:
        return _hub_reachable[address]
    result: list[bool] = []

    def probe() -> None:
        # A TLS handshake, not just a TCP connect: sandboxes and captive proxies often accept any
        # connection and then never answer. Certificates are not checked (only "does a TLS server
        # answer?" matters here; the download itself verifies them).
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        try:
            with socket.create_connection(address, timeout=timeout) as sock:
                with ctx.wrap_socket(sock, server_hostname=address[0]):
                    result.append(True)
        except (OSError, ssl.SSLError):
            result.append(False)

    thread = threading.Thread(target=probe, name="hub-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    _hub_reachable[address] = bool(result and result[0])
    return _hub_reachable[address]


def _weights_cached(timm_name: str, cache_dir: str | None = None) -> bool:
    """True when the hub weights of ``timm_name`` are already in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache

        repo = f"timm/{timm_name}"  # timm's hf_hub_id for every name in HUB_MODELS (no timm import)
        return any(isinstance(try_to_load_from_cache(repo, f, cache_dir=cache_dir), str)
                   for f in ("model.safetensors", "pytorch_model.bin", "open_clip_pytorch_model.bin"))
    except Exception:
        return False


def _hub_error(name: str, timm_name: str, hint: str, detail: str = "") -> BackboneLoadError:
    return BackboneLoadError(
        f"Could not download weights for {name} ({timm_name}): {hint}. "
        f"Download the DINO checkpoint on a connected machine and use it as a local file "
        f"(app: File → Preferences → Backbone; CLI: --backbone PATH), or use the weight-free "
        f"'{OFFLINE_BACKBONE}' backbone offline (CLI: --backbone {OFFLINE_BACKBONE}): filter-bank features, "
        f"no download, meaningful but weaker than DINO.{detail}")


def _model_from_hub(name: str) -> torch.nn.Module:
    timm_name = HUB_MODELS[name]
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if not offline and not hub_reachable() and not _weights_cached(timm_name):
        raise _hub_error(name, timm_name, f"the model hub could not be reached (no connection to "
                                          f"{HUB_PROBE_ADDRESS[0]} within {HUB_PROBE_TIMEOUT_S:g} s)")
    try:
        return _timm().create_model(timm_name, pretrained=True, num_classes=0, dynamic_img_size=True)
    except Exception as exc:  # network errors come in many types (socket, HF hub, HTTP)
        hint = ("HF_HUB_OFFLINE=1 is set" if offline else "the model hub could not be reached")
        raise _hub_error(name, timm_name, hint, f" Details: {type(exc).__name__}: {exc}") from exc


# ----------------------------------------------------------------------------------------------
# Local checkpoints: DINO .pth (plain state_dict), full DINO training checkpoint
# (teacher/student with module./backbone. prefixes), DINOv2 (.pth, layer scale, registers),
# Hugging Face folders or files (ViTModel / Dinov2Model keys, safetensors or bin).


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.exists():
        raise BackboneLoadError(f"Checkpoint not found: {path}")
    if path.is_dir():
        candidates = [path / "model.safetensors", path / "pytorch_model.bin"]
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise BackboneLoadError(f"{path} is a folder without model.safetensors or pytorch_model.bin")
        path = found
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj = load_file(str(path))
        else:
            # DINO's main_dino.py saves its argparse.Namespace under "args": trusted for this call
            # only, and nothing else beyond plain weights.
            obj = torch_load_weights(path, allowed_globals=(argparse.Namespace,))
    except Exception as exc:
        raise BackboneLoadError(f"{path.name} is not a readable PyTorch/safetensors checkpoint "
                                f"({describe_load_error(exc)})") from None
    if not isinstance(obj, dict):
        raise BackboneLoadError(f"{path.name} does not contain a state dict (found {type(obj).__name__})")
    for wrapper in ("teacher", "model", "state_dict", "student"):
        if wrapper in obj and isinstance(obj[wrapper], dict):
            obj = obj[wrapper]
            break
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not state:
        raise BackboneLoadError(f"{path.name} holds no tensors")
    return state


def _strip_prefixes(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "backbone.", "vit.", "dinov2.", "model."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        out[k] = v
    # DINO training checkpoints also hold the projection head: not part of the ViT.
    return {k: v for k, v in out.items() if not k.startswith(("head.", "mlp.", "last_layer"))}


_HF_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.(.+)$")
_HF_MAP = {
    "attention.output.dense": "attn.proj",
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "norm1": "norm1",
    "norm2": "norm2",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}


def _is_hf_layout(state: dict[str, torch.Tensor]) -> bool:
    return any(k.startswith("embeddings.") for k in state)


def _convert_hf(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Hugging Face ViTModel / Dinov2Model keys → timm VisionTransformer keys."""
    out: dict[str, torch.Tensor] = {}
    qkv: dict[int, dict[str, dict[str, torch.Tensor]]] = {}
    for k, v in state.items():
        if k == "embeddings.cls_token":
            out["cls_token"] = v
        elif k == "embeddings.position_embeddings":
            out["pos_embed"] = v
        elif k == "embeddings.register_tokens":
            out["reg_token"] = v
        elif k.startswith("embeddings.patch_embeddings.projection."):
            out["patch_embed.proj." + k.rsplit(".", 1)[1]] = v
        elif k.startswith("layernorm."):
            out["norm." + k.rsplit(".", 1)[1]] = v
        elif m := _HF_LAYER.match(k):
            i, rest = int(m.group(1)), m.group(2)
            if rest.startswith("attention.attention."):
                _, _, which, kind = rest.split(".")
                qkv.setdefault(i, {}).setdefault(kind, {})[which] = v
            elif rest.startswith("layer_scale"):
                out[f"blocks.{i}.ls{rest[len('layer_scale')]}.gamma"] = v
            else:
                base, kind = rest.rsplit(".", 1)
                if base in _HF_MAP:
                    out[f"blocks.{i}.{_HF_MAP[base]}.{kind}"] = v
    for i, kinds in qkv.items():
        for kind, parts in kinds.items():
            out[f"blocks.{i}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]], 0)
    return out


def _model_from_checkpoint(path: Path) -> torch.nn.Module:
    state = _strip_prefixes(_read_state_dict(path))
    if _is_hf_layout(state):
        state = _convert_hf(state)
    if "patch_embed.proj.weight" not in state:
        raise BackboneLoadError(
            f"{path.name} does not look like a ViT checkpoint (no patch embedding weights). "
            "Supported: DINO / DINOv2 ViT .pth, full DINO checkpoints, Hugging Face ViT/DINOv2 folders.")
    dim, _, patch, _ = state["patch_embed.proj.weight"].shape
    depth = 1 + max(int(k.split(".")[1]) for k in state if k.startswith("blocks."))
    heads = _HEADS_BY_DIM.get(dim)
    if heads is None:
        raise BackboneLoadError(f"{path.name}: unsupported embedding width {dim}")
    # DINOv2 ViT-g uses a fused SwiGLU MLP (w12 = [w1; w2] packed, w3): timm's SwiGLUPacked with
    # the same gating (silu(first half) * second half), once w12/w3 are renamed fc1/fc2.
    swiglu = "blocks.0.mlp.w12.weight" in state
    if swiglu:
        state = {re.sub(r"\.mlp\.w12\.", ".mlp.fc1.", re.sub(r"\.mlp\.w3\.", ".mlp.fc2.", k)): v
                 for k, v in state.items()}
    if "blocks.0.mlp.fc1.weight" not in state:
        mlp_keys = sorted({k.split(".mlp.")[1] for k in state if k.startswith("blocks.0.mlp.")})
        raise BackboneLoadError(
            f"{path.name}: unsupported MLP layout in the ViT blocks (keys blocks.0.mlp.{mlp_keys or '?'}); "
            "supported: standard MLP (fc1/fc2) and DINOv2's SwiGLU (w12/w3)")
    hidden = state["blocks.0.mlp.fc1.weight"].shape[0]
    mlp_ratio = (hidden + 0.5) / dim  # timm takes int(dim * mlp_ratio): exact, free of float round-down
    has_layer_scale = "blocks.0.ls1.gamma" in state
    reg_tokens = 0
    if "register_tokens" in state:
        state["reg_token"] = state.pop("register_tokens")
    if "reg_token" in state:
        reg_tokens = state["reg_token"].shape[1]
    state.pop("mask_token", None)
    if "pos_embed" not in state or "cls_token" not in state:
        raise BackboneLoadError(f"{path.name}: no position embedding / class token in the checkpoint")
    n_pos = state["pos_embed"].shape[1] - 1  # DINO and DINOv2 keep pos for cls, not registers
    grid = int(round(n_pos**0.5))
    if grid * grid != n_pos:
        raise BackboneLoadError(f"{path.name}: position embedding of {n_pos} tokens is not a square grid")
    kwargs = dict(
        patch_size=patch, embed_dim=dim, depth=depth, num_heads=heads, mlp_ratio=mlp_ratio,
        img_size=grid * patch, num_classes=0, dynamic_img_size=True, reg_tokens=reg_tokens,
        no_embed_class=bool(reg_tokens), init_values=1e-5 if has_layer_scale else None,
    )
    if swiglu:
        from timm.layers import SwiGLUPacked

        kwargs.update(mlp_layer=SwiGLUPacked, act_layer=torch.nn.SiLU)
    if reg_tokens:
        # DINOv2 adds pos_embed[0] to the class token and gives registers no position; timm's
        # no_embed_class layout is the same once the class position is folded into the token.
        state["cls_token"] = state["cls_token"] + state["pos_embed"][:, :1]
        state["pos_embed"] = state["pos_embed"][:, 1:]
    from timm.models.vision_transformer import VisionTransformer

    model = VisionTransformer(**kwargs)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("head")]
    if missing or unexpected:
        raise BackboneLoadError(
            f"{path.name}: checkpoint does not match a ViT-{dim}/{patch} x{depth} "
            f"(missing {missing[:4]}, unexpected {unexpected[:4]})")
    return model


def describe(backbone: Backbone) -> str:
    """One-line summary for logs and the status bar."""
    return json.dumps({"name": backbone.spec.checkpoint or backbone.spec.name, "patch": backbone.patch_size,
                       "dim": backbone.embed_dim, "device": str(backbone.device)})
