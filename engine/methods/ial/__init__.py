"""IAL (Wang et al., IJCV 2020): weakly supervised semantic segmentation from image-level tags.

CAM seeds -> alternate a unary network and a pairwise affinity network whose random walk refines the
unary map, re-mining confident regions (SLIC) as the next round's labels. See ``train.py``.
"""

from __future__ import annotations

from ..base import MethodInfo, register_method
from .config import IalConfig
from .predict import IalPredictor, load_predictor
from .train import train

INFO = register_method(MethodInfo(
    name="ial",
    title="IAL",
    config_type=IalConfig,
    train=train,
    load_predictor=load_predictor,
    description="Iterative affinity learning: semantic masks for tagged classes from image-level tags "
                "(CAM seeds, unary + affinity networks, random walk, superpixel mining).",
    needs_tags=True,
))

__all__ = ["IalConfig", "IalPredictor", "INFO", "load_predictor", "train"]
