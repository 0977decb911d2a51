"""Deep Spectral Methods (Melas-Kyriazi et al., CVPR 2022) — training-free, from frozen ViT features.

Modules: ``affinity`` (graph), ``eigen`` (Laplacian eigenvectors), ``localization`` (box),
``single_object`` (CRF mask), ``semantic`` (segments + dataset clusters), ``matting`` (alpha),
``geometry`` (patch grid ↔ full-res pixels). ``engine.pipeline`` strings them together per image.
"""

from .affinity import feature_affinity, knn_color_affinity, spectral_affinity
from .eigen import laplacian_eigs, sign_fix
from .geometry import GridGeometry
from .localization import Localization, localize

__all__ = ["GridGeometry", "Localization", "feature_affinity", "knn_color_affinity", "laplacian_eigs",
           "localize", "sign_fix", "spectral_affinity"]
