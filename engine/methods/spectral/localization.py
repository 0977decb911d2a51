"""Single-object localisation (DSM ``--eigenseg``): Fiedler vector → largest component → box.

The positive side of the sign-fixed Fiedler vector is the foreground candidate. As in DSM, a side that
covers more than half the grid is inverted, an empty one yields the whole image, and only the largest
8-connected component counts, so one confident blob is boxed rather than everything foreground-ish.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .geometry import GridGeometry

_EIGHT = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class Localization:
    component: np.ndarray  # bool (h, w): the boxed component on the patch grid
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 full-res pixels, end-exclusive


def largest_component(mask: np.ndarray) -> np.ndarray:
    """Largest 8-connected component of a bool grid (the first one on ties); empty stays empty."""
    labels, n = ndimage.label(mask, structure=_EIGHT)
    if n == 0:
        return np.zeros_like(mask, dtype=bool)
    sizes = np.bincount(labels.ravel())[1:]
    return labels == (1 + int(np.argmax(sizes)))


def foreground_side(vector: np.ndarray) -> np.ndarray:
    """``vector > 0`` with DSM's guard: inverted when it covers more than half of the grid."""
    mask = np.asarray(vector) > 0
    return ~mask if mask.mean() > 0.5 else mask


def localize(fiedler: np.ndarray, geometry: GridGeometry) -> Localization:
    """Box around the largest positive component of ``fiedler`` (h, w) in full-res pixels."""
    if fiedler.shape != tuple(geometry.grid_hw):
        raise ValueError(f"Fiedler grid {fiedler.shape} does not match geometry {geometry.grid_hw}")
    component = largest_component(foreground_side(fiedler))
    if not component.any():
        h, w = geometry.image_hw
        return Localization(np.ones_like(component), (0, 0, w, h))
    rows = np.nonzero(component.any(axis=1))[0]
    cols = np.nonzero(component.any(axis=0))[0]
    return Localization(component, geometry.cell_box(rows[0], cols[0], rows[-1], cols[-1]))
