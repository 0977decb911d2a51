"""The canvas tools as the keyboard and toolbar see them: one checkable action per tool kept in step
with the canvas mode, brush size keys, and what Enter / Esc mean while a tool is active."""

from __future__ import annotations

from typing import Callable

from PySide6.QtCore import QObject, Signal

HINTS = {"brush": "Brush: drag to paint into the selected segment (none selected → new segment)",
         "erase": "Erase: drag to remove pixels from the selected segment", "view": "Select / pan"}


class ToolModes(QObject):
    status = Signal(str)

    def __init__(self, canvas, prompt, layers_panel, actions: dict, accept_image: Callable[[], None],
                 parent: QObject | None = None, clear_selection: Callable[[], None] | None = None):
        super().__init__(parent)
        self.canvas, self.prompt, self.layers_panel, self.actions = canvas, prompt, layers_panel, actions
        self.accept_image, self.clear_selection = accept_image, clear_selection
        canvas.modeChanged.connect(self._on_mode_changed)

    def toggle(self, mode: str, on: bool) -> None:
        if on:
            self.canvas.set_mode(mode)
        elif self.canvas.mode == mode:
            self.canvas.set_mode("view")

    def _on_mode_changed(self, mode: str) -> None:
        for key in ("brush", "erase", "prompt"):
            act = self.actions[key]
            act.blockSignals(True)
            act.setChecked(mode == key)
            act.blockSignals(False)
        self.status.emit(self.prompt.hint() if mode == "prompt" else HINTS[mode])

    def bump_radius(self, factor: float) -> None:
        self.canvas.set_brush_radius(max(1.0, round(self.canvas.brush_radius * factor)))
        self.layers_panel.sync_brush()

    def enter(self) -> None:
        """Enter commits a prompt mask in prompt mode; otherwise it accepts the image."""
        if not (self.canvas.mode == "prompt" and self.prompt.commit()):
            self.accept_image()

    def escape(self) -> None:
        """Esc discards the prompts first, then returns to select / pan; in select / pan it clears the
        selection (so the brush paints a new segment and Y / X act on nothing)."""
        if self.canvas.mode == "prompt" and self.prompt.has_prompts():
            self.prompt.reset()
        elif self.canvas.mode != "view":
            self.canvas.set_mode("view")
        elif self.clear_selection is not None:
            self.clear_selection()
