"""Mapping between a ViT patch grid and the full-resolution image.

Features are computed on the image resized to ``max_side`` and *cropped* to a patch multiple, so a
patch cell covers ``patch / scale`` full-resolution pixels and the last row/column of cells also owns
the few cropped-off pixels at the bottom/right. Every full-res mask, box and alpha of DSM goes through
this one mapping, so boxes always equal the extent of the upsampled masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def resized_hw(image_hw: tuple[int, int], max_side: int | None) -> tuple[int, int]:
    """Size after :func:`engine.imageio.resize_max_side` (same rounding), before the patch crop."""
    h, w = image_hw
    if not max_side or max_side / max(h, w) >= 1.0:
        return h, w
    scale = max_side / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


@dataclass(frozen=True)
class GridGeometry:
    """A (h, w) grid laid over an (H, W) image; ``cell_hw`` = full-res pixels per cell (y, x)."""

    image_hw: tuple[int, int]
    grid_hw: tuple[int, int]
    cell_hw: tuple[float, float]

    @staticmethod
    def for_patches(image_hw: tuple[int, int], grid_hw: tuple[int, int], patch_size: int,
                    max_side: int | None) -> "GridGeometry":
        rh, rw = resized_hw(image_hw, max_side)
        return GridGeometry(tuple(image_hw), tuple(grid_hw),
                            (patch_size * image_hw[0] / rh, patch_size * image_hw[1] / rw))

    @staticmethod
    def stretched(image_hw: tuple[int, int], grid_hw: tuple[int, int]) -> "GridGeometry":
        """Grid spread evenly over the whole image (used when the patch geometry is unknown)."""
        return GridGeometry(tuple(image_hw), tuple(grid_hw),
                            (image_hw[0] / grid_hw[0], image_hw[1] / grid_hw[1]))

    def refined(self, factor: int) -> "GridGeometry":
        """Each cell split into ``factor`` × ``factor`` sub-cells (the matting grid)."""
        return GridGeometry(self.image_hw, (self.grid_hw[0] * factor, self.grid_hw[1] * factor),
                            (self.cell_hw[0] / factor, self.cell_hw[1] / factor))

    def _index(self, axis: int) -> np.ndarray:
        n_pix, n_cells, cell = self.image_hw[axis], self.grid_hw[axis], self.cell_hw[axis]
        return np.minimum((np.arange(n_pix) / cell).astype(np.int64), n_cells - 1)

    def upsample_nearest(self, grid: np.ndarray) -> np.ndarray:
        """(h, w[, C]) grid values → (H, W[, C]) by cell lookup (labels, masks)."""
        if tuple(grid.shape[:2]) != tuple(self.grid_hw):
            raise ValueError(f"grid of shape {grid.shape[:2]} does not match {self.grid_hw}")
        # two 1-D gathers (rows, then columns): 5x faster than one 2-D fancy index, same values
        return np.take(np.take(grid, self._index(0), axis=0), self._index(1), axis=1)

    def upsample_linear(self, grid: np.ndarray) -> np.ndarray:
        """(h, w) float grid → (H, W) float32, bilinear between cell centres (soft maps, alphas)."""
        import cv2

        h, w = self.grid_hw
        if tuple(grid.shape) != (h, w):
            raise ValueError(f"grid of shape {grid.shape} does not match {self.grid_hw}")
        ys = np.clip((np.arange(self.image_hw[0]) + 0.5) / self.cell_hw[0] - 0.5, 0, h - 1).astype(np.float32)
        xs = np.clip((np.arange(self.image_hw[1]) + 0.5) / self.cell_hw[1] - 0.5, 0, w - 1).astype(np.float32)
        src = np.ascontiguousarray(grid, np.float32)
        out = np.empty(self.image_hw, np.float32)
        # in row strips: the two float32 maps would be 2 × 576 MB for a 12000² image
        rows = max(1, (1 << 22) // max(1, self.image_hw[1]))
        for y0 in range(0, self.image_hw[0], rows):
            y1 = min(self.image_hw[0], y0 + rows)
            map_x = np.broadcast_to(xs[None, :], (y1 - y0, len(xs)))
            map_y = np.broadcast_to(ys[y0:y1, None], (y1 - y0, len(xs)))
            out[y0:y1] = cv2.remap(src, np.ascontiguousarray(map_x), np.ascontiguousarray(map_y),
                                   cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out

    def cell_box(self, r0: int, c0: int, r1: int, c1: int) -> tuple[int, int, int, int]:
        """Full-res box (x0, y0, x1, y1), end-exclusive, of the cells rows r0..r1, cols c0..c1 inclusive.

        Matches :meth:`upsample_nearest` exactly: the box is the extent of those cells' pixels.
        """
        iy, ix = self._index(0), self._index(1)
        rows = np.nonzero((iy >= r0) & (iy <= r1))[0]
        cols = np.nonzero((ix >= c0) & (ix <= c1))[0]
        if len(rows) == 0 or len(cols) == 0:  # cells beyond a tiny padded image
            return (0, 0, self.image_hw[1], self.image_hw[0])
        return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1
