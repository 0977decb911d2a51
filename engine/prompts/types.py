"""Prompt and result types of prompted refinement (click / box / scribble → mask).

Coordinates are image pixels at full resolution, ``(x, y)`` like every GUI event, so the app can pass
what the user clicked without knowing the working resolution the solver uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 (inclusive pixel bounds)


def _points(values) -> tuple[Point, ...]:
    return tuple((float(x), float(y)) for x, y in values)


def _scribbles(values) -> tuple[np.ndarray, ...]:
    out = []
    for s in values:
        a = np.asarray(s, dtype=np.float64).reshape(-1, 2)
        a.setflags(write=False)  # frozen prompts must not change under a cached solve
        out.append(a)
    return tuple(out)


@dataclass(frozen=True)
class Prompts:
    """Everything the user said about one object.

    ``positive``/``negative`` are clicks; a ``box`` restricts the object to its inside (its outside is
    background); scribbles are polylines of (x, y) points (one (k, 2) array each). Inputs are
    normalised to tuples of float pairs / read-only arrays so a ``Prompts`` can be shared between
    threads and compared.
    """

    positive: tuple[Point, ...] = ()
    negative: tuple[Point, ...] = ()
    box: Box | None = None
    positive_scribbles: tuple[np.ndarray, ...] = field(default=(), compare=False)
    negative_scribbles: tuple[np.ndarray, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positive", _points(self.positive))
        object.__setattr__(self, "negative", _points(self.negative))
        object.__setattr__(self, "positive_scribbles", _scribbles(self.positive_scribbles))
        object.__setattr__(self, "negative_scribbles", _scribbles(self.negative_scribbles))
        if self.box is not None:
            x0, y0, x1, y1 = (float(v) for v in self.box)
            if x1 < x0 or y1 < y0:
                raise ValueError(f"box must be (x0, y0, x1, y1) with x0 <= x1, y0 <= y1, got {self.box}")
            object.__setattr__(self, "box", (x0, y0, x1, y1))

    @property
    def has_positive(self) -> bool:
        return bool(self.positive) or bool(self.positive_scribbles)

    @property
    def is_empty(self) -> bool:
        return not (self.positive or self.negative or self.box is not None or self.positive_scribbles
                    or self.negative_scribbles)

    def with_click(self, x: float, y: float, positive: bool) -> "Prompts":
        """A copy with one more click (the GUI and the click simulator add clicks one by one)."""
        from dataclasses import replace

        if positive:
            return replace(self, positive=self.positive + ((x, y),))
        return replace(self, negative=self.negative + ((x, y),))


@dataclass(frozen=True)
class RefineResult:
    """``mask`` bool (H, W) at full resolution (or the ``out_hw`` asked of ``refine``); ``score`` in [0, 1] = mean solver confidence on the
    object (low when it shares colours with its surroundings, a hint to add a click)."""

    mask: np.ndarray
    score: float
