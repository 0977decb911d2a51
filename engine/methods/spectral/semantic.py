"""Semantic segmentation, DSM style: per-image segments from eigenvectors, then dataset-wide clusters.

1. Per image, k-means on the rows of the non-trivial eigenvectors groups patches into ``n_segments``
   spectrally coherent segments; the segment touching the border most becomes id 0 (background
   heuristic of DSM), the others are numbered by decreasing size.
2. Each segment is described by the mean of its L2-normalised backbone features (the app's fast
   path), or, as DSM does (:data:`PAPER_PRESET`, :func:`segment_boxes` + :func:`crop_cls_features`),
   by the CLS token of one extra ViT pass over the segment's eroded-then-dilated bounding box.
3. All non-background segments of the dataset are clustered with cosine k-means; background segments
   keep cluster 0, matching DSM's "20 clusters + background" on VOC.
"""

from __future__ import annotations

from dataclasses import dataclass
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


# ----------------------------------------------------------------------------------------------
# The DSM paper's semantic-segmentation recipe (semantic-segmentation/README.md + extract.py)


@dataclass(frozen=True)
class SemanticPreset:
    """Settings of DSM's semantic segmentation run (VOC2012, ``dino_vits16``).

    ``extract_eigs --K 5``; ``extract_multi_region_segmentations --non_adaptive_num_segments 15``;
    ``extract_bboxes --num_erode 2 --num_dilate 5``; ``extract_bbox_features``: one ViT pass per box
    crop, its CLS token is the segment feature; ``extract_bbox_clusters``: k-means of the
    L2-normalised box features (no PCA, seed 0) into the foreground clusters, background = 0.
    """

    n_eigenvectors: int = 5
    n_segments: int = 15
    num_erode: int = 2
    num_dilate: int = 5
    segment_feature: str = "crop_cls"  # "crop_cls" (DSM) or "mean_tokens" (pooled tokens, no extra pass)
    n_foreground_clusters: int = 20
    seed: int = 0

    @property
    def n_clusters(self) -> int:
        """Total labels for :func:`cluster_segment_features`: foreground clusters + background (0)."""
        return self.n_foreground_clusters + 1


#: DSM's published recipe (``eval dsm-semantic --preset paper``).
PAPER_PRESET = SemanticPreset()


def erode_or_dilate(mask: np.ndarray, r: int, erode: bool) -> np.ndarray:
    """DSM ``erode_or_dilate_mask``: ``r`` steps of skimage's ``binary_erosion`` / ``binary_dilation``
    (cross footprint; erosion treats outside the image as set) — written with scipy, which skimage
    wraps, since skimage deprecates those functions; a step that would empty the mask is skipped."""
    from scipy import ndimage

    cross = ndimage.generate_binary_structure(2, 1)
    if erode:
        def fn(m):
            return ndimage.binary_erosion(m, structure=cross, border_value=1)
    else:
        def fn(m):
            return ndimage.binary_dilation(m, structure=cross)
    x = np.asarray(mask, bool)
    for _ in range(r):
        new = fn(x)
        if new.sum() > 0:
            x = new
    return x


def segment_boxes(labels: np.ndarray, patch_size: int, num_erode: int = 2, num_dilate: int = 5,
                  skip_background: bool = True) -> list[tuple[int, tuple[int, int, int, int]]]:
    """DSM ``_extract_bbox``: per segment id (0 = background, skipped), erode then dilate its patch
    mask and take the bounding box, end-exclusive, in pixels ``(x0, y0, x1, y1)`` = patch box × P."""
    out = []
    for seg in sorted(np.unique(labels).tolist()):
        if skip_background and seg == 0:
            continue
        m = erode_or_dilate(labels == seg, num_erode, erode=True)
        m = erode_or_dilate(m, num_dilate, erode=False)
        ys, xs = np.nonzero(m)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        out.append((int(seg), tuple(v * patch_size for v in box)))
    return out


def crop_cls_features(backbone, rgb: np.ndarray, boxes: Sequence[tuple[int, int, int, int]]) -> np.ndarray:
    """DSM ``extract_bbox_features``: the CLS token of one ViT pass per box crop of the normalised
    image (crops trimmed to the patch multiple, which DINO's strided patch embedding also drops).
    ``rgb`` uint8 (H, W, 3) as the boxes were measured on; returns (n_boxes, C) float32."""
    from ...backbone import IMAGENET_MEAN, IMAGENET_STD

    if not len(boxes):
        return np.zeros((0, backbone.embed_dim), np.float32)
    t = torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float().div_(255.0)
    t = (t - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)
    feats = []
    for x0, y0, x1, y1 in boxes:
        crop = backbone.crop_to_patch_multiple(t[:, y0:y1, x0:x1])
        if crop.shape[-1] == 0 or crop.shape[-2] == 0:
            raise ValueError(f"box {(x0, y0, x1, y1)} is smaller than one patch")
        feats.append(backbone(crop[None]).cls[0].cpu())
    return torch.stack(feats).numpy().astype(np.float32)
