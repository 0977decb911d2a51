"""The main window: filmstrip | canvas | segment / layer / class / tag panels, toolbar and status bar.

It assembles the parts and routes between them; the work lives elsewhere: analysis scheduling in
:mod:`app.analysis_controller`, segment edits in :mod:`app.segment_editor`, the current image's
segments in :mod:`app.current_segments`, actions in :mod:`app.actions`, overlays in :mod:`app.layers`,
persisted preferences in :mod:`app.project_settings`. Threading rule: the GUI thread only reads and
writes the project store (cheap single transactions) and draws; engine jobs return through per-job
handles (:mod:`app.bridge`).
"""

from __future__ import annotations

import logging
import os
import sys
from functools import partial
from pathlib import Path

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QStackedWidget, QToolBar)

from engine.imageio import IMAGE_SUFFIXES, list_images, load_image
from engine.project import ProjectPaths, project_paths

from . import project_settings
from .actions import build_actions
from .analysis_controller import AnalysisController
from .bridge import EngineBridge
from .canvas import ImageCanvas
from .class_manager import ClassManager, TagsPanel
from .current_segments import CurrentSegments, status_str
from .filmstrip import Filmstrip
from .image_loader import DisplayImage, ImageLoader
from .jobs_indicator import JobsIndicator
from .layers_panel import LayersPanel
from .prompt_tool import PromptTool
from .resources import icon, style_sheet
from .segment_editor import SegmentEditor
from .segment_panel import SegmentPanel
from .settings_dialog import SettingsDialog

log = logging.getLogger(__name__)

NO_DIALOGS_ENV = "MASKCURATOR_NO_DIALOGS"  # tests / screenshots: record errors instead of opening boxes


class MainWindow(QMainWindow):
    """One project (image folder) at a time."""

    projectOpened = Signal(str)
    imageShown = Signal(int)  # current image changed (its photo may still be decoding)
    imageDisplayed = Signal(int)  # its photo is on the canvas (decoded off the GUI thread)
    analysisApplied = Signal(int)  # image id whose overlays were just drawn
    storeChanged = Signal()
    errorShown = Signal(str, str)  # title, text

    def __init__(self, folder: str | Path | None = None, device: str = "auto"):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("MaskCurator")
        self.setWindowIcon(icon("app"))
        self.bridge = EngineBridge(device, self)
        self.jobs = JobsIndicator(self)
        self.analysis = AnalysisController(self.bridge, self.jobs, self)
        self.segments = CurrentSegments(self)
        self.editor = SegmentEditor(lambda: self.store, lambda: self.current_id, self)
        self.store = None
        self.paths: ProjectPaths | None = None
        self.preferences = project_settings.CurationSettings()
        self.current_id: int | None = None
        self.loader = ImageLoader(parent=self)  # photo decoding off the GUI thread, 4-image LRU
        self._displayed_id: int | None = None  # image whose photo is on the canvas (None while loading)
        self.last_error: tuple[str, str] | None = None
        self._error_box: QMessageBox | None = None
        self._build_ui()
        self.prompt = PromptTool(self.canvas, self.bridge, self.editor, self)
        self.actions_ = build_actions(self, self._slots())
        toolbar = self.findChild(QToolBar, "mainToolbar")
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Prompt class "))
        toolbar.addWidget(self.prompt.class_combo)
        self._wire()
        self._update_undo_actions()
        self.resize(1400, 860)
        if folder is not None:
            self.open_folder(folder)
        else:
            self._show_placeholder("Open an image folder to start (File → Open folder…, Ctrl+O).")

    @property
    def settings(self):
        """The analysis settings in use (preferences + this run's environment overrides)."""
        return self.analysis.settings

    # ================================================================== assembly

    def _build_ui(self) -> None:
        self.canvas = ImageCanvas()
        self.placeholder = QLabel()
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.canvas)
        self.stack.addWidget(self.placeholder)
        self.setCentralWidget(self.stack)
        self.filmstrip = Filmstrip()
        self.segment_panel = SegmentPanel()
        self.layers_panel = LayersPanel(self.canvas)
        self.class_manager = ClassManager()
        self.tags_panel = TagsPanel()
        self.docks: dict[str, QDockWidget] = {}
        left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
        for key, title, widget, area in (("images", "Images", self.filmstrip, left),
                                         ("segments", "Segments", self.segment_panel, right),
                                         ("layers", "Layers", self.layers_panel, right),
                                         ("classes", "Classes", self.class_manager, right),
                                         ("tags", "Image tags", self.tags_panel, right)):
            dock = QDockWidget(title, self)
            dock.setObjectName(f"dock_{key}")
            dock.setWidget(widget)
            dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                             | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
            self.addDockWidget(area, dock)
            self.docks[key] = dock
        self.tabifyDockWidget(self.docks["layers"], self.docks["classes"])
        self.tabifyDockWidget(self.docks["classes"], self.docks["tags"])
        self.docks["layers"].raise_()
        self.resizeDocks([self.docks["images"]], [230], Qt.Orientation.Horizontal)
        self.resizeDocks([self.docks["segments"]], [400], Qt.Orientation.Horizontal)
        self.status_label = QLabel("")
        self.status_label.setObjectName("statusLabel")
        self.image_label = QLabel("")
        self.image_label.setObjectName("imageLabel")
        sb = self.statusBar()
        sb.addWidget(self.status_label, 1)
        sb.addPermanentWidget(self.image_label)
        sb.addPermanentWidget(self.jobs.bar)
        sb.addPermanentWidget(self.jobs.cancel_button)

    def _slots(self) -> dict:
        panel, canvas = self.segment_panel, self.canvas
        slots = {
            "open": self._open_dialog, "export": self.open_export_dialog, "settings": self.open_settings_dialog,
            "prev": partial(self._step, -1), "next": partial(self._step, 1), "next_todo": self.next_todo,
            "accept_image": self._enter, "reject_image": self.reject_image, "undo": self.undo, "redo": self.redo,
            "brush": partial(self._toggle_mode, "brush"), "erase": partial(self._toggle_mode, "erase"),
            "prompt": partial(self._toggle_mode, "prompt"), "view_mode": self._escape,
            "merge": partial(panel.request, "merge"), "accept_segments": partial(panel.request, "accept"),
            "reject_segments": partial(panel.request, "reject"),
            "radius_down": partial(self._bump_radius, 1 / 1.25), "radius_up": partial(self._bump_radius, 1.25),
            "analyse_all": self.analyse_all, "train": self.open_train_dialog,
            "reanalyse": lambda: self.request_analysis(self.current_id, replace=True),
        }
        slots |= {f"eigen{k}": partial(self.set_eigen_index, k) for k in range(1, 10)}
        return slots

    def _wire(self) -> None:
        a, c = self.analysis, self.canvas
        self.filmstrip.imageActivated.connect(self.show_image)
        c.clicked.connect(self._on_canvas_click)
        c.strokeFinished.connect(lambda mask, erase: self.editor.stroke(c.edit_target, mask, erase))
        c.modeChanged.connect(self._on_mode_changed)
        self.segment_panel.selectionChangedIds.connect(lambda _ids: self._redraw_overlay())
        self.segment_panel.actionRequested.connect(self.editor.segment_action)
        self.segment_panel.relabelRequested.connect(self.editor.relabel)
        self.segment_panel.sourceFilterChanged.connect(lambda _s: self.refresh_segments())
        self.segments.changed.connect(self._on_segments_loaded)
        self.editor.edited.connect(self._after_change)
        self.editor.selectRequested.connect(self.segment_panel.select_ids)
        self.editor.status.connect(self.set_status)
        self.editor.error.connect(self.show_error)
        self.class_manager.classesChanged.connect(self._on_classes_changed)
        self.tags_panel.tagsChanged.connect(lambda *_: self._update_undo_actions())
        c.layer("eigen").changed.connect(self._on_eigen_changed)
        a.analysed.connect(self._on_analysed)
        a.imageFailed.connect(self._on_image_failed)
        a.proposalsChanged.connect(self.refresh_segments)
        a.status.connect(self.set_status)
        a.error.connect(self.show_error)
        self.batchFinished = a.batchFinished
        self.jobs.message.connect(self.set_status)
        self.loader.loaded.connect(self._on_image_loaded)
        self.loader.failed.connect(self._on_image_failed)

    # ================================================================== messages

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_error(self, title: str, text: str) -> None:
        """Non-blocking message box (``open()``, never ``exec()``): a job result never stalls the loop."""
        self.last_error = (title, text)
        self.set_status(f"{title}: {text.splitlines()[0] if text else ''}")
        self.errorShown.emit(title, text)
        if os.environ.get(NO_DIALOGS_ENV):
            return
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "_error_box", None))
        self._error_box = box
        box.open()

    def _show_placeholder(self, text: str) -> None:
        self.placeholder.setText(text)
        self.stack.setCurrentWidget(self.placeholder)

    # ================================================================== project

    def _open_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open image folder")
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | Path) -> bool:
        """Open (or create) the project of an image folder; returns False with a message on failure."""
        paths = project_paths(folder)
        if not paths.folder.is_dir():
            self.show_error("Cannot open folder", f"Not a folder: {paths.folder}")
            return False
        try:
            images = list_images(paths.folder)
        except OSError as exc:
            self.show_error("Cannot open folder", f"{paths.folder}: {exc}")
            return False
        if not images and not paths.database.exists():
            self.close_project()
            text = (f"No images found in {paths.folder}.\nSupported formats: "
                    + ", ".join(sorted(s.lstrip('.') for s in IMAGE_SUFFIXES)))
            self._show_placeholder(text)
            self.show_error("No images", text)
            return False
        from engine.store import ProjectStore

        self.close_project()
        try:
            paths.ensure()
            store = ProjectStore.open(paths.database)
            store.add_images(images)
        except Exception as exc:  # StoreError (corrupt / too new), permission problems
            self.show_error("Cannot open project", f"{paths.database}: {exc}")
            return False
        self.store, self.paths = store, paths
        self.preferences = project_settings.load_preferences(store)
        self.analysis.open(store, paths, project_settings.with_environment(self.preferences))
        geometry = project_settings.restore_view(store, self.canvas)
        self.layers_panel.sync_brush()
        if geometry:
            self.restoreGeometry(QByteArray(geometry))
        self.class_manager.set_store(store)
        self.tags_panel.set_store(store)
        self.segment_panel.set_classes(store.classes())
        records = store.images()
        self.filmstrip.model_.set_records(records)
        self.setWindowTitle(f"MaskCurator — {paths.folder.name}")
        bad = [r for r in records if r.error]
        msg = f"Opened {paths.folder} — {len(records)} images"
        if bad:
            msg += f"; {len(bad)} could not be read (marked in the list)"
        self.set_status(msg)
        self.projectOpened.emit(str(paths.folder))
        first = store.next_image_id(None, "todo") or store.next_image_id(None, None)
        if first is not None:
            self.show_image(first)
        else:
            self._show_placeholder(f"No images in {paths.folder}.")
        self._update_undo_actions()
        return True

    def close_project(self) -> None:
        if self.store is None:
            return
        self._save_settings()
        self.prompt.reset()
        self.bridge.cancel_all()
        self.bridge.engine.wait_idle(timeout=30)
        self.analysis.close()
        self.store.close()
        self.store = None
        self.current_id = None
        self.loader.clear()
        self._displayed_id = None
        self.canvas.set_image(None)
        self.segments.clear()
        self.filmstrip.model_.set_records([])
        self.class_manager.set_store(None)
        self.tags_panel.set_store(None)

    def _save_settings(self) -> None:
        if self.store is None:
            return
        try:
            project_settings.save_preferences(self.store, self.preferences)
            project_settings.save_view(self.store, self.canvas, bytes(self.saveGeometry().toHex()).decode())
        except Exception:  # never lose the close because a preference could not be written
            log.exception("could not save settings")

    def apply_settings(self, settings) -> None:
        """New analysis settings (an explicit choice wins over the environment): re-analyse the image."""
        self.preferences = settings
        self._save_settings()
        if self.analysis.set_settings(settings) and self.current_id is not None:
            self.request_analysis(self.current_id)

    def open_settings_dialog(self) -> None:
        dlg = SettingsDialog(self.settings, str(self.bridge.device), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.apply_settings(dlg.result_settings()))
        dlg.open()

    # ================================================================== navigation

    def show_image(self, image_id: int | None) -> None:
        if self.store is None or image_id is None:
            return
        rec = self.store.image(image_id)
        self.prompt.reset()
        self.current_id = image_id
        self.filmstrip.select_image(image_id)
        self.tags_panel.set_image(image_id)
        self.image_label.setText(f"{Path(rec.path).name}  {rec.width}×{rec.height}  [{status_str(rec.status)}]")
        error = rec.error or self.filmstrip.model_.error_of(image_id)
        self._displayed_id = None
        self.canvas.set_image(None)
        self.segments.clear()
        if error:
            self.loader.cancel()
            self._show_placeholder(f"Cannot read {Path(rec.path).name}:\n{error}")
            self.imageShown.emit(image_id)
            return
        self.stack.setCurrentWidget(self.canvas)
        if image_id not in self.analysis.overlays:
            self.request_analysis(image_id)  # runs on the engine while the photo decodes
        cached = self.loader.cached(image_id)
        if cached is not None:
            self.loader.cancel()
            self._display(cached)
        else:  # decoding (big JPEGs: seconds) happens on the loader thread
            self.set_status(f"Loading {Path(rec.path).name}…")
            self.loader.request(image_id, Path(rec.path))
        self.imageShown.emit(image_id)

    def _display(self, img: DisplayImage) -> None:
        """Put a decoded photo on the canvas, then its segments and (if known) its analysis overlays."""
        self.canvas.set_image(img.rgb, img.full_hw)
        self._displayed_id = img.image_id
        self.refresh_segments()
        self.prompt.set_image(img.image_id, Path(self.store.image(img.image_id).path), img.full_hw)
        if img.image_id in self.analysis.overlays:
            self._apply_overlays(img.image_id)
        self.imageDisplayed.emit(img.image_id)
        if img.downscaled:
            self.set_status(f"Large image {img.full_hw[1]}×{img.full_hw[0]} shown at "
                            f"{img.rgb.shape[1]}×{img.rgb.shape[0]}; masks stay full resolution")

    def _on_image_loaded(self, img: DisplayImage) -> None:
        if self.store is None or img.image_id != self.current_id:
            return  # the user moved on; the decode still sits in the loader's cache
        if self.status_label.text().startswith("Loading"):
            self.set_status(f"{Path(self.store.image(img.image_id).path).name} loaded in {img.seconds:.2f} s")
        self._display(img)

    def _on_image_failed(self, image_id: int, reason: str) -> None:
        self.filmstrip.model_.set_error(image_id, reason)
        if self.store is not None:
            try:
                self.store.set_image_error(image_id, reason)
                self.filmstrip.model_.update_record(self.store.image(image_id))
            except Exception:
                log.exception("could not record image error")
        if image_id == self.current_id:
            self.show_image(image_id)  # now known unreadable: shows the placeholder

    def _load_rgb(self, rec):
        """Decode a photo synchronously at full resolution (tests / tools only)."""
        return load_image(Path(rec.path))

    def _step(self, delta: int) -> None:
        ids = [r.id for r in self.filmstrip.model_.records()]
        if ids:
            i = ids.index(self.current_id) if self.current_id in ids else -delta
            self.show_image(ids[(i + delta) % len(ids)])

    def next_image(self) -> None:
        self._step(1)

    def next_todo(self) -> bool:
        if self.store is None:
            return False
        nid = self.store.next_image_id(self.current_id, "todo")
        if nid is None:
            self.set_status("No images left to review.")
            return False
        self.show_image(nid)
        return True

    # ================================================================== analysis

    def request_analysis(self, image_id: int | None, replace: bool = False, prefetch: bool = False):
        if self.store is None or image_id is None:
            return None
        rec = self.store.image(image_id)
        if rec.error:
            return None
        return self.analysis.request(image_id, Path(rec.path), replace=replace, prefetch=prefetch)

    def analyse_all(self):
        if self.store is None:
            return []
        return self.analysis.analyse_all([(r.id, Path(r.path)) for r in self.store.images() if not r.error])

    def _on_analysed(self, res) -> None:
        if res.image_id != self.current_id:
            return
        if self._displayed_id == res.image_id:  # else _display applies it once the photo is decoded
            if res.wrote_proposals:
                self.refresh_segments()
            self._apply_overlays(res.image_id)
        how = "loaded from the analysis cache" if res.cached else f"analysed in {res.seconds:.1f} s"
        self.set_status(f"{res.overlays.path.name} {how}")
        nid = self.store.next_image_id(self.current_id, "todo") if self.store else None
        if nid is not None and nid not in self.analysis.overlays:
            self.request_analysis(nid, prefetch=True)

    def _apply_overlays(self, image_id: int) -> None:
        overlays = self.analysis.overlays[image_id]
        for layer in self.canvas.layers.values():
            layer.set_overlays(overlays)
        self.analysisApplied.emit(image_id)

    @property
    def eigen_index(self) -> int:
        return self.canvas.layer("eigen").index

    def set_eigen_index(self, k: int) -> None:
        layer = self.canvas.layer("eigen")
        layer.set_index(k)
        layer.set_visible(True)

    def _on_eigen_changed(self) -> None:
        layer = self.canvas.layer("eigen")
        if layer.has_data() and layer.visible:
            k = layer.shown_index()
            self.set_status(f"Eigenvector {k} (λ = {float(layer.eigenvalues[k]):.4f})")

    # ================================================================== segments

    def refresh_segments(self, keep_selection: bool = True) -> None:
        """Reload the current image's segments from the store (into the panel and the overlay)."""
        if self.store is None or self.current_id is None or self._displayed_id != self.current_id:
            return
        self.segments.load(self.store, self.current_id, self.segment_panel.source_filter())

    def _on_segments_loaded(self) -> None:
        self.segment_panel.set_sources(self.segments.all_sources)
        self.segment_panel.set_segments(self.segments.records, self.segments.colors)
        self._redraw_overlay()

    def _redraw_overlay(self) -> None:
        selected = self.segment_panel.selected_ids()
        segs, ids = self.segments.overlay(set(selected))
        self.canvas.layer("segments").set_segments(segs, ids)
        if len(selected) == 1 and selected[0] in self.segments.masks:
            self.canvas.set_edit_target(selected[0], self.segments.masks[selected[0]])
        elif self.canvas.image_shape is not None:  # brush on nothing = a new segment
            self.canvas.set_edit_target(None, self.segments.empty_mask(self.canvas.image_shape))
        self.prompt.set_target(selected[0] if len(selected) == 1 else None)

    def _on_canvas_click(self, x: float, y: float) -> None:
        sid = self.canvas.segment_at(x, y)
        self.segment_panel.select_ids([sid] if sid is not None else [])

    def _after_change(self) -> None:
        if self.store is None:
            return
        if self.current_id is not None:
            self.filmstrip.model_.update_record(self.store.image(self.current_id))
        self.refresh_segments()
        self._update_undo_actions()
        self.storeChanged.emit()

    def _on_classes_changed(self) -> None:
        if self.store is None:
            return
        self.segment_panel.set_classes(self.store.classes())
        self.prompt.set_classes(self.store.classes())
        self.tags_panel.refresh()
        self._after_change()

    # ================================================================== tools

    def _toggle_mode(self, mode: str, on: bool) -> None:
        if on:
            self.canvas.set_mode(mode)
        elif self.canvas.mode == mode:
            self.canvas.set_mode("view")

    def _on_mode_changed(self, mode: str) -> None:
        for key in ("brush", "erase", "prompt"):
            act = self.actions_[key]
            act.blockSignals(True)
            act.setChecked(mode == key)
            act.blockSignals(False)
        self.set_status({"brush": "Brush: drag to paint into the selected segment (none selected → new segment)",
                         "erase": "Erase: drag to remove pixels from the selected segment",
                         "prompt": self.prompt.hint(), "view": "Select / pan"}[mode])

    def _bump_radius(self, factor: float) -> None:
        self.canvas.set_brush_radius(max(1.0, round(self.canvas.brush_radius * factor)))
        self.layers_panel.sync_brush()

    def _enter(self) -> None:
        """Enter commits a prompt mask in prompt mode; otherwise it accepts the image."""
        if not (self.canvas.mode == "prompt" and self.prompt.commit()):
            self.accept_image()

    def _escape(self) -> None:
        if self.canvas.mode == "prompt" and self.prompt.has_prompts():
            self.prompt.reset()
        else:
            self.canvas.set_mode("view")

    # ================================================================== review + undo

    def _set_image_status(self, status: str) -> None:
        if self.store is None or self.current_id is None:
            return
        done = self.current_id
        self.editor.mutate(f"Image {status}", self.store.set_image_status, done, status)
        self.filmstrip.model_.update_record(self.store.image(done))
        if not self.next_todo():
            self.show_image(done)

    def accept_image(self) -> None:
        self._set_image_status("accepted")

    def reject_image(self) -> None:
        self._set_image_status("rejected")

    def reload_all(self, message: str) -> None:
        """After undo / redo (which may touch any image, class or tag): every view re-reads the store."""
        self.set_status(message)
        for rec in self.store.images():
            self.filmstrip.model_.update_record(rec)
        self.class_manager.refresh()
        self.segment_panel.set_classes(self.store.classes())
        self.tags_panel.refresh()
        self.refresh_segments()
        self._update_undo_actions()
        self.storeChanged.emit()

    def undo(self) -> None:
        if self.store is not None:
            self.canvas.cancel_stroke()
            desc = self.store.undo()
            self.reload_all(f"Undo: {desc}" if desc else "Nothing to undo.")

    def redo(self) -> None:
        if self.store is not None:
            desc = self.store.redo()
            self.reload_all(f"Redo: {desc}" if desc else "Nothing to redo.")

    def _update_undo_actions(self) -> None:
        st, a = self.store, self.actions_
        u = st.undo_description() if st is not None else None
        r = st.redo_description() if st is not None else None
        a["undo"].setEnabled(u is not None)
        a["redo"].setEnabled(r is not None)
        a["undo"].setToolTip(f"Undo {u} (Ctrl+Z)" if u else "Nothing to undo")
        a["redo"].setToolTip(f"Redo {r} (Ctrl+Shift+Z)" if r else "Nothing to redo")

    # ================================================================== dialogs

    def open_export_dialog(self):
        if self.store is None:
            self.set_status("Open a folder first.")
            return None
        from .export_dialog import ExportDialog

        self.export_dialog = ExportDialog(self.bridge, self.store, self.paths.root / "exports", self)
        self.export_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.export_dialog.open()
        return self.export_dialog

    def open_train_dialog(self, methods: dict | None = None):
        if self.store is None:
            self.set_status("Open a folder first.")
            return None
        from .train_dialog import TrainDialog

        self.train_dialog = TrainDialog(self.bridge, self.store, self.paths.models, self, methods=methods)
        self.train_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.train_dialog.proposalsUpdated.connect(lambda _m: self.refresh_segments())
        self.train_dialog.open()
        return self.train_dialog

    def closeEvent(self, event) -> None:
        self.loader.shutdown()
        self.close_project()
        self.bridge.shutdown()
        super().closeEvent(event)


def run_app(folder_or_project: str | Path | None = None) -> int:
    """Start the GUI on a folder (or its ``.maskcurator/project.sqlite``); returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MaskCurator")
    app.setStyleSheet(style_sheet())
    win = MainWindow(folder_or_project)
    win.show()
    QTimer.singleShot(0, win.raise_)
    return app.exec()


__all__ = ["MainWindow", "run_app"]
