"""ReDO (Chen, Artières, Denoyer, NeurIPS 2019): unsupervised object segmentation by redrawing.

A mask network splits each image into K regions; one generator per region redraws it from noise
and a discriminator judges the composite, so only masks that follow object boundaries let the
redrawings look real. Registered here as a trainable method (see ``engine.methods.base``).
"""

from __future__ import annotations

from ..base import MethodInfo, register_method
from .config import RedoConfig
from .predict import RedoPredictor, load_predictor
from .train import train

INFO = register_method(MethodInfo(
    name="redo",
    title="ReDO",
    config_type=RedoConfig,
    train=train,
    load_predictor=load_predictor,
    description="Unsupervised object segmentation by redrawing (GAN); for object-centric image sets. "
                "Unstable: collapsed runs restart automatically.",
))

__all__ = ["INFO", "RedoConfig", "RedoPredictor", "load_predictor", "train"]
