"""Automatic class colours: well-separated hues so neighbouring classes never look alike."""

from __future__ import annotations

import colorsys

_GOLDEN = 0.618033988749895


def auto_color(index: int) -> tuple[int, int, int]:
    """Colour number ``index`` (0, 1, 2 ...): golden-ratio hue steps, saturated and fairly bright."""
    hue = (0.05 + index * _GOLDEN) % 1.0
    sat = 0.75 if index % 2 == 0 else 0.55
    val = 0.95 if (index // 2) % 2 == 0 else 0.8
    r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
    return (round(r * 255), round(g * 255), round(b * 255))
