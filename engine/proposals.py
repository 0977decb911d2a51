"""The one result type every method hands to the store and the app: a mask proposal."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Proposal:
    """A candidate segment at full (post-EXIF) image resolution.

    ``source`` names the method and task that proposed it (``"dsm.object"``, ``"dsm.semantic"``,
    ``"stego"``, ``"redo"``, ``"ial"`` ...); the store keeps proposals of different sources apart so
    re-running one method never clobbers what another proposed or what the user accepted.
    """

    mask: np.ndarray  # bool (H, W)
    source: str
    label: int | None = None  # cluster / class index within the source
    score: float = 1.0
    name: str = ""  # human-readable, e.g. "cluster 3", "horse"
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if self.mask.ndim != 2:
            raise ValueError(f"proposal mask must be 2-D, got shape {self.mask.shape}")
        if self.mask.dtype != bool:
            object.__setattr__(self, "mask", self.mask.astype(bool))

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    @property
    def bbox(self) -> tuple[int, int, int, int]:
        """Tight (x, y, w, h) box; (0, 0, 0, 0) for an empty mask."""
        ys, xs = np.nonzero(self.mask)
        if len(xs) == 0:
            return (0, 0, 0, 0)
        return (int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1))
