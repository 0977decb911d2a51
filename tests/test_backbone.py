"""Backbone construction from every supported checkpoint layout, and the hub's offline error."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from engine.backbone import BackboneLoadError, BackboneSpec, load_backbone
from engine.features import CACHE_BITS, FeatureCache, FeatureProvider, extract_features


@pytest.fixture(autouse=True, scope="module")
def _float32_vit():
    """Fidelity to the reference models is checked in float32 (bf16 CPU inference is checked against
    float32 in tests/test_speed_paths.py); module scope, so module fixtures see it too."""
    import engine.device

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine.device, "cpu_bf16_matmul", lambda: False)
        yield


def _hf_keys(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm ViT state dict → Hugging Face ViTModel layout (as transformers saves DINO)."""
    out = {"embeddings.cls_token": sd["cls_token"], "embeddings.position_embeddings": sd["pos_embed"],
           "embeddings.patch_embeddings.projection.weight": sd["patch_embed.proj.weight"],
           "embeddings.patch_embeddings.projection.bias": sd["patch_embed.proj.bias"],
           "layernorm.weight": sd["norm.weight"], "layernorm.bias": sd["norm.bias"]}
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    names = {"attn.proj": "attention.output.dense", "norm1": "layernorm_before", "norm2": "layernorm_after",
             "mlp.fc1": "intermediate.dense", "mlp.fc2": "output.dense"}
    for i in range(depth):
        for kind in ("weight", "bias"):
            q, k, v = sd[f"blocks.{i}.attn.qkv.{kind}"].chunk(3, 0)
            for n, t in (("query", q), ("key", k), ("value", v)):
                out[f"encoder.layer.{i}.attention.attention.{n}.{kind}"] = t
            for timm_name, hf_name in names.items():
                out[f"encoder.layer.{i}.{hf_name}.{kind}"] = sd[f"blocks.{i}.{timm_name}.{kind}"]
    return out


@pytest.fixture(scope="module")
def reference():
    bb = load_backbone(BackboneSpec("random_vitt16", seed=3))
    x = bb.normalise((np.random.default_rng(0).random((64, 96, 3)) * 255).astype(np.uint8))[None]
    return bb, x, bb(x)


@pytest.mark.parametrize("layout", ["plain", "full_dino", "hf_folder"])
def test_checkpoint_layouts_reproduce_outputs(tmp_path, reference, layout):
    bb, x, ref = reference
    sd = bb.model.state_dict()
    if layout == "plain":
        path = tmp_path / "dino.pth"
        torch.save(sd, path)
    elif layout == "full_dino":
        path = tmp_path / "checkpoint.pth"
        wrapped = {f"module.backbone.{k}": v for k, v in sd.items()}
        wrapped["module.head.mlp.0.weight"] = torch.zeros(2, 2)
        torch.save({"teacher": wrapped, "student": wrapped, "epoch": 3}, path)
    else:
        from safetensors.torch import save_file

        path = tmp_path / "hf"
        path.mkdir()
        save_file({k: v.contiguous() for k, v in _hf_keys(sd).items()}, str(path / "model.safetensors"))
    loaded = load_backbone(BackboneSpec(checkpoint=str(path)))
    out = loaded(x)
    assert loaded.patch_size == 16
    torch.testing.assert_close(out.keys, ref.keys)
    torch.testing.assert_close(out.tokens, ref.tokens)


def test_full_dino_training_checkpoint_as_main_dino_writes_it(tmp_path, reference):
    """main_dino.py: student (DDP: module.backbone.*), teacher (backbone.*), optimizer, epoch, args
    (an argparse.Namespace), dino_loss. The teacher is the one DINO evaluates and we load."""
    import argparse

    bb, x, ref = reference
    sd = bb.model.state_dict()
    head = {"head.mlp.0.weight": torch.randn(8, 192), "head.last_layer.weight_g": torch.ones(16, 1),
            "head.last_layer.weight_v": torch.randn(16, 8)}
    teacher = {**{f"backbone.{k}": v for k, v in sd.items()}, **head}
    student = {f"module.{k}": (v + 0.5 if k.startswith("backbone.") else v) for k, v in teacher.items()}
    args = argparse.Namespace(arch="vit_tiny", patch_size=16, out_dim=16, norm_last_layer=True,
                              global_crops_scale=(0.4, 1.0), lr=0.0005, data_path="/data/train",
                              use_fp16=True, dist_url="env://", gpu=0, rank=0, world_size=1, seed=0)
    optimizer = {"state": {0: {"step": torch.tensor(10.0), "exp_avg": torch.zeros(3)}},
                 "param_groups": [{"lr": 1e-4, "betas": (0.9, 0.999), "weight_decay": 0.04, "params": [0]}]}
    path = tmp_path / "checkpoint.pth"
    torch.save({"student": student, "teacher": teacher, "optimizer": optimizer, "epoch": 100, "args": args,
                "dino_loss": {"center": torch.zeros(1, 16)}, "fp16_scaler": {"scale": 65536.0}}, path)
    loaded = load_backbone(BackboneSpec(checkpoint=str(path)))
    torch.testing.assert_close(loaded(x).tokens, ref.tokens)


class _RunsCode:
    """Pickles as a call to os.mkdir: what a malicious checkpoint would do on load."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.target,))


def test_malicious_checkpoint_is_refused_without_suggesting_weights_only_false(tmp_path):
    from engine.fileio import read_checkpoint

    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pth"
    torch.save({"teacher": {"patch_embed.proj.weight": torch.zeros(1)}, "payload": _RunsCode(marker)}, path)
    with pytest.raises(BackboneLoadError) as err:
        load_backbone(BackboneSpec(checkpoint=str(path)))
    for message in (str(err.value), str(pytest.raises(ValueError, read_checkpoint, path, "STEGO").value)):
        assert "not a readable" in message and "mkdir" in message
        assert "weights_only" not in message and "safe_globals" not in message
        assert "trust" not in message.lower()
    assert not marker.exists()


def _dino_interpolate_pos_encoding(pos_embed, patch_size, x, w, h):
    """facebookresearch/dino vision_transformer.py ``interpolate_pos_encoding``, transcribed
    (``B, nc, w, h = x.shape`` in prepare_tokens: "w" is the height)."""
    npatch = x.shape[1] - 1
    N = pos_embed.shape[1] - 1
    if npatch == N and w == h:
        return pos_embed
    class_pos_embed = pos_embed[:, 0]
    patch_pos_embed = pos_embed[:, 1:]
    dim = x.shape[-1]
    w0 = w // patch_size
    h0 = h // patch_size
    w0, h0 = w0 + 0.1, h0 + 0.1
    patch_pos_embed = torch.nn.functional.interpolate(
        patch_pos_embed.reshape(1, int(math.sqrt(N)), int(math.sqrt(N)), dim).permute(0, 3, 1, 2),
        scale_factor=(w0 / math.sqrt(N), h0 / math.sqrt(N)), mode="bicubic")
    assert int(w0) == patch_pos_embed.shape[-2] and int(h0) == patch_pos_embed.shape[-1]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1)


def _dinov2_interpolate_pos_encoding(pos_embed, patch_size, x, w, h, interpolate_offset=0.1,
                                     interpolate_antialias=False):
    """facebookresearch/dinov2 dinov2/models/vision_transformer.py ``interpolate_pos_encoding``,
    transcribed with the hub models' defaults (offset 0.1, no antialias)."""
    previous_dtype = x.dtype
    npatch = x.shape[1] - 1
    N = pos_embed.shape[1] - 1
    if npatch == N and w == h:
        return pos_embed
    pos_embed = pos_embed.float()
    class_pos_embed = pos_embed[:, 0]
    patch_pos_embed = pos_embed[:, 1:]
    dim = x.shape[-1]
    w0 = w // patch_size
    h0 = h // patch_size
    M = int(math.sqrt(N))
    assert N == M * M
    kwargs = {}
    if interpolate_offset:
        sx = float(w0 + interpolate_offset) / M
        sy = float(h0 + interpolate_offset) / M
        kwargs["scale_factor"] = (sx, sy)
    else:
        kwargs["size"] = (w0, h0)
    patch_pos_embed = torch.nn.functional.interpolate(
        patch_pos_embed.reshape(1, M, M, dim).permute(0, 3, 1, 2), mode="bicubic",
        antialias=interpolate_antialias, **kwargs)
    assert (w0, h0) == patch_pos_embed.shape[-2:]
    patch_pos_embed = patch_pos_embed.permute(0, 2, 3, 1).view(1, -1, dim)
    return torch.cat((class_pos_embed.unsqueeze(0), patch_pos_embed), dim=1).to(previous_dtype)


@pytest.mark.parametrize("hw", [(64, 96), (96, 64), (48, 48), (224, 224), (224, 240), (336, 208)])
def test_dino_position_embeddings_resample_like_the_official_code(hw):
    bb = load_backbone(BackboneSpec("random_vitt16", seed=1))
    model = bb.model
    x = torch.randn(1, 3, *hw)
    with torch.no_grad():
        patches = model.patch_embed(x)  # (1, h, w, C)
        flat = torch.cat([model.cls_token, patches.flatten(1, 2)], dim=1)
        expected = flat + _dino_interpolate_pos_encoding(model.pos_embed, 16, flat, *hw)
        torch.testing.assert_close(model._pos_embed(patches), expected, rtol=0, atol=1e-6)
        if hw not in ((224, 224),):  # timm's own resampling (size=, antialias=True) is not DINO's
            from timm.layers import resample_abs_pos_embed

            timm_pos = resample_abs_pos_embed(model.pos_embed, new_size=patches.shape[1:3], old_size=(14, 14))
            assert not torch.allclose(flat + timm_pos, expected, atol=1e-4)


def test_dinov2_style_checkpoint_with_layer_scale_and_registers(tmp_path):
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    model = VisionTransformer(patch_size=14, embed_dim=192, depth=2, num_heads=3, img_size=56, num_classes=0,
                              init_values=1e-5, reg_tokens=4, no_embed_class=True, dynamic_img_size=True)
    sd = dict(model.state_dict())
    # Original DINOv2 layout: a class position in front of the patch positions.
    class_pos = 0.1 * torch.randn(1, 1, 192)
    sd["pos_embed"] = torch.cat([class_pos, sd["pos_embed"]], 1)
    sd["register_tokens"] = sd.pop("reg_token")
    sd["mask_token"] = torch.zeros(1, 192)
    torch.save(sd, tmp_path / "dinov2.pth")
    loaded = load_backbone(BackboneSpec(checkpoint=str(tmp_path / "dinov2.pth")))
    assert loaded.patch_size == 14 and loaded.num_prefix_tokens == 5
    x = torch.randn(1, 3, 70, 42)
    out = loaded(x)
    assert out.keys.shape == (1, 5, 3, 192)
    # DINOv2's prepare_tokens_with_masks, transcribed: class token + position, registers after it.
    model.eval()
    with torch.no_grad():
        t = model.patch_embed(x).flatten(1, 2)
        t = torch.cat([sd["cls_token"], t], dim=1)
        t = t + _dinov2_interpolate_pos_encoding(sd["pos_embed"], 14, t, 70, 42)
        t = torch.cat([t[:, :1], sd["register_tokens"], t[:, 1:]], dim=1)
        t = model.norm(model.blocks(t))
    torch.testing.assert_close(out.tokens, t[:, 5:].reshape(1, 5, 3, 192))
    torch.testing.assert_close(out.cls, t[:, 0])


def test_dinov2_giant_swiglu_checkpoint_loads(tmp_path):
    """DINOv2 ViT-g blocks use a fused SwiGLU MLP (mlp.w12 / mlp.w3): loads, same outputs."""
    from timm.layers import SwiGLUPacked
    from timm.models.vision_transformer import VisionTransformer

    torch.manual_seed(0)
    # ViT-g's ratio: w12 packs 2 × 4096 for width 1536, i.e. 16/3 of the width (here 2 × 512 for 192).
    model = VisionTransformer(patch_size=14, embed_dim=192, depth=2, num_heads=3, img_size=56, num_classes=0,
                              init_values=1e-5, mlp_ratio=1024 / 192, mlp_layer=SwiGLUPacked,
                              act_layer=torch.nn.SiLU, dynamic_img_size=True).eval()
    assert model.blocks[0].mlp.fc1.weight.shape[0] == 1024
    sd = {k.replace("mlp.fc1.", "mlp.w12.").replace("mlp.fc2.", "mlp.w3."): v for k, v in model.state_dict().items()}
    sd["mask_token"] = torch.zeros(1, 192)
    torch.save(sd, tmp_path / "dinov2_vitg14_like.pth")
    loaded = load_backbone(BackboneSpec(checkpoint=str(tmp_path / "dinov2_vitg14_like.pth")))
    x = torch.randn(1, 3, 56, 56)  # native grid: no position resampling involved
    with torch.no_grad():
        expected = model.forward_features(x)[:, 1:].reshape(1, 4, 4, 192)
    torch.testing.assert_close(loaded(x).tokens, expected)


def test_unknown_mlp_layout_is_a_clear_error(tmp_path, reference):
    bb, _, _ = reference
    sd = {k.replace("mlp.fc1.", "mlp.gate.").replace("mlp.fc2.", "mlp.down."): v for k, v in bb.model.state_dict().items()}
    torch.save(sd, tmp_path / "odd.pth")
    with pytest.raises(BackboneLoadError, match="unsupported MLP layout"):
        load_backbone(BackboneSpec(checkpoint=str(tmp_path / "odd.pth")))


def test_hub_name_without_network_fails_within_seconds(monkeypatch, tmp_path):
    """No HF_HUB_OFFLINE, no cached weights, hub unreachable: a clear error at once, not after timm's
    ~50 s of retries. The hub is replaced by a local socket that accepts connections and never
    answers (what a sandbox or captive proxy does), so the test is the same on every machine."""
    import socket
    import time

    import engine.backbone as backbone

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(backbone, "HUB_PROBE_ADDRESS", silent.getsockname())
    monkeypatch.setattr(backbone, "_hub_reachable", {})
    monkeypatch.setattr(backbone, "_weights_cached", lambda timm_name: False)
    start = time.monotonic()
    with pytest.raises(BackboneLoadError, match="could not be reached.*local file"):
        load_backbone(BackboneSpec("dino_vits16"))
    first = time.monotonic() - start
    assert first < 5.0
    start = time.monotonic()
    with pytest.raises(BackboneLoadError, match="could not be reached"):
        load_backbone(BackboneSpec("dinov2_vits14"))
    assert time.monotonic() - start < 0.5  # the probe's answer is cached for the process
    silent.close()


def test_cached_hub_weights_are_recognised_without_network(tmp_path):
    from engine.backbone import _weights_cached

    assert not _weights_cached("vit_small_patch16_224.dino", cache_dir=str(tmp_path))
    repo = tmp_path / "models--timm--vit_small_patch16_224.dino"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "model.safetensors").write_bytes(b"x")
    assert _weights_cached("vit_small_patch16_224.dino", cache_dir=str(tmp_path))


def test_wrong_checkpoint_gives_clear_error(tmp_path):
    bad = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, bad)
    with pytest.raises(BackboneLoadError, match="does not look like a ViT"):
        load_backbone(BackboneSpec(checkpoint=str(bad)))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(BackboneLoadError, match="not a readable"):
        load_backbone(BackboneSpec(checkpoint=str(junk)))
    with pytest.raises(BackboneLoadError, match="not found"):
        load_backbone(BackboneSpec(checkpoint=str(tmp_path / "missing.pth")))


def test_hub_name_offline_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackboneLoadError, match="local file"):
        load_backbone(BackboneSpec("dino_vits16"))


def test_unknown_name():
    with pytest.raises(BackboneLoadError, match="Unknown backbone"):
        load_backbone(BackboneSpec("resnet50"))


def test_features_native_resolution_and_cache(tmp_path, random_backbone, demo_dir):
    from engine.imageio import load_image

    path = demo_dir / "chelsea.png"
    rgb = load_image(path)  # 300 x 451
    feats = extract_features(random_backbone, [rgb], max_side=None)[0]
    assert feats.grid_hw == (300 // 16, 451 // 16)
    assert feats.keys.shape[-1] == 384 and feats.input_rgb.shape == (288, 448, 3)
    provider = FeatureProvider(random_backbone, FeatureCache(tmp_path), max_side=None)
    first = provider.features_for(path)
    assert len(list(tmp_path.glob("*/*.npz"))) == 1
    second = provider.features_for(path)
    # 5-bit codes on disk (engine.features.CACHE_BITS): every value within half a quantisation step
    step = np.abs(first.keys).reshape(-1, first.keys.shape[-1]).max(0) / (2 ** (CACHE_BITS - 1) - 1)
    assert np.all(np.abs(first.keys - second.keys) <= step / 2 + 1e-6)
    np.testing.assert_array_equal(first.input_rgb, second.input_rgb)  # rebuilt from the image
    np.testing.assert_allclose(first.keys, feats.keys, atol=1e-2)


def test_batched_extraction_matches_single(random_backbone):
    rng = np.random.default_rng(1)
    imgs = [(rng.random((96, 128, 3)) * 255).astype(np.uint8) for _ in range(3)]
    batched = extract_features(random_backbone, imgs, max_side=None, batch_size=3)
    single = [extract_features(random_backbone, [im], max_side=None)[0] for im in imgs]
    for b, s in zip(batched, single):
        np.testing.assert_allclose(b.keys, s.keys, atol=1e-4)
