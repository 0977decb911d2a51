"""Deep Spectral Methods (Melas-Kyriazi et al., CVPR 2022) — training-free, from frozen ViT features.

Modules: ``affinity`` (graph), ``eigen`` (Laplacian eigenvectors), ``localization`` (box),
``single_object`` (CRF mask), ``semantic`` (segments + dataset clusters), ``matting`` (alpha),
``geometry`` (patch grid ↔ full-res pixels). ``engine.pipeline`` strings them together per image.
"""

from ..base import MethodInfo, register_method
from .affinity import feature_affinity, knn_color_affinity, spectral_affinity
from .eigen import laplacian_eigs, sign_fix
from .geometry import GridGeometry
from .localization import Localization, localize

#: Proposal sources the analysis writes: the object mask, per-image segments, dataset-wide clusters.
SOURCE_OBJECT = "dsm.object"
SOURCE_SEGMENT = "dsm.segment"
SOURCE_SEMANTIC = "dsm.semantic"

INFO = register_method(MethodInfo(
    name="dsm",
    title="Deep Spectral Methods",
    description="Training-free: eigenvectors of the ViT feature Laplacian give a localization box, a CRF "
                "object mask, per-image segments, dataset-wide clusters and a matting alpha.",
    sources=(SOURCE_OBJECT, SOURCE_SEGMENT, SOURCE_SEMANTIC),
))

__all__ = ["INFO", "SOURCE_OBJECT", "SOURCE_SEGMENT", "SOURCE_SEMANTIC", "GridGeometry", "Localization",
           "feature_affinity", "knn_color_affinity", "laplacian_eigs", "localize", "sign_fix", "spectral_affinity"]
