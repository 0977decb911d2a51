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
                 parent: QObject | None = None, clear_selection: Callable[[], None] | None = None,
                 polygon=None):
        super().__init__(parent)
        self.canvas, self.prompt, self.layers_panel, self.actions = canvas, prompt, layers_panel, actions
        self.accept_image, self.clear_selection = accept_image, clear_selection
        self.polygon = polygon  # Polygon / Box tools (app.polygon_tool)
        self._reject_keys = None
        canvas.modeChanged.connect(self._on_mode_changed)

    def toggle(self, mode: str, on: bool) -> None:
        if on:
            self.canvas.set_mode(mode)
        elif self.canvas.mode == mode:
            self.canvas.set_mode("view")

    def _on_mode_changed(self, mode: str) -> None:
        for key in ("brush", "erase", "prompt", "polygon", "box"):
            act = self.actions.get(key)
            if act is None:
                continue
            act.blockSignals(True)
            act.setChecked(mode == key)
            act.blockSignals(False)
        self._route_delete_keys(mode)
        if mode in ("polygon", "box") and self.polygon is not None:
            self.status.emit(self.polygon.hint(mode))
            return
        self.status.emit(self.prompt.hint() if mode == "prompt" else HINTS[mode])

    def bump_radius(self, factor: float) -> None:
        self.canvas.set_brush_radius(max(1.0, round(self.canvas.brush_radius * factor)))
        self.layers_panel.sync_brush()

    def enter(self) -> None:
        """Enter commits a prompt mask in prompt mode (closes a polygon, ends a polygon edit in the
        Polygon tool); otherwise it accepts the image."""
        if self.canvas.mode in ("polygon", "box") and self.polygon is not None and self.polygon.enter():
            return
        if not (self.canvas.mode == "prompt" and self.prompt.commit()):
            self.accept_image()

    def escape(self) -> None:
        """Esc discards the prompts first, then returns to select / pan; in select / pan it clears the
        selection (so the brush paints a new segment and Y / X act on nothing)."""
        if self.canvas.mode in ("polygon", "box") and self.polygon is not None and self.polygon.escape():
            return
        if self.canvas.mode == "prompt" and self.prompt.has_prompts():
            self.prompt.reset()
        elif self.canvas.mode != "view":
            self.canvas.set_mode("view")
        elif self.clear_selection is not None:
            self.clear_selection()

    def delete_vertex(self) -> None:
        """Backspace / Delete in the Polygon tool: the last vertex while drawing, the one under the mouse
        while editing; never the image (Reject image stays in the toolbar and the Review menu)."""
        if self.polygon is not None and not self.polygon.delete():
            self.status.emit("Nothing to delete: Backspace / Delete edit polygon vertices in this tool")

    def _route_delete_keys(self, mode: str) -> None:
        """Backspace / Delete belong to the Polygon tool while it is active, to Reject image otherwise."""
        reject, vertex = self.actions.get("reject_image"), self.actions.get("delete_vertex")
        if reject is None or vertex is None:
            return
        if self._reject_keys is None:
            self._reject_keys = reject.shortcuts()
        on = mode == "polygon"
        reject.setShortcuts([] if on else self._reject_keys)
        vertex.setShortcuts(self._reject_keys if on else [])
