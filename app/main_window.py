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
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow, QMessageBox, QToolBar

from engine.curation.project import ProjectOpenError, open_project
from engine.imageio import load_image
from engine.project import ProjectPaths

from . import key_scope, project_settings, user_settings
from .actions import build_actions
from .analysis_controller import AnalysisController
from .backbone_offer import BackboneOffer
from .bridge import EngineBridge
from .class_palette import ActiveClass, ClassPalette
from .image_presenter import ImagePresenter
from .jobs_indicator import JobsIndicator
from .panels import build_panels
from .polygon_tool import PolygonTool
from .prompt_tool import PromptTool
from .recent_folders import RecentFolders
from .resources import icon, style_sheet
from .review import ReviewController
from .segment_editor import SegmentEditor
from .settings_dialog import SettingsDialog
from .tool_modes import ToolModes

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

    def __init__(self, folder: str | Path | None = None, device: str = "auto", backbone: str | None = None):
        super().__init__()
        self.backbone_override = backbone  # main.py --backbone: this run only, like MASKCURATOR_BACKBONE
        self.setObjectName("mainWindow")
        self.setWindowTitle("MaskCurator")
        self.setWindowIcon(icon("app"))
        self.bridge = EngineBridge(device, self)
        self.jobs = JobsIndicator(self)
        self.analysis = AnalysisController(self.bridge, self.jobs, self)
        self.editor = SegmentEditor(lambda: self.store, lambda: self.current_id, self)
        self.store = None
        self.paths: ProjectPaths | None = None
        self.preferences = project_settings.CurationSettings()
        self.last_error: tuple[str, str] | None = None
        self._error_box: QMessageBox | None = None
        self._build_ui()
        self.prompt = PromptTool(self.canvas, self.bridge, self.editor, self)
        self.active_class = ActiveClass(self)  # one active class: prompt, polygon, brush, Y (active_class_id())
        self.activeClassChanged = self.active_class.changed
        self.apply_class_on_accept = True
        self.view = ImagePresenter(store=lambda: self.store, canvas=self.canvas, stack=self.stack,
                                   placeholder=self.placeholder, image_label=self.image_label,
                                   filmstrip=self.filmstrip, tags_panel=self.tags_panel,
                                   segment_panel=self.segment_panel, analysis=self.analysis,
                                   prompt=self.prompt, parent=self)
        self.segments, self.loader = self.view.segments, self.view.loader
        self.polygon = PolygonTool(self.canvas, self.editor, self.segments, store=lambda: self.store,
                                   image_id=lambda: self.current_id,
                                   class_id=lambda: self.active_class_id(), parent=self)
        self.actions_ = build_actions(self, self._slots())
        self.review = r = ReviewController(
            store=lambda: self.store, view=self.view, editor=self.editor, filmstrip=self.filmstrip,
            class_manager=self.class_manager, segment_panel=self.segment_panel, tags_panel=self.tags_panel,
            canvas=self.canvas, actions=self.actions_, parent=self)
        self.accept_image, self.reject_image, self.undo, self.redo = r.accept, r.reject, r.undo, r.redo
        self.reload_all, self._update_undo_actions = r.reload_all, r.update_actions
        self.tools = ToolModes(self.canvas, self.prompt, self.layers_panel, self.actions_, self.accept_image, self,
                               clear_selection=lambda: self.segment_panel.select_ids([]),
                               polygon=self.polygon)
        self.recent_menu = RecentFolders(self.menuBar(), self.actions_["export"], self.open_folder, self)
        self.backbone_offer = BackboneOffer(window=self, report=partial(self.show_error, box=False),
                                            current_settings=lambda: self.settings, apply=self.apply_settings,
                                            open_preferences=self.open_settings_dialog)
        self.train_dialog = None
        toolbar = self.findChild(QToolBar, "mainToolbar")
        toolbar.addSeparator()
        toolbar.addWidget(QLabel(" Prompt class "))
        toolbar.addWidget(self.prompt.class_combo)
        self.active_class.bind_combo(self.prompt.class_combo)
        self.class_palette = ClassPalette(self.active_class)
        self.addToolBarBreak()
        palette_bar = QToolBar("Classes")
        palette_bar.setObjectName("classToolbar")
        palette_bar.setMovable(False)
        palette_bar.addWidget(self.class_palette)
        self.addToolBar(palette_bar)
        self.actions_["apply_class_on_accept"].setChecked(True)
        self._wire()
        self.key_scope = key_scope.install(self)  # keys typed into a field stay there (Enter ≠ accept)
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
        p = build_panels(self, self.jobs)
        self.canvas, self.stack, self.placeholder, self.docks = p.canvas, p.stack, p.placeholder, p.docks
        self.filmstrip, self.segment_panel, self.layers_panel = p.filmstrip, p.segment_panel, p.layers_panel
        self.review_bar = p.review_bar  # filter / sort / jump / "N of M reviewed" above the filmstrip
        self.class_manager, self.tags_panel = p.class_manager, p.tags_panel
        self.status_label, self.image_label = p.status_label, p.image_label

    def _slots(self) -> dict:
        panel = self.segment_panel
        slots = {
            "open": self._open_dialog, "export": self.open_export_dialog, "settings": self.open_settings_dialog,
            "import": self.open_import_dialog, "jump": lambda: self.review_bar.focus_jump(),
            "quit": self.close, "fit": lambda: self.canvas.fit_view(), "one_to_one": lambda: self.canvas.one_to_one(),
            "prev": lambda: self.view.step(-1), "next": lambda: self.view.step(1), "next_todo": self.next_todo,
            "accept_image": lambda: self.tools.enter(), "reject_image": lambda: self.reject_image(),
            "undo": lambda: self.undo(), "redo": lambda: self.redo(),
            "brush": lambda on: self.tools.toggle("brush", on), "erase": lambda on: self.tools.toggle("erase", on),
            "prompt": lambda on: self.tools.toggle("prompt", on), "view_mode": lambda: self.tools.escape(),
            "polygon": lambda on: self.tools.toggle("polygon", on), "box": lambda on: self.tools.toggle("box", on),
            "edit_polygon": lambda: self.polygon.edit_segment(panel.selected_ids()),
            "delete_vertex": lambda: self.tools.delete_vertex(),
            "merge": partial(panel.request, "merge"), "accept_segments": self.accept_segments,
            "reject_segments": partial(panel.request, "reject"),
            "radius_down": lambda: self.tools.bump_radius(1 / 1.25), "radius_up": lambda: self.tools.bump_radius(1.25),
            "analyse_all": self.analyse_all, "train": self.open_train_dialog,
            "reanalyse": lambda: self.request_analysis(self.current_id, replace=True),
        }
        slots |= {f"eigen{k}": partial(self.set_eigen_index, k) for k in range(1, 10)}
        slots |= {f"class{k}": partial(self.pick_class, k) for k in range(10)}
        slots |= {"toggle_hidden": self.toggle_hidden,
                  "apply_class_on_accept": lambda on: setattr(self, "apply_class_on_accept", bool(on)),
                  "bring_front": partial(panel.request, "front"), "send_back": partial(panel.request, "back")}
        return slots

    def _wire(self) -> None:
        a, c = self.analysis, self.canvas
        v = self.view
        self.filmstrip.imageActivated.connect(self.show_image)
        self.review_bar.current_id = lambda: self.current_id
        self.review_bar.imageRequested.connect(self.show_image)
        self.review_bar.status.connect(self.set_status)
        self.storeChanged.connect(self.review_bar.refresh_counts)
        c.strokeFinished.connect(lambda mask, erase: self.editor.stroke(c.edit_target, mask, erase,
                                                                        self.active_class_id()))
        self.segment_panel.visibilityRequested.connect(self.segments.set_visible)
        self.segments.visibilityChanged.connect(self._on_visibility_changed)
        self.segments.changed.connect(lambda: self.segment_panel.set_hidden(self.segments.hidden))
        self.active_class.changed.connect(lambda _c: self.set_status(
            f"Active class: {self.active_class.name()}" + (" — Y labels and accepts" if self.active_class_id()
                                                           is not None and self.apply_class_on_accept else "")))
        self.tools.status.connect(self.set_status)
        self.segment_panel.actionRequested.connect(self.editor.segment_action)
        self.segment_panel.selectionChangedIds.connect(self.polygon.on_selection)
        self.segment_panel.actionRequested.connect(
            lambda action, ids: self.polygon.edit_segment(ids) if action == "polygon" else None)
        self.segment_panel.relabelRequested.connect(self.editor.relabel)
        self.editor.edited.connect(self._after_change)
        self.editor.maskCommitted.connect(self.segments.prime)  # the reload after a stroke decodes nothing
        self.editor.known_mask = self.segments.known_mask  # and the commit does not decode the target
        self.editor.warm_display = c.warm_display  # nor resample it for the overlay on the GUI thread
        self.editor.selectRequested.connect(self.segment_panel.select_ids)
        self.editor.status.connect(self.set_status)
        self.editor.error.connect(self.show_error)
        self.class_manager.classesChanged.connect(self._on_classes_changed)
        self.tags_panel.tagsChanged.connect(lambda *_: self._update_undo_actions())
        c.layer("eigen").changed.connect(self._on_eigen_changed)
        a.status.connect(self.set_status)
        a.error.connect(self.show_error)
        a.backboneFailed.connect(self.backbone_offer.on_failed)
        self.batchFinished = a.batchFinished
        self.jobs.notice.connect(self.set_status)
        v.status.connect(self.set_status)
        self.review.status.connect(self.set_status)
        self.review.storeChanged.connect(self.storeChanged)
        for mine, theirs in ((self.imageShown, v.imageShown), (self.imageDisplayed, v.imageDisplayed),
                             (self.analysisApplied, v.analysisApplied)):
            theirs.connect(mine)

    # ================================================================== messages

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)

    def show_error(self, title: str, text: str, box: bool = True) -> None:
        """Non-blocking message box (``open()``, never ``exec()``): a job result never stalls the loop.
        ``box=False``: the caller shows its own (e.g. the backbone offer with its buttons)."""
        self.last_error = (title, text)
        self.set_status(f"{title}: {text.splitlines()[0] if text else ''}")
        self.errorShown.emit(title, text)
        if os.environ.get(NO_DIALOGS_ENV) or not box:
            return
        if self._error_box is not None:
            self._error_box.close()
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.Ok, self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.finished.connect(lambda _r: setattr(self, "_error_box", None))
        self._error_box = box
        box.open()

    def _show_placeholder(self, text: str) -> None:
        self.view.show_placeholder(text)

    # ================================================================== project

    def _open_dialog(self) -> None:
        folder = self.recent_menu.ask_folder()
        if folder:
            self.open_folder(folder)

    def open_folder(self, folder: str | Path, recursive: bool | None = None) -> bool:
        """Open (or create) the project of an image folder; returns False with a message on failure.
        ``recursive``: with subfolders (None: the Preferences choice, else as the project was opened)."""
        self.close_project()
        if recursive is None and user_settings.include_subfolders():
            recursive = True
        try:
            store, paths = open_project(folder, recursive=recursive)
        except ProjectOpenError as exc:
            text = str(exc)[:1].upper() + str(exc)[1:]
            if exc.title == "No images":
                self._show_placeholder(text)
            self.show_error(exc.title, text)
            return False
        self.store, self.paths = store, paths
        self.preferences = project_settings.load_preferences(store, user_settings.default_backbone(""))
        self.analysis.open(store, paths, project_settings.with_environment(self.preferences, self.backbone_override))
        geometry = project_settings.restore_view(store, self.canvas)
        self.layers_panel.sync_brush()
        if geometry:
            self.restoreGeometry(QByteArray(geometry))
        self.class_manager.set_store(store)
        self.tags_panel.set_store(store)
        self.segment_panel.set_classes(store.classes())
        self.prompt.set_classes(store.classes())
        self.active_class.set_classes(store.classes())
        records = store.images()
        self.filmstrip.model_.set_thumb_cache(paths.root / "thumbs")
        self.filmstrip.model_.set_records(records)
        self.review_bar.set_store(store)
        self.setWindowTitle(f"MaskCurator — {paths.folder.name}")
        bad = [r for r in records if r.error]
        msg = f"Opened {paths.folder} — {len(records)} images"
        if bad:
            msg += f"; {len(bad)} could not be read (marked in the list)"
        if getattr(paths, "notice", ""):  # e.g. a read-only image folder: project data kept elsewhere
            msg += f" — {paths.notice}"
        self.set_status(msg)
        self.projectOpened.emit(str(paths.folder))
        self.recent_menu.remember(paths.folder)
        first = (project_settings.last_image(store) or store.next_image_id(None, "todo")
                 or store.next_image_id(None, None))
        if first is not None:
            self.show_image(first)
        else:
            self._show_placeholder(f"No images in {paths.folder}.")
        self._update_undo_actions()
        return True

    def close_project(self, wait_s: float = 2.0) -> None:
        if self.store is None:
            return
        self._save_settings()
        self.view.clear()
        self.bridge.cancel_all()
        self.bridge.engine.wait_idle(timeout=wait_s)  # a job that cannot stop at once fails on the closed store
        self.editor.wait_idle()  # brush strokes still being written (big photos) land before the store closes
        self.analysis.close()
        self.store.close()
        self.store = None
        self.filmstrip.model_.set_records([])
        self.review_bar.set_store(None)
        self.class_manager.set_store(None)
        self.tags_panel.set_store(None)
        self.active_class.set_classes([])

    def _save_settings(self) -> None:
        if self.store is None:
            return
        try:
            project_settings.save_preferences(self.store, self.preferences)
            project_settings.save_view(self.store, self.canvas, bytes(self.saveGeometry().toHex()).decode(),
                                       self.current_id)
        except Exception:  # never lose the close because a preference could not be written
            log.exception("could not save settings")

    def apply_settings(self, settings) -> None:
        """New analysis settings (an explicit choice wins over the environment): re-analyse the image."""
        self.preferences = settings
        user_settings.set_default_backbone(settings.backbone)  # new projects start from it
        self.analysis.prefetch_n = user_settings.prefetch_count()
        self._save_settings()
        if self.analysis.set_settings(settings) and self.current_id is not None:
            self.request_analysis(self.current_id)

    def open_settings_dialog(self) -> None:
        dlg = SettingsDialog(self.settings, str(self.bridge.device), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: (dlg.save_user_settings(), self.apply_settings(dlg.result_settings())))
        dlg.open()

    # ================================================================== current image (ImagePresenter)

    @property
    def current_id(self) -> int | None:
        return self.view.current_id

    @property
    def _displayed_id(self) -> int | None:
        return self.view.displayed_id

    def show_image(self, image_id: int | None) -> None:
        self.view.show_image(image_id)

    def next_image(self) -> None:
        self.view.step(1)

    def next_todo(self) -> bool:
        return self.view.next_todo()

    def refresh_segments(self) -> None:
        self.view.refresh_segments()

    def _load_rgb(self, rec):
        """Decode a photo synchronously at full resolution (tests / tools only)."""
        return load_image(Path(rec.path))

    def request_analysis(self, image_id: int | None, replace: bool = False, prefetch: bool = False):
        if self.store is None or image_id is None or self.store.image(image_id).error:
            return None
        return self.analysis.request(image_id, Path(self.store.image(image_id).path), replace=replace,
                                     prefetch=prefetch)

    def analyse_all(self):
        if self.store is None:
            return []
        return self.analysis.analyse_all([(r.id, Path(r.path)) for r in self.store.images() if not r.error])

    @property
    def eigen_index(self) -> int:
        return self.canvas.layer("eigen").index

    def set_eigen_index(self, k: int) -> None:
        layer = self.canvas.layer("eigen")
        layer.set_index(k)
        layer.set_visible(True)

    def _on_eigen_changed(self) -> None:
        """λ in the status line when the user picks a vector (keys Alt+1–9, Layers tab); not on every new
        image, which would hide "Accepted x; now y" (the Layers tab lists each image's eigenvalues)."""
        layer = self.canvas.layer("eigen")
        said, self._eigen_said = getattr(self, "_eigen_said", None), (layer.index, layer.visible)
        if layer.has_data() and layer.visible and said != self._eigen_said:
            k = layer.shown_index()
            self.set_status(f"Eigenvector {k} (λ = {float(layer.eigenvalues[k]):.4f})")

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
        self.active_class.set_classes(self.store.classes())
        self.tags_panel.refresh()
        self._after_change()

    # ================================================================== active class, hide / show

    def active_class_id(self) -> int | None:
        """The class new segments (prompt, polygon, brush) and Y get; None = no class."""
        return self.active_class.class_id

    def pick_class(self, number: int) -> None:
        """Keys 1–9: the n-th class of the palette; 0 / `: no class."""
        if not self.active_class.pick(number):
            n = len(self.active_class.classes)
            self.set_status(f"No class {number}: the project has {n} class{'es' if n != 1 else ''} "
                            "(add them in the Classes tab)")

    def accept_segments(self) -> None:
        """Y: accept the selected segments; with an active class (and "Apply class on accept" on) label
        them with it in the same undo step."""
        ids, cid = self.segment_panel.selected_ids(), self.active_class_id()
        if ids and cid is not None and self.apply_class_on_accept:
            self.editor.accept_as(ids, cid)
        else:
            self.segment_panel.request("accept")

    def toggle_hidden(self) -> None:
        """H: hide the selected segments on the image; again: show them."""
        shown = self.segments.toggle_visible(self.segment_panel.selected_ids())
        if shown is None:
            self.set_status("Select segments to hide or show (H)")
        else:
            n = len(self.segment_panel.selected_ids())
            self.set_status(f"{'Showing' if shown else 'Hid'} {n} segment(s)" + ("" if shown else " — H shows them"))

    def _on_visibility_changed(self) -> None:
        self.segment_panel.set_hidden(self.segments.hidden)
        self.view.redraw_overlay()

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

    def open_import_dialog(self):
        """File → Import annotations…: the dialog previews the class mapping, then imports as one job."""
        if self.store is None:
            self.set_status("Open a folder first.")
            return None
        from .import_dialog import ImportDialog

        self.import_dialog = ImportDialog(self.bridge, self.store, self)
        self.import_dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.import_dialog.imported.connect(self._after_import)
        self.import_dialog.open()
        return self.import_dialog

    def _after_import(self, report) -> None:
        new = f"; new classes: {', '.join(report.new_classes)}" if report.new_classes else ""
        self.reload_all(f"Imported {report.n_segments} segments on {report.n_images} images (source 'import', "
                        f"Ctrl+Z undoes){new}")
        self._on_classes_changed()
        self.review_bar.refresh_sources()

    def open_train_dialog(self, methods: dict | None = None):
        """Non-modal: curation goes on while a method trains; the job shows in the status bar and keeps
        running when the dialog is closed (Cancel there or in the status bar stops it)."""
        if self.store is None:
            self.set_status("Open a folder first.")
            return None
        from .train_dialog import TrainDialog

        dlg = self.train_dialog
        if dlg is None or (dlg.job is None and (methods is not None or dlg.store is not self.store)):
            if dlg is not None:
                dlg.deleteLater()
            dlg = self.train_dialog = TrainDialog(self.bridge, self.store, self.paths.models, self, methods=methods,
                                                  backbone=self.settings.backbone, jobs=self.jobs)
            dlg.proposalsUpdated.connect(lambda _m: self.refresh_segments())
            dlg.finishedText.connect(self.set_status)
        dlg.show()
        dlg.raise_()
        return dlg

    def closeEvent(self, event) -> None:
        """Close at once: nothing waits for a job that cannot stop (the engine thread is a daemon)."""
        self._save_settings()  # geometry of the visible window
        self.hide()
        self.loader.shutdown()
        self.filmstrip.model_.shutdown()
        self.close_project(wait_s=1.5)  # a cancelled job stops at its next progress call
        self.bridge.shutdown(timeout=0.3)
        super().closeEvent(event)


def freeze_startup_objects() -> None:
    """Move everything alive after start-up (torch, Qt wrappers, modules: ~450k objects) out of the
    cyclic garbage collector's reach. Otherwise every full collection walks them all and freezes
    the GUI for 150–400 ms at unpredictable moments (``benchmarks/bench_gc_pause.py``); these objects
    live as long as the app anyway."""
    import gc

    gc.collect()
    gc.freeze()


def run_app(folder_or_project: str | Path | None = None, backbone: str | None = None, device: str = "auto") -> int:
    """Start the GUI on a folder (or its ``.maskcurator/project.sqlite``); returns the exit code."""
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("MaskCurator")
    app.setStyleSheet(style_sheet())
    win = MainWindow(folder_or_project, device=device, backbone=backbone)
    win.show()
    QTimer.singleShot(0, win.raise_)
    freeze_startup_objects()
    code = app.exec()
    if win.bridge.engine.busy:  # a job that cannot stop (a download): do not linger, do not abort in torch
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code


__all__ = ["MainWindow", "freeze_startup_objects", "run_app"]
