"""The Prompt tool: clicks, a box and scribbles on the canvas become a mask preview; Enter commits it.

Left click = a point on the object, right click = a point off it, drag = a box, Shift+drag = a
scribble on the object (Ctrl+Shift+drag: off it). Every change submits one engine job on the
``prompt`` channel (latest request wins, so fast clicking never queues work) and the GUI thread only
draws the returned mask on the ``prompt`` layer. With one segment selected the prompts refine it (its
mask is the prior and the commit replaces it); otherwise the commit adds a new accepted segment.
After the first answer, each click refines the previous preview (it is the prior of the next solve).
A photo larger than its overlay (≤ 2048 px) is previewed at the overlay's size, ~8× less per-pixel
work per click on 24 MP; Enter then computes the same prompts at full resolution and stores that.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QPointF, Qt, Signal
from PySide6.QtWidgets import QComboBox

from engine.curation.prompting import PromptSessions, prepare_prompts, refine_prompts
from engine.prompts import Prompts

from .bridge import EngineBridge
from .segment_editor import SegmentEditor

SOURCE = "prompt"


class PromptTool(QObject):
    previewed = Signal(object)  # PromptDone drawn on the canvas

    def __init__(self, canvas, bridge: EngineBridge, editor: SegmentEditor, window):
        super().__init__(window)
        self.canvas, self.bridge, self.editor, self.window = canvas, bridge, editor, window
        self.layer = canvas.layer("prompt")
        canvas.prompt_tool = self
        canvas.modeChanged.connect(self._on_mode)
        self.sessions: PromptSessions | None = None
        self.class_combo = QComboBox()
        self.class_combo.setObjectName("promptClass")
        self.class_combo.setToolTip("Class given to the committed prompt mask")
        self.class_combo.addItem("(unlabelled)", None)
        self.image_id: int | None = None
        self.path: Path | None = None
        self.target: int | None = None
        self.prompts = Prompts()
        self.result = None  # PromptDone of the current prompts
        self._asked: dict = {}  # prior / previous / out_hw of the request ``result`` answers
        self.last_seconds: float | None = None
        self._scribble: list[tuple[float, float]] = []

    # -- state from the window -------------------------------------------------------------------

    def set_image(self, image_id: int, path: Path, _full_hw) -> None:
        self.reset()
        self.image_id, self.path = image_id, Path(path)
        if self.canvas.mode == "prompt":
            self._prepare()

    def set_target(self, segment_id: int | None) -> None:
        if segment_id != self.target:
            self.target = segment_id
            if not self.prompts.is_empty:
                self._request()

    def set_classes(self, classes) -> None:
        current = self.class_combo.currentData()
        self.class_combo.clear()
        self.class_combo.addItem("(unlabelled)", None)
        for c in classes:
            self.class_combo.addItem(c.name, c.id)
        self.class_combo.setCurrentIndex(max(self.class_combo.findData(current), 0))

    def hint(self) -> str:
        return ("Prompt: click the object, right-click what is not, drag a box, Shift+drag to scribble; "
                "Enter commits, Esc discards")

    def has_prompts(self) -> bool:
        return not self.prompts.is_empty

    def reset(self) -> None:
        """Discard the prompts and the preview (Esc, another image)."""
        self.prompts, self.result, self._scribble = Prompts(), None, []
        self.layer.clear()

    # -- input from the canvas -------------------------------------------------------------------

    def click(self, x: float, y: float, positive: bool) -> None:
        self.prompts = self.prompts.with_click(x, y, positive)
        self._request()

    def drag(self, start: QPointF, pos: QPointF, is_start: bool, is_finish: bool, modifiers) -> None:
        shift = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
        if shift:
            if is_start:
                self._scribble = [(start.x(), start.y())]
            self._scribble.append((pos.x(), pos.y()))
            self.layer.show_drag(path=np.asarray(self._scribble))
            if is_finish:
                negative = bool(modifiers & Qt.KeyboardModifier.ControlModifier)
                self.add_scribble(self._scribble, positive=not negative)
                self._scribble = []
            return
        box = (start.x(), start.y(), pos.x(), pos.y())
        self.layer.show_drag(box=box)
        if is_finish:
            self.set_box(box)

    def set_box(self, box) -> None:
        from dataclasses import replace

        x0, y0, x1, y1 = box
        self.layer.show_drag()
        self.prompts = replace(self.prompts, box=(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)))
        self._request()

    def add_scribble(self, points, positive: bool = True) -> None:
        from dataclasses import replace

        self.layer.show_drag()
        arr = np.asarray(points, np.float64).reshape(-1, 2)
        if positive:
            self.prompts = replace(self.prompts, positive_scribbles=self.prompts.positive_scribbles + (arr,))
        else:
            self.prompts = replace(self.prompts, negative_scribbles=self.prompts.negative_scribbles + (arr,))
        self._request()

    # -- engine ----------------------------------------------------------------------------------

    def _sessions(self) -> PromptSessions:
        if self.sessions is None or self.sessions.holder is not self.window.analysis.holder:
            self.sessions = PromptSessions(self.window.analysis.holder)
        return self.sessions

    def _on_mode(self, mode: str) -> None:
        if mode == "prompt":
            self._prepare()
        else:
            self.reset()

    def _prepare(self) -> None:
        """Build the image's graph while the user aims the first click."""
        if self.path is not None:
            self.bridge.submit(partial(prepare_prompts, sessions=self._sessions(), path=self.path,
                                       settings=self.window.settings), name="prepare prompts",
                               channel="prompt", priority=1)

    def _request(self):
        self.layer.show(self.prompts, self.result.mask if self.result is not None else None)
        if self.path is None or self.image_id is None or self.prompts.is_empty:
            return None
        prior = self.window.segments.masks.get(self.target) if self.target is not None else None
        previous = self.result.mask if self.result is not None and self.result.mask.any() else None
        shape, over = self.canvas.image_shape, self.canvas.overlay_shape
        asked = {"prior": prior, "previous": previous, "out_hw": over if over != shape else None}
        return self._submit(self.prompts, asked, partial(self._on_result, asked=asked))

    def _submit(self, prompts, asked: dict, on_result, channel: str | None = "prompt"):
        handle = self.bridge.submit(partial(refine_prompts, sessions=self._sessions(), image_id=self.image_id,
                                            path=self.path, prompts=prompts, settings=self.window.settings,
                                            **asked),
                                    name="refine prompt", channel=channel, priority=0)
        handle.result.connect(on_result)
        handle.error.connect(lambda msg, _tb: self.window.show_error("Prompt failed", msg))
        return handle

    def _on_result(self, done, asked: dict) -> None:
        if done.image_id != self.image_id or done.prompts is not self.prompts:
            return  # an older request (the user clicked again meanwhile)
        self.result, self._asked = done, asked
        self.last_seconds = done.seconds
        self.layer.show(self.prompts, done.mask)
        shape, area = self.canvas.image_shape, int(done.mask.sum())
        if shape is not None and done.mask.shape != shape:  # a preview: its area in the photo's pixels
            area = f"≈{round(area * shape[0] * shape[1] / done.mask.size)}"
        self.window.set_status(f"Prompt mask: {area} px, score {done.score:.2f}, "
                               f"{done.seconds * 1000:.0f} ms — Enter commits, Esc discards")
        self.previewed.emit(done)

    def commit(self) -> bool:
        """Store the previewed mask (one undo step); False when there is nothing to commit.

        A preview smaller than the photo is recomputed at full resolution (same prompts, same prior
        and previous mask: the same answer in full detail) and stored when that arrives. The tool
        is free at once, and that job is on no channel: a next click cannot cancel the commit."""
        if self.result is None or self.result.prompts is not self.prompts or not self.result.mask.any():
            return False
        target, class_id = self.target, self.class_combo.currentData()
        if self._asked.get("out_hw") is None:
            self._store(self.result, self.image_id, target, class_id)
        else:
            self.window.set_status("Prompt: storing the mask at full resolution…")
            self._submit(self.prompts, {**self._asked, "out_hw": None},
                         partial(self._store, image_id=self.image_id, target=target, class_id=class_id),
                         channel=None)
        self.reset()
        return True

    def _store(self, done, image_id: int, target: int | None, class_id: int | None) -> None:
        if done.image_id == image_id == self.image_id:  # dropped if the user moved to another image
            self.editor.commit_mask(done.mask, target, class_id, SOURCE, done.score)
