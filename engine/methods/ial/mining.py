"""Confident-region mining: which refined labels are trusted as supervision for the next round.

IAL learns only from regions it is confident about. SLIC superpixels snap those regions to colour
edges: each superpixel takes the majority refined label, and is kept only if that label wins a large
enough share of its pixels *and* its mean refined probability there is high enough. Everything else
becomes ignore (255). All per-superpixel statistics are ``np.bincount`` reductions (no pixel loops).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.segmentation import slic

IGNORE = 255


@dataclass(frozen=True)
class MinedRegions:
    """New seed labels (S, S) uint8 and how many superpixels survived."""

    labels: np.ndarray
    n_superpixels: int
    n_kept: int


def superpixels(rgb: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    """SLIC label map (H, W) int64 starting at 0."""
    return np.asarray(slic(rgb, n_segments=n_segments, compactness=compactness, start_label=0,
                           channel_axis=-1), dtype=np.int64)


def mine_regions(segments: np.ndarray, probs: np.ndarray, vote_threshold: float,
                 confidence_threshold: float) -> MinedRegions:
    """Superpixel majority vote over ``probs`` (L, H, W) refined label probabilities.

    A superpixel is kept when (pixels with its majority label) / (its pixels) >= ``vote_threshold``
    and the mean probability of that label over those pixels >= ``confidence_threshold``.
    """
    n_labels = probs.shape[0]
    if segments.shape != probs.shape[1:]:
        raise ValueError(f"superpixels {segments.shape} and probabilities {probs.shape[1:]} differ in size")
    label = probs.argmax(axis=0).ravel()
    conf = probs.max(axis=0).ravel()
    seg = segments.ravel()
    n_seg = int(seg.max()) + 1
    flat = seg * n_labels + label
    counts = np.bincount(flat, minlength=n_seg * n_labels).reshape(n_seg, n_labels)
    conf_sum = np.bincount(flat, weights=conf, minlength=n_seg * n_labels).reshape(n_seg, n_labels)
    sizes = counts.sum(axis=1)
    major = counts.argmax(axis=1)
    major_count = counts[np.arange(n_seg), major]
    with np.errstate(invalid="ignore", divide="ignore"):
        vote = np.where(sizes > 0, major_count / sizes, 0.0)
        mean_conf = np.where(major_count > 0, conf_sum[np.arange(n_seg), major] / major_count, 0.0)
    keep = (sizes > 0) & (vote >= vote_threshold) & (mean_conf >= confidence_threshold)
    lut = np.where(keep, major, IGNORE).astype(np.uint8)
    return MinedRegions(lut[segments], int((sizes > 0).sum()), int(keep.sum()))


def mine_confident(rgb: np.ndarray, probs: np.ndarray, n_segments: int, compactness: float,
                   vote_threshold: float, confidence_threshold: float) -> MinedRegions:
    """SLIC on ``rgb`` (S, S, 3) then :func:`mine_regions` on the refined ``probs`` (L, S, S)."""
    return mine_regions(superpixels(rgb, n_segments, compactness), probs, vote_threshold, confidence_threshold)
