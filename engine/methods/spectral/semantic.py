"""Semantic segmentation, DSM style: per-image segments from eigenvectors, then dataset-wide clusters.

1. Per image, k-means on the rows of the non-trivial eigenvectors groups patches into ``n_segments``
   spectrally coherent segments; the segment touching the border most becomes id 0 (background
   heuristic of DSM), the others are numbered by decreasing size.
2. Each segment is described by the mean of its L2-normalised backbone features. (DSM runs one extra
   ViT forward per segment crop for its CLS token; pooling the features we already have avoids those
   forwards, a deliberate deviation.)
3. All non-background segments of the dataset are clustered with cosine k-means; background segments
   keep cluster 0, matching DSM's "20 clusters + background" on VOC.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...clustering import batched_kmeans, kmeans


def _border_counts(labels: np.ndarray, k: int) -> np.ndarray:
    border = np.concatenate([labels[0], labels[-1], labels[1:-1, 0], labels[1:-1, -1]])
    return np.bincount(border, minlength=k)


def order_segments(labels: np.ndarray, k: int) -> np.ndarray:
    """Relabel so 0 = most border cells (background), then by decreasing size. int32 (h, w)."""
    border = _border_counts(labels, k)
    sizes = np.bincount(labels.ravel(), minlength=k)
    bg = int(np.argmax(border))
    rest = sorted((c for c in range(k) if c != bg), key=lambda c: (-sizes[c], c))
    lut = np.empty(k, np.int32)
    for new, old in enumerate([bg, *rest]):
        lut[old] = new
    return lut[labels]


def segment_batch(vectors: torch.Tensor, grid_hw: tuple[int, int], n_segments: int, seed: int = 0
                  ) -> list[np.ndarray]:
    """k-means segments for B same-grid images at once: vectors (B, K, N) → B int32 (h, w) maps."""
    b, k_vec, n = vectors.shape
    if n != grid_hw[0] * grid_hw[1]:
        raise ValueError(f"{n} nodes do not fit grid {grid_hw}")
    pts = vectors[:, 1:] if k_vec > 1 else vectors
    k = max(1, min(n_segments, n))
    labels, _ = batched_kmeans(pts.transpose(1, 2).contiguous(), k, seed=seed)
    labels = labels.cpu().numpy().reshape(b, *grid_hw)
    return [order_segments(lab, k) for lab in labels]


def segment_features(features: np.ndarray, labels: np.ndarray, n_segments: int) -> np.ndarray:
    """(n_segments, C) float32 mean L2-normalised feature per segment; zero rows for empty segments."""
    f = F.normalize(torch.from_numpy(np.asarray(features, np.float32)).reshape(-1, features.shape[-1]), dim=-1)
    lab = torch.from_numpy(labels.reshape(-1).astype(np.int64))
    sums = torch.zeros(n_segments, f.shape[1]).index_add_(0, lab, f)
    counts = torch.bincount(lab, minlength=n_segments).clamp_min(1)[:, None]
    return (sums / counts).numpy().astype(np.float32)


def cluster_segment_features(per_image: Sequence[np.ndarray], per_image_valid: Sequence[np.ndarray],
                             n_clusters: int, seed: int = 0, separate_background: bool = True,
                             device: torch.device | str = "cpu") -> list[np.ndarray]:
    """Dataset-wide cluster id per segment (int64, −1 for invalid/empty segments).

    With ``separate_background`` segment 0 of every image gets cluster 0 and the other segments are
    clustered into ids 1..n_clusters−1; otherwise all segments share the n_clusters ids.
    """
    if n_clusters < (2 if separate_background else 1):
        raise ValueError(f"n_clusters={n_clusters} too small")
    out = [np.full(len(f), -1, np.int64) for f in per_image]
    rows, owners = [], []
    for i, (feats, valid) in enumerate(zip(per_image, per_image_valid)):
        for s in range(len(feats)):
            if not valid[s]:
                continue
            if separate_background and s == 0:
                out[i][0] = 0
            else:
                rows.append(feats[s])
                owners.append((i, s))
    if rows:
        k = n_clusters - 1 if separate_background else n_clusters
        x = torch.from_numpy(np.stack(rows).astype(np.float32)).to(device)
        labels, _ = kmeans(x, k, seed=seed, cosine=True)
        offset = 1 if separate_background else 0
        for (i, s), c in zip(owners, labels.cpu().tolist()):
            out[i][s] = c + offset
    return out
