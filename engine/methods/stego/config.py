"""STEGO settings. Defaults follow the reference's active training config (ViT-S/8, "IAROA" set);
``preset`` selects one of the reference's other named settings (:data:`PRESETS`).

The GUI builds its training form from these fields and the CLI parses ``--set key=value`` against
their types, so every field is a plain scalar with a default.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from ...backbone import BackboneSpec

_CHECKPOINT_SUFFIXES = (".pth", ".pt", ".bin", ".safetensors", ".ckpt")


#: The reference's named settings (``mhamilton723/STEGO`` ``src/configs``), keyed by preset name. Loss
#: names map as pos_intra → self, pos_inter → knn, neg_inter → rand. Fields not listed keep the
#: train_config.yml values shared by every run there (dim 70, lr 5e-4, batch 16, 5000 steps, five
#: crops of 0.5 at 224 px, 7 neighbours, 11x11 feature samples, 5 negative samples).
PRESETS: dict[str, dict[str, object]] = {
    # train_config.yml, active block "IAROA vit small 1/31/22" (the defaults of this dataclass)
    "iaroa_vits8": dict(backbone="dino_vits8", lambda_self=0.67, lambda_knn=0.25, lambda_rand=0.63,
                        shift_self=0.18, shift_knn=0.12, shift_rand=0.46),
    # train_config.yml, "Cocostuff27 vit small 1/31/22"
    "cocostuff27_vits8": dict(backbone="dino_vits8", n_clusters=27, lambda_self=0.67, lambda_knn=0.25,
                              lambda_rand=0.63, shift_self=0.08, shift_knn=0.02, shift_rand=0.66),
    # train_config.yml, "Cocostuff27 10/3 vit_base"
    "cocostuff27_vitb8": dict(backbone="dino_vitb8", n_clusters=27, lambda_self=0.1, lambda_knn=1.0,
                              lambda_rand=0.1538476246415498, shift_self=0.12, shift_knn=0.2, shift_rand=1.0),
    # configs/dataset/cocostuff27.yaml, active block "Cocostuff27" (2023 layout; backbone not named there)
    "cocostuff27_dataset": dict(backbone="dino_vits8", n_clusters=27, lambda_self=0.29, lambda_knn=0.80,
                                lambda_rand=0.72, shift_self=0.34, shift_knn=0.04, shift_rand=0.86),
    # configs/dataset/cityscapes.yaml, active block "Cityscapes"; ViT-B/8 as in the paper's Cityscapes run
    "cityscapes_vitb8": dict(backbone="dino_vitb8", n_clusters=27, lambda_self=0.46, lambda_knn=0.18,
                             lambda_rand=0.72, shift_self=0.25, shift_knn=0.20, shift_rand=0.25),
    # configs/dataset/potsdam.yaml = train_config.yml "Potsdam vit small 1/31/22"; 3 classes
    "potsdam_vits8": dict(backbone="dino_vits8", n_clusters=3, lambda_self=0.67, lambda_knn=0.25,
                          lambda_rand=0.63, shift_self=0.08, shift_knn=0.02, shift_rand=0.46),
}


@dataclass(frozen=True)
class StegoConfig:
    # reference settings by name (see PRESETS); fills every field it names that is left at its default
    preset: str = ""
    # frozen backbone: a name from engine.backbone (dino_vits8, random_vits16, ...) or a local checkpoint
    backbone: str = "dino_vits8"
    # segmentation head
    dim: int = 70
    dropout: float = 0.1  # Dropout2d on the backbone features (fed to head and, as in STEGO, to the loss)
    # correlation loss: weight λ and shift b per pair type (reference default "IAROA ViT-S" set)
    lambda_self: float = 0.67
    lambda_knn: float = 0.25
    lambda_rand: float = 0.63
    shift_self: float = 0.18
    shift_knn: float = 0.12
    shift_rand: float = 0.46
    n_neighbors: int = 7  # kNN positive drawn uniformly from the top-k neighbours (self excluded)
    feature_samples: int = 11  # S: an S×S grid of random coordinates per image
    neg_samples: int = 5  # derangements of the batch for the random-pair term
    pointwise: bool = True  # spatial centring of the feature correlation
    zero_clamp: bool = True
    stabilize: bool = False  # cap code correlation at 0.8
    # optimisation
    lr: float = 5e-4  # Adam, head
    probe_lr: float = 5e-3  # Adam, each probe
    batch_size: int = 16
    steps: int = 5000
    seed: int = 0
    checkpoint_every: int = 400  # 0 = final checkpoint only
    # data
    resolution: int = 224  # square training crop side (resize short side + centre crop)
    crop_ratio: float = 0.5  # five-crop size as a fraction of each image side
    five_crop: bool = True  # False: one crop per image (the whole image)
    feature_batch: int = 16  # crops per backbone forward while precomputing features
    # clusters
    n_clusters: int = 27
    extra_clusters: int = 0
    # prediction
    predict_resolution: int = 320  # short side fed to the ViT at inference (reference eval res)
    flip_tta: bool = True  # average the code of the image and its mirror, as the reference eval does
    max_side: int = 640  # masks / CRF are computed at most at this longer side, then upsampled
    crf: bool = True

    def __post_init__(self) -> None:
        self._apply_preset()
        problems = []
        if not self.backbone:
            problems.append("backbone must name a model or a checkpoint file")
        if self.dim < 1:
            problems.append("dim must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            problems.append("dropout must be in [0, 1)")
        if self.n_neighbors < 1:
            problems.append("n_neighbors must be >= 1")
        if self.feature_samples < 1:
            problems.append("feature_samples must be >= 1")
        if self.neg_samples < 0:
            problems.append("neg_samples must be >= 0")
        if self.lr <= 0 or self.probe_lr <= 0:
            problems.append("learning rates must be > 0")
        if self.batch_size < 2:
            problems.append("batch_size must be >= 2 (random pairs need two crops)")
        if self.steps < 1:
            problems.append("steps must be >= 1")
        if self.checkpoint_every < 0:
            problems.append("checkpoint_every must be >= 0")
        if self.resolution < 16:
            problems.append("resolution must be >= 16")
        if not 0.0 < self.crop_ratio <= 1.0:
            problems.append("crop_ratio must be in (0, 1]")
        if self.feature_batch < 1:
            problems.append("feature_batch must be >= 1")
        if self.n_clusters < 2:
            problems.append("n_clusters must be >= 2")
        if self.extra_clusters < 0:
            problems.append("extra_clusters must be >= 0")
        if self.predict_resolution < 16 or self.max_side < 16:
            problems.append("predict_resolution and max_side must be >= 16")
        if problems:
            raise ValueError("Invalid STEGO settings: " + "; ".join(problems))

    def _apply_preset(self) -> None:
        """Copy the preset's values into the fields still at their dataclass default, so an explicit
        ``--set lambda_self=...`` (or a form edit) wins over the preset. A value set explicitly to
        the default itself cannot be told apart from "not set" and is taken from the preset."""
        if not self.preset:
            return
        if self.preset not in PRESETS:
            raise ValueError(f"Invalid STEGO settings: unknown preset {self.preset!r}; "
                             f"known: {', '.join(sorted(PRESETS))}")
        defaults = {f.name: f.default for f in fields(self)}
        for name, value in PRESETS[self.preset].items():
            if getattr(self, name) == defaults[name]:
                object.__setattr__(self, name, value)

    @property
    def total_clusters(self) -> int:
        return self.n_clusters + self.extra_clusters

    def backbone_spec(self) -> BackboneSpec:
        """A path-like value (existing file/folder or checkpoint suffix) is a local checkpoint."""
        value = self.backbone
        path = Path(value).expanduser()
        if path.exists() or value.lower().endswith(_CHECKPOINT_SUFFIXES) or "/" in value or "\\" in value:
            return BackboneSpec(name=path.stem, checkpoint=str(path), seed=self.seed)
        return BackboneSpec(name=value, seed=self.seed)
