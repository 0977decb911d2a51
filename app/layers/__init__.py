"""Overlay layers: each is one file with a model (data + visibility/opacity/options), a view (the
graphics item that draws it) and optional controls, registered with :func:`register_layer`.

Why this split (napari's): the canvas, the Layers panel and the settings code iterate over the
registered layers instead of naming them, so a new overlay is one new module in this package.
"""

from __future__ import annotations

from engine.registry import Registry

from .base import Layer, LayerView

LAYER_TYPES: Registry[type[Layer]] = Registry("overlay layer", package=__name__)


def register_layer(cls: type[Layer]) -> type[Layer]:
    """Class decorator: make a :class:`Layer` subclass part of every canvas (keyed by ``cls.name``)."""
    return LAYER_TYPES.register(cls)


def create_layers() -> dict[str, Layer]:
    """One instance of every registered layer type, bottom to top."""
    return {cls.name: cls() for cls in sorted(LAYER_TYPES.values(), key=lambda c: c.z)}


__all__ = ["LAYER_TYPES", "Layer", "LayerView", "create_layers", "register_layer"]
