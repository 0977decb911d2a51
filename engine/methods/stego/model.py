"""STEGO's trainable parts: the segmentation head over frozen ViT features and the two probes.

The probes read the *detached* code, so they never shape the head: the cluster probe is a minibatch
spherical k-means trained by gradient (unsupervised output), the linear probe is an evaluation tool
that needs ground-truth labels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SegmentationHead(nn.Module):
    """``code = linear(drop(f)) + mlp(drop(f))``, all 1×1 convs; ``f`` is (B, C, h, w)."""

    def __init__(self, in_dim: int, dim: int = 70, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout2d(p=dropout)
        self.linear = nn.Conv2d(in_dim, dim, 1)
        self.nonlinear = nn.Sequential(nn.Conv2d(in_dim, in_dim, 1), nn.ReLU(), nn.Conv2d(in_dim, dim, 1))

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns (dropped-out features, code). STEGO feeds the dropped features to its loss."""
        # Two independent dropout draws, as the reference does for its two branches.
        code = self.linear(self.dropout(feats)) + self.nonlinear(self.dropout(feats))
        return self.dropout(feats), code


class ClusterProbe(nn.Module):
    """Cosine k-means by gradient: centroids pull towards the codes they win (hard assignment)."""

    def __init__(self, dim: int, n_clusters: int):
        super().__init__()
        self.clusters = nn.Parameter(torch.randn(n_clusters, dim))

    @property
    def n_clusters(self) -> int:
        return int(self.clusters.shape[0])

    def cosine(self, code: torch.Tensor) -> torch.Tensor:
        """(B, dim, h, w) → (B, K, h, w) cosine similarity to every centroid."""
        return torch.einsum("bchw,kc->bkhw", F.normalize(code, dim=1), F.normalize(self.clusters, dim=1))

    def forward(self, code: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, one-hot assignment). Loss = −mean over pixels of the winning cosine."""
        cos = self.cosine(code)
        assign = F.one_hot(cos.argmax(dim=1), self.n_clusters).permute(0, 3, 1, 2).to(cos.dtype)
        return -(assign * cos).sum(dim=1).mean(), assign

    def log_probs(self, code: torch.Tensor, alpha: float = 2.0) -> torch.Tensor:
        """``log_softmax(alpha · cos)`` – the soft cluster posterior STEGO's evaluation and CRF use."""
        return torch.log_softmax(alpha * self.cosine(code), dim=1)


class LinearProbe(nn.Module):
    """1×1 conv dim → classes, trained with cross-entropy on ground truth (evaluation only)."""

    def __init__(self, dim: int, n_classes: int):
        super().__init__()
        self.conv = nn.Conv2d(dim, n_classes, 1)

    @property
    def n_classes(self) -> int:
        return int(self.conv.out_channels)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.conv(code)


class StegoModel(nn.Module):
    """Head + probes in one module, so one ``state_dict`` is the whole checkpoint."""

    def __init__(self, in_dim: int, dim: int, dropout: float, n_clusters: int, n_classes: int = 0):
        super().__init__()
        self.head = SegmentationHead(in_dim, dim, dropout)
        self.cluster_probe = ClusterProbe(dim, n_clusters)
        self.linear_probe = LinearProbe(dim, n_classes) if n_classes > 0 else None

    @property
    def in_dim(self) -> int:
        return int(self.head.linear.in_channels)
