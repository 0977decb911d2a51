"""STEGO (Hamilton et al., ICLR 2022): unsupervised semantic segmentation by distilling frozen ViT
feature correspondences into a low-dimensional code, clustered by a cosine k-means probe."""

from __future__ import annotations

from ..base import MethodInfo, register_method
from .config import StegoConfig
from .evaluate import StegoScores, evaluate
from .predict import StegoCheckpointError, StegoPredictor, load_predictor
from .train import train

INFO = register_method(MethodInfo(
    name="stego",
    title="STEGO",
    config_type=StegoConfig,
    train=train,
    load_predictor=load_predictor,
    description="Unsupervised semantic segmentation: a small head over frozen DINO features is trained "
                "so its code correlations follow the feature correspondences (self, kNN and random "
                "image pairs); a cosine k-means probe turns the code into clusters.",
))

__all__ = ["INFO", "StegoConfig", "StegoCheckpointError", "StegoPredictor", "StegoScores", "evaluate",
           "load_predictor", "train"]
