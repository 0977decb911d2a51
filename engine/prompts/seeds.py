"""Prompts → seed sets on the working grid (each click / scribble sample is one small pixel disk).

One disk = one constraint (its mean probability is pinned to 1 or 0) = one cached Green's function,
so the per-click cost does not grow with the disk's area. Scribbles are resampled to disks every
~1.5 radii along the polyline: dense enough to be a wall for the walker, few enough to solve fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .types import Prompts

#: Upper bound on disks per scribble (keeps a long scribble's first refinement well under a second).
MAX_SCRIBBLE_DISKS = 48


@dataclass(frozen=True)
class Seed:
    nodes: np.ndarray  # working-pixel ids (row-major), sorted, non-empty
    value: float  # 1.0 foreground, 0.0 background
    centre: tuple[float, float]  # full-resolution (x, y) for connectivity checks


def disk_nodes(cx: float, cy: float, radius: float, hw: tuple[int, int]) -> np.ndarray:
    """Working-pixel ids within ``radius`` of (cx, cy) (working coordinates); the nearest pixel at least."""
    h, w = hw
    r = max(radius, 0.5)
    x0, x1 = int(np.floor(cx - r)), int(np.ceil(cx + r))
    y0, y1 = int(np.floor(cy - r)), int(np.ceil(cy + r))
    ys, xs = np.mgrid[max(y0, 0):min(y1, h - 1) + 1, max(x0, 0):min(x1, w - 1) + 1]
    inside = (xs - cx) ** 2 + (ys - cy) ** 2 <= r * r
    ids = (ys[inside] * w + xs[inside]).astype(np.int64)
    if ids.size == 0:
        ids = np.array([int(np.clip(round(cy), 0, h - 1)) * w + int(np.clip(round(cx), 0, w - 1))])
    return np.sort(ids)


def resample_polyline(points: np.ndarray, spacing: float) -> np.ndarray:
    """Points every ``spacing`` along a polyline (k, 2), endpoints included."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 2:
        return pts
    seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    if arc[-1] <= 0:
        return pts[:1]
    n = max(2, int(np.ceil(arc[-1] / max(spacing, 1e-6))) + 1)
    t = np.linspace(0.0, arc[-1], n)
    return np.stack([np.interp(t, arc, pts[:, 0]), np.interp(t, arc, pts[:, 1])], axis=1)


def prompt_seeds(prompts: Prompts, image_hw: tuple[int, int], work_hw: tuple[int, int],
                 radius: float, grow=None) -> list[Seed]:
    """Seeds of all clicks and scribbles, in prompt order (positives first, then negatives).

    ``grow(nodes) -> nodes`` optionally enlarges each click disk (the geodesic ball of the context).
    """
    sx, sy = work_hw[1] / image_hw[1], work_hw[0] / image_hw[0]
    seeds: list[Seed] = []

    def add(x: float, y: float, value: float, r: float, click: bool = True) -> None:
        nodes = disk_nodes(x * sx, y * sy, r, work_hw)
        if grow is not None and click:
            nodes = grow(nodes)
        seeds.append(Seed(nodes, value, (x, y)))

    for value, clicks, scribbles in ((1.0, prompts.positive, prompts.positive_scribbles),
                                     (0.0, prompts.negative, prompts.negative_scribbles)):
        for x, y in clicks:
            add(x, y, value, radius)
        for line in scribbles:
            work_line = line * np.array([sx, sy])
            pts = resample_polyline(work_line, 1.5 * radius)
            if len(pts) > MAX_SCRIBBLE_DISKS:
                pts = pts[np.linspace(0, len(pts) - 1, MAX_SCRIBBLE_DISKS).round().astype(int)]
            for wx, wy in pts:
                add(wx / sx, wy / sy, value, radius, click=False)
    return seeds
