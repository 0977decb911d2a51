"""Masks <-> editable polygons, for polygon editing in the app and the labelme / YOLO formats.

Why one module: the app's polygon editor, the labelme and YOLO exporters and the labelme importer
must agree on one coordinate convention, or a polygon drawn in one shifts by half a pixel in another.
The convention is COCO's: coordinates are *pixel edges* (pixel (r, c) spans x in [c, c+1], y in
[r, r+1]; a mask of width W spans x in [0, W]), and polygons are rasterised with pycocotools, as
``annToMask`` does. Contours are traced by :func:`engine.export.polygons.mask_to_polygons` (the COCO
exporter's tracer, reused rather than duplicated) and simplified here with Douglas-Peucker.

Polygons are outer contours only: holes are lost (as in COCO / labelme / YOLO polygons).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from engine.export.polygons import mask_to_polygons as _trace_outer_contours

__all__ = ["EXPORT_MIN_IOU", "EXPORT_TOLERANCE", "mask_to_polygons", "polygon_area", "polygons_to_mask"]


def mask_to_polygons(mask: np.ndarray, tolerance: float = 1.0, *, min_iou: float | None = None) -> list[np.ndarray]:
    """Outer contours of ``mask`` as float (N, 2) arrays of (x, y) vertices in pixel-edge coordinates.

    ``tolerance``: Douglas-Peucker distance in pixels (0 = the exact traced outline, which follows
    every pixel corner and re-rasterises to the mask up to its holes). A fixed tolerance costs small
    objects more IoU than large ones (1 px on a 10x10 object is 20 %), so with ``min_iou`` the
    tolerance is halved (down to 0) until :func:`polygons_to_mask` of the result reaches that IoU
    with the mask (or the tolerance is 0): what an editor wants (few vertices, still faithful). Contours that
    simplify to fewer than 3 vertices are dropped; an empty mask gives []. Largest polygon first.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    traced = [np.asarray(flat, dtype=np.float64).reshape(-1, 2) for flat in _trace_outer_contours(mask)]
    out = _simplify(traced, tolerance)
    if min_iou is not None and tolerance > 0:
        target = np.asarray(mask, dtype=bool)
        while tolerance > 0 and _iou(polygons_to_mask(out, target.shape), target) < min_iou:
            tolerance = tolerance / 2 if tolerance > 0.125 else 0.0
            out = _simplify(traced, tolerance)
    out.sort(key=lambda p: -abs(polygon_area(p)))
    return out


def _simplify(traced: list[np.ndarray], tolerance: float) -> list[np.ndarray]:
    out = []
    for pts in traced:
        if tolerance > 0 and len(pts) > 3:
            simplified = cv2.approxPolyDP(pts.astype(np.float32).reshape(-1, 1, 2), float(tolerance), True)
            pts = simplified.reshape(-1, 2).astype(np.float64)
        if len(pts) >= 3:
            out.append(pts)
    return out


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def polygons_to_mask(polygons: Sequence[np.ndarray | Sequence[float]], hw: tuple[int, int]) -> np.ndarray:
    """Rasterise polygons (each (N, 2) or flat ``[x1, y1, x2, y2, ...]``, pixel-edge coordinates) into
    one bool (H, W) mask: their union, as pycocotools does for a COCO polygon annotation. Polygons
    with fewer than 3 vertices are ignored; vertices outside the image are clipped by the rasteriser.
    """
    h, w = int(hw[0]), int(hw[1])
    if h <= 0 or w <= 0:
        raise ValueError(f"mask size must be positive, got {hw}")
    flat = []
    for p in polygons:
        arr = np.asarray(p, dtype=np.float64).reshape(-1)
        if arr.size % 2 or arr.size < 6 or not np.all(np.isfinite(arr)):
            continue
        flat.append(arr.tolist())
    if not flat:
        return np.zeros((h, w), dtype=bool)
    rle = mask_utils.merge(mask_utils.frPyObjects(flat, h, w))
    return np.ascontiguousarray(mask_utils.decode(rle), dtype=bool)


def polygon_area(points: np.ndarray) -> float:
    """Signed shoelace area of an (N, 2) polygon (pixels squared)."""
    x, y = points[:, 0], points[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


#: What the labelme / YOLO exporters use: at most 1 px off, lowered for objects it would distort.
EXPORT_TOLERANCE = 1.0
EXPORT_MIN_IOU = 0.95
