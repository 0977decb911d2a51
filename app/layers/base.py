"""The layer contract: a model (:class:`Layer`) the rest of the app talks to, and a view
(:class:`LayerView`) that draws it on the canvas and redraws whenever the model says it changed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from ..canvas import ImageCanvas


class Layer(QObject):
    """One overlay's data and display state. Subclasses set the class attributes, hold their data,
    and implement :meth:`create_view` (and :meth:`create_controls` for options beyond visibility and
    opacity, generated into the Layers panel)."""

    changed = Signal()  # data or display state changed: the view redraws, the controls resync

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    z: ClassVar[float] = 0.0  # stacking order above the photo (z = 0)
    default_visible: ClassVar[bool] = True
    default_opacity: ClassVar[float | None] = 1.0  # None: no opacity slider

    def __init__(self) -> None:
        super().__init__()
        self.visible = self.default_visible
        self.opacity = 1.0 if self.default_opacity is None else self.default_opacity

    # -- display state -------------------------------------------------------------------------

    def set_visible(self, visible: bool) -> None:
        if bool(visible) != self.visible:
            self.visible = bool(visible)
            self.changed.emit()

    def set_opacity(self, opacity: float) -> None:
        opacity = float(min(max(opacity, 0.0), 1.0))
        if opacity != self.opacity:
            self.opacity = opacity
            self.changed.emit()

    def state(self) -> dict[str, Any]:
        """What the project remembers between sessions (JSON-able)."""
        return {"visible": self.visible, "opacity": self.opacity}

    def restore(self, state: dict[str, Any]) -> None:
        self.visible = bool(state.get("visible", self.visible))
        self.opacity = float(min(max(float(state.get("opacity", self.opacity)), 0.0), 1.0))
        self.changed.emit()

    # -- data ----------------------------------------------------------------------------------

    def has_data(self) -> bool:
        return False

    def clear(self) -> None:
        """Forget the data (a new photo is shown); display state stays."""

    def set_overlays(self, overlays) -> None:
        """Take this layer's data from an image's analysis overlays (None: the image has none yet).
        Layers fed from elsewhere (segments from the store, the prompt preview) ignore it."""

    # -- view / controls -----------------------------------------------------------------------

    def create_view(self, canvas: "ImageCanvas") -> "LayerView":
        raise NotImplementedError

    def create_controls(self, parent: QWidget | None = None) -> QWidget | None:
        return None


class LayerView:
    """Draws one layer on the canvas; refreshes on the model's ``changed`` and on a new photo."""

    def __init__(self, layer: Layer, canvas: "ImageCanvas"):
        self.layer, self.canvas = layer, canvas
        layer.changed.connect(self.refresh)
        canvas.imageChanged.connect(self.refresh)

    def refresh(self) -> None:
        raise NotImplementedError


def stack_items(canvas: "ImageCanvas", z: float, items) -> None:
    """Add a view's graphics ``items`` to the canvas, stacked in the given order just above ``z``."""
    for i, item in enumerate(items):
        item.setZValue(z + 0.01 * i)
        canvas.view.addItem(item)
