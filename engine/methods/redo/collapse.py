"""Mask-collapse detection: ReDO's known failure (one region takes the whole image, ~35% of runs)."""

from __future__ import annotations

from typing import Sequence


class CollapseMonitor:
    """Counts consecutive checks at which some region's mean hard area is outside [min, max].

    ``update`` returns True once ``patience`` consecutive checks were collapsed, i.e. when training
    should restart from scratch with a new seed.
    """

    def __init__(self, min_area: float, max_area: float, patience: int):
        self.min_area, self.max_area, self.patience = min_area, max_area, patience
        self.streak = 0

    @staticmethod
    def is_collapsed(areas: Sequence[float], min_area: float, max_area: float) -> bool:
        return min(areas) < min_area or max(areas) > max_area

    def update(self, areas: Sequence[float]) -> bool:
        if self.is_collapsed(areas, self.min_area, self.max_area):
            self.streak += 1
        else:
            self.streak = 0
        return self.streak >= self.patience
