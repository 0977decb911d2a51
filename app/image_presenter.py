"""What the window shows of the current image: the photo (decoded off the GUI thread), its analysis
overlays, its segments in the panel and on the canvas, and the selection that the brush and the
Prompt tool act on. Navigation (next / previous / next to-do) changes the current image here.

Why separate from the window: showing an image touches nine widgets in a fixed order (placeholder,
canvas, layers, segment panel, prompt tool …); keeping that order in one small class is what lets the
window stay an assembly of parts.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

from PySide6.QtCore import QObject, Signal

from .current_segments import CurrentSegments, status_str
from .image_loader import DisplayImage, ImageLoader

log = logging.getLogger(__name__)


class ImagePresenter(QObject):
    imageShown = Signal(int)  # current image changed (its photo may still be decoding)
    imageDisplayed = Signal(int)  # its photo is on the canvas
    analysisApplied = Signal(int)  # its overlays were just drawn
    firstLookApplied = Signal(int)  # its first result (before CRF / matting / proposals) was just drawn
    status = Signal(str)

    def __init__(self, *, store: Callable[[], object], canvas, stack, placeholder, image_label, filmstrip,
                 tags_panel, segment_panel, analysis, prompt, parent: QObject | None = None):
        super().__init__(parent)
        self._store = store
        self.canvas, self.stack, self.placeholder, self.image_label = canvas, stack, placeholder, image_label
        self.filmstrip, self.tags_panel, self.segment_panel = filmstrip, tags_panel, segment_panel
        self.analysis, self.prompt = analysis, prompt
        self.segments = CurrentSegments(self)
        self.loader = ImageLoader(parent=self)  # photo decoding off the GUI thread, small LRU
        self.current_id: int | None = None
        self.displayed_id: int | None = None  # image whose photo is on the canvas (None while loading)
        self._last_click: tuple[float, float] | None = None  # repeated clicks here cycle the segments
        self.loader.loaded.connect(self._on_loaded)
        self.loader.failed.connect(self.mark_unreadable)
        self.segments.changed.connect(self._on_segments_loaded)
        self.segment_panel.selectionChangedIds.connect(lambda _ids: self.redraw_overlay())
        self.segment_panel.sourceFilterChanged.connect(lambda _s: self.refresh_segments())
        canvas.clicked.connect(self._on_canvas_click)
        analysis.analysed.connect(self._on_analysed)
        analysis.firstLook.connect(self._on_first_look)
        analysis.imageFailed.connect(self.mark_unreadable)
        analysis.proposalsChanged.connect(self.refresh_segments)

    def show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)

    def clear(self) -> None:
        """Nothing shown (the project closes): also forgets the decoded photos."""
        self._blank()
        self.current_id = None
        self.loader.clear()

    def _blank(self) -> None:
        """The previous image's photo, overlays and segments off screen (no stale clicks)."""
        self.displayed_id = None
        self.loader.cancel()
        self.prompt.reset()
        self.canvas.set_image(None)
        self.segments.clear()

    # -- navigation ----------------------------------------------------------------------------

    def show_image(self, image_id: int | None) -> None:
        store = self._store()
        if store is None or image_id is None:
            return
        rec = store.image(image_id)
        self._blank()
        self.current_id = image_id
        self.filmstrip.select_image(image_id)
        self.tags_panel.set_image(image_id)
        name = Path(rec.path).name
        self.image_label.setText(f"{name}  {rec.width}×{rec.height}  [{status_str(rec.status)}]")
        error = rec.error or self.filmstrip.model_.error_of(image_id)
        self._last_click = None
        if error:
            self.show_placeholder(f"Cannot read {name}:\n{error}")
            self.status.emit(f"Cannot read {name}: {error}")  # nothing of the previous image stays
            self.prefetch_ahead()
            self.imageShown.emit(image_id)
            return
        self.stack.setCurrentWidget(self.canvas)
        if image_id not in self.analysis.overlays:
            self.analysis.request(image_id, Path(rec.path))  # runs on the engine while the photo decodes
        self.prefetch_ahead()
        row, n = self.filmstrip.model_.row_of(image_id), self.filmstrip.model_.rowCount()
        where = f"image {(row or 0) + 1} of {n}, {status_str(rec.status)}"
        cached = self.loader.cached(image_id)
        if cached is not None:
            self.status.emit(f"{name} — {where}")
            self._display(cached)
        else:  # decoding (big JPEGs: seconds) happens on the loader thread
            self.status.emit(f"Loading {name}… — {where}")
            self.loader.request(image_id, Path(rec.path))
        self.imageShown.emit(image_id)

    def prefetch_ahead(self) -> None:
        """Keep the next N to-do images (after the cursor, wrapping) analysed or on their way."""
        store = self._store()
        items: list[tuple[int, Path]] = []
        nid, seen = self.current_id, {self.current_id}
        while store is not None and len(items) < self.analysis.prefetch_n:
            nid = store.next_image_id(nid, "todo")
            if nid is None or nid in seen:
                break
            seen.add(nid)
            items.append((nid, Path(store.image(nid).path)))
        self.analysis.prefetch(items)

    def step(self, delta: int) -> None:
        ids = [r.id for r in self.filmstrip.model_.records()]
        if ids:
            i = ids.index(self.current_id) if self.current_id in ids else -delta
            self.show_image(ids[(i + delta) % len(ids)])

    def next_todo(self) -> bool:
        store = self._store()
        nid = self.filmstrip.model_.next_todo_after(self.current_id)  # the filmstrip's filter and sort
        if nid is None and store is not None:  # none shown: any to-do image of the project
            nid = store.next_image_id(self.current_id, "todo")
        if nid is None:
            self.status.emit("No images left to review.")
            return False
        self.show_image(nid)
        return True

    def mark_unreadable(self, image_id: int, reason: str) -> None:
        self.filmstrip.model_.set_error(image_id, reason)
        store = self._store()
        if store is not None:
            try:
                store.set_image_error(image_id, reason)
                self.filmstrip.model_.update_record(store.image(image_id))
            except Exception:
                log.exception("could not record image error")
        if image_id == self.current_id:
            self.show_image(image_id)  # now known unreadable: shows the placeholder

    # -- photo and overlays --------------------------------------------------------------------

    def _display(self, img: DisplayImage) -> None:
        self.canvas.set_image(img.rgb, img.full_hw)
        self.displayed_id = img.image_id
        self.refresh_segments()
        self.prompt.set_image(img.image_id, Path(self._store().image(img.image_id).path), img.full_hw)
        if self.analysis.shown_overlays(img.image_id) is not None:
            self._apply_overlays(img.image_id)
        self.imageDisplayed.emit(img.image_id)
        if img.downscaled:
            self.status.emit(f"Large image {img.full_hw[1]}×{img.full_hw[0]} shown at "
                             f"{img.rgb.shape[1]}×{img.rgb.shape[0]}; masks stay full resolution")

    def _on_loaded(self, img: DisplayImage) -> None:
        if self._store() is None or img.image_id != self.current_id:
            return  # the user moved on; the decode still sits in the loader's cache
        self._display(img)

    def _on_analysed(self, res) -> None:
        if res.image_id != self.current_id:
            return
        if self.displayed_id == res.image_id:  # else _display applies it once the photo is decoded
            if res.wrote_proposals:
                self.refresh_segments()
            self._apply_overlays(res.image_id)
        if not res.cached:
            self.status.emit(f"{res.overlays.path.name} analysed in {res.seconds:.1f} s")
        self.prefetch_ahead()  # e.g. after new settings dropped the prefetches: keep N ahead again

    def _on_first_look(self, image_id: int, _overlays) -> None:
        """The first result of the current image (eigenvectors, box, object on the patch grid): drawn
        at once; the full analysis replaces it when it arrives."""
        if image_id == self.current_id and self.displayed_id == image_id:
            self._apply_overlays(image_id)

    def _apply_overlays(self, image_id: int) -> None:
        overlays = self.analysis.shown_overlays(image_id)
        for layer in self.canvas.layers.values():
            layer.set_overlays(overlays)
        (self.firstLookApplied if overlays.partial else self.analysisApplied).emit(image_id)

    # -- segments ------------------------------------------------------------------------------

    def refresh_segments(self) -> None:
        """Reload the current image's segments from the store (into the panel and the overlay)."""
        store = self._store()
        if store is None or self.current_id is None or self.displayed_id != self.current_id:
            return
        self.segments.load(store, self.current_id, self.segment_panel.source_filter())

    def _on_segments_loaded(self) -> None:
        self.segment_panel.set_sources(self.segments.all_sources)
        self.segment_panel.set_segments(self.segments.records, self.segments.colors)
        self.redraw_overlay()

    def redraw_overlay(self) -> None:
        """Draw the segments with the panel's selection; the selection is what the tools edit."""
        selected = self.segment_panel.selected_ids()
        segs, ids = self.segments.overlay(set(selected))
        self.canvas.layer("segments").set_segments(segs, ids)
        if len(selected) == 1 and selected[0] in self.segments.masks:
            self.canvas.set_edit_target(selected[0], self.segments.crops[selected[0]])  # a crop: no copy
        elif self.canvas.image_shape is not None:  # brush on nothing = a new segment
            self.canvas.set_edit_target(None, self.segments.empty_mask(self.canvas.image_shape))
        self.prompt.set_target(selected[0] if len(selected) == 1 else None)

    def _on_canvas_click(self, x: float, y: float) -> None:
        """A click selects the topmost segment under it (the smallest, unless reordered); clicking the
        same spot again selects the next one down (overlapping proposals: object, segment, cluster …),
        then wraps around."""
        hits = self.segments.topmost_first(self.canvas.layer("segments").segments_at(x, y))
        selected = self.segment_panel.selected_ids()
        last, self._last_click = self._last_click, (x, y)
        same_spot = last is not None and abs(last[0] - x) <= 3 and abs(last[1] - y) <= 3
        if hits and same_spot and len(selected) == 1 and selected[0] in hits:
            sid = hits[(hits.index(selected[0]) + 1) % len(hits)]
        else:
            sid = hits[0] if hits else None
        self.segment_panel.select_ids([sid] if sid is not None else [])
