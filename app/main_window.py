"""The main window: filmstrip | canvas | segment / layer / class / tag panels, toolbar and status bar.

Threading rule: the GUI thread only reads and writes the project store (cheap single transactions)
and draws. Analysis, clustering, training, prediction and export are engine jobs submitted through
:class:`app.bridge.EngineBridge`; their results come back as queued signals keyed by request id.
"""

from __future__ import annotations

import logging
import os
import sys
from collections import OrderedDict
from dataclasses import asdict, fields, replace
from functools import partial
from pathlib import Path

import numpy as np
from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (QApplication, QDockWidget, QFileDialog, QLabel, QMainWindow, QMessageBox,
                               QProgressBar, QPushButton, QStackedWidget, QToolBar)

from engine.imageio import IMAGE_SUFFIXES, list_images, load_image
from engine.project import ProjectPaths, project_paths

from . import tasks
from .bridge import EngineBridge, RequestRouter
from .canvas import ImageCanvas
from .class_manager import ClassManager, TagsPanel
from .filmstrip import Filmstrip
from .image_loader import DisplayImage, ImageLoader
from .layers_panel import LayersPanel
from .overlays import OverlaySegment, segment_color
from .resources import icon, style_sheet
from .segment_panel import SegmentPanel
from .settings_dialog import BACKBONE_ENV, SettingsDialog

log = logging.getLogger(__name__)

MAX_SIDE_ENV = "MASKCURATOR_MAX_SIDE"
NO_DIALOGS_ENV = "MASKCURATOR_NO_DIALOGS"  # tests / screenshots: record errors instead of opening boxes
_ANALYSIS_LRU = 32


def describe_job_error(message: str) -> tuple[str, str]:
    """(title, text) for a failed engine job; out-of-memory gets its own title and what to do."""
    if "out of memory" in message.lower():
        return ("Out of memory", f"{message}\nTry a smaller analysis size (Preferences → max side), a smaller "
                                 "backbone, or the CPU device (MASKCURATOR_DEVICE=cpu).")
    return "Job failed", message


def _status_str(value) -> str:
    return str(getattr(value, "value", value))


class MainWindow(QMainWindow):
    """One project (image folder) at a time."""

    projectOpened = Signal(str)
    imageShown = Signal(int)  # current image changed (its photo may still be decoding)
    imageDisplayed = Signal(int)  # its photo is on the canvas (decoded off the GUI thread)
    analysisApplied = Signal(int)  # image id whose overlays were just drawn
    storeChanged = Signal()
    errorShown = Signal(str, str)  # title, text
    batchFinished = Signal(object)  # BatchDone summary of "Analyse all"

    def __init__(self, folder: str | Path | None = None, device: str = "auto"):
        super().__init__()
        self.setObjectName("mainWindow")
        self.setWindowTitle("MaskCurator")
        self.setWindowIcon(icon("app"))
        self.bridge = EngineBridge(device, self)
        self.router = RequestRouter(self.bridge, self)
        self.store = None
        self.paths: ProjectPaths | None = None
        self.analysis_cache = None
        self.holder: tasks.AnalyzerHolder | None = None
        self.settings = tasks.Settings()
        self.preferences = tasks.Settings()
        self.current_id: int | None = None
        self.eigen_index = 1
        self.analyses: OrderedDict[int, object] = OrderedDict()
        self.loader = ImageLoader(parent=self)  # photo decoding off the GUI thread, 4-image LRU
        self._displayed_id: int | None = None  # image whose photo is on the canvas (None while loading)
        self._records: list = []
        self._masks: dict[int, np.ndarray] = {}
        self._colors: dict[int, tuple[int, int, int]] = {}
        self._tracked: dict[int, str] = {}  # user-visible jobs (progress bar + Cancel)
        self._analysis_rid: int | None = None
        self._prefetch_rid: int | None = None
        self._batch: dict | None = None
        self._backbone_failed: str | None = None
        self.last_error: tuple[str, str] | None = None
        self._error_box: QMessageBox | None = None
        self._build_ui()
        self._build_actions()
        self.resize(1400, 860)
        if folder is not None:
            self.open_folder(folder)
        else:
            self._show_placeholder("Open an image folder to start (File → Open folder…, Ctrl+O).")

    # ================================================================== UI construction

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
        self.layers_panel = LayersPanel()
        self.class_manager = ClassManager()
        self.tags_panel = TagsPanel()
        self.docks: dict[str, QDockWidget] = {}
        for key, title, widget, area in (
                ("images", "Images", self.filmstrip, Qt.DockWidgetArea.LeftDockWidgetArea),
                ("segments", "Segments", self.segment_panel, Qt.DockWidgetArea.RightDockWidgetArea),
                ("layers", "Layers", self.layers_panel, Qt.DockWidgetArea.RightDockWidgetArea),
                ("classes", "Classes", self.class_manager, Qt.DockWidgetArea.RightDockWidgetArea),
                ("tags", "Image tags", self.tags_panel, Qt.DockWidgetArea.RightDockWidgetArea)):
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
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setFixedWidth(220)
        self.progress_bar.setVisible(False)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("cancelButton")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel_jobs)
        self.image_label = QLabel("")
        self.image_label.setObjectName("imageLabel")
        sb = self.statusBar()
        sb.addWidget(self.status_label, 1)
        sb.addPermanentWidget(self.image_label)
        sb.addPermanentWidget(self.progress_bar)
        sb.addPermanentWidget(self.cancel_button)

        # wiring
        self.filmstrip.imageActivated.connect(self.show_image)
        self.canvas.clicked.connect(self._on_canvas_click)
        self.canvas.strokeFinished.connect(self._on_stroke)
        self.canvas.modeChanged.connect(self._on_mode_changed)
        self.segment_panel.selectionChangedIds.connect(self._on_segment_selection)
        self.segment_panel.actionRequested.connect(self._on_segment_action)
        self.segment_panel.relabelRequested.connect(self._on_relabel)
        self.segment_panel.sourceFilterChanged.connect(lambda _s: self.refresh_segments())
        self.class_manager.classesChanged.connect(self._on_classes_changed)
        self.tags_panel.tagsChanged.connect(lambda *_: self._update_undo_actions())
        lp = self.layers_panel
        lp.visibilityChanged.connect(self.canvas.set_layer_visible)
        lp.opacityChanged.connect(self.canvas.set_layer_opacity)
        lp.eigenIndexChanged.connect(self.set_eigen_index)
        lp.colormapChanged.connect(self.canvas.set_colormap)
        lp.contoursChanged.connect(self._set_contours)
        lp.brushRadiusChanged.connect(self.canvas.set_brush_radius)
        self.bridge.started.connect(self._on_job_started)
        self.bridge.progress.connect(self._on_job_progress)
        self.bridge.finished.connect(self._on_job_finished)
        self.bridge.message.connect(lambda _rid, text: self.set_status(text))
        self.loader.loaded.connect(self._on_image_loaded)
        self.loader.failed.connect(self._on_image_failed)
        self.layers_panel.sync(self.canvas, self.eigen_index, "viridis")

    def _action(self, text: str, slot, shortcuts=(), tip: str = "", checkable: bool = False) -> QAction:
        act = QAction(text, self)
        if shortcuts:
            act.setShortcuts([QKeySequence(s) for s in shortcuts])
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if checkable:
            act.setCheckable(True)
            act.toggled.connect(slot)
        else:
            act.triggered.connect(lambda _=False: slot())
        keys = ", ".join(QKeySequence(s).toString(QKeySequence.SequenceFormat.NativeText) for s in shortcuts)
        act.setToolTip(f"{tip or text} ({keys})" if keys else (tip or text))
        self.addAction(act)  # window-wide shortcuts even when the toolbar is hidden
        return act

    def _build_actions(self) -> None:
        K = Qt.Key
        a = self.actions_ = {}
        a["open"] = self._action("Open folder…", self._open_dialog, ["Ctrl+O"])
        a["prev"] = self._action("Previous", self.prev_image, [QKeySequence(K.Key_Left), "A"], "Previous image")
        a["next"] = self._action("Next", self.next_image, [QKeySequence(K.Key_Right), "D"], "Next image")
        a["next_todo"] = self._action("Next to-do", self.next_todo, ["N"], "Next image still to review")
        a["accept_image"] = self._action("Accept image", self.accept_image,
                                         [QKeySequence(K.Key_Return), QKeySequence(K.Key_Enter)],
                                         "Mark the image reviewed/accepted and go to the next to-do")
        a["reject_image"] = self._action("Reject image", self.reject_image,
                                         [QKeySequence(K.Key_Backspace), QKeySequence(K.Key_Delete)],
                                         "Reject the whole image (excluded from export) and go on")
        a["undo"] = self._action("Undo", self.undo, ["Ctrl+Z"])
        a["redo"] = self._action("Redo", self.redo, ["Ctrl+Shift+Z", "Ctrl+Y"])
        a["brush"] = self._action("Brush", lambda on: self._toggle_mode("brush", on), ["B"],
                                  "Paint into the selected segment (new segment if none)", checkable=True)
        a["erase"] = self._action("Erase", lambda on: self._toggle_mode("erase", on), ["E"],
                                  "Erase from the selected segment", checkable=True)
        a["view_mode"] = self._action("Select / pan", lambda: self.canvas.set_mode("view"), ["Escape"])
        a["merge"] = self._action("Merge", lambda: self.segment_panel.request("merge"), ["M"],
                                  "Merge the selected segments")
        a["accept_segments"] = self._action("Accept segments", lambda: self.segment_panel.request("accept"), ["Y"])
        a["reject_segments"] = self._action("Reject segments", lambda: self.segment_panel.request("reject"), ["X"])
        a["radius_down"] = self._action("Smaller brush", lambda: self._bump_radius(1 / 1.25), ["["])
        a["radius_up"] = self._action("Larger brush", lambda: self._bump_radius(1.25), ["]"])
        a["analyse_all"] = self._action("Analyse all", self.analyse_all, ["Ctrl+R"],
                                        "Analyse every image and cluster the dataset (DSM)")
        a["reanalyse"] = self._action("Re-analyse image", lambda: self.request_analysis(self.current_id, replace=True),
                                      ["Ctrl+Shift+R"], "Recompute this image and replace its open proposals")
        a["train"] = self._action("Train…", self.open_train_dialog, ["Ctrl+T"], "Train STEGO / ReDO / IAL")
        a["export"] = self._action("Export…", self.open_export_dialog, ["Ctrl+E"], "Export COCO / semantic PNGs")
        a["settings"] = self._action("Preferences…", self.open_settings_dialog, ["Ctrl+,"])
        for k in range(1, 10):
            a[f"eigen{k}"] = self._action(f"Eigenvector {k}", partial(self.set_eigen_index, k), [str(k)])

        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        tb.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for key in ("open", None, "prev", "next", "next_todo", None, "accept_image", "reject_image", None,
                    "undo", "redo", None, "brush", "erase", "merge", None, "analyse_all", "train", "export",
                    "settings"):
            if key is None:
                tb.addSeparator()
            else:
                tb.addAction(a[key])
        self.addToolBar(tb)
        menu = self.menuBar()
        for title, keys in (("&File", ("open", "export", "settings")),
                            ("&Edit", ("undo", "redo", "merge", "accept_segments", "reject_segments")),
                            ("&Review", ("prev", "next", "next_todo", "accept_image", "reject_image")),
                            ("&Tools", ("brush", "erase", "view_mode", "radius_down", "radius_up")),
                            ("&Analysis", ("analyse_all", "reanalyse", "train"))):
            m = menu.addMenu(title)
            for key in keys:
                m.addAction(a[key])
        self._update_undo_actions()

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
        from engine.pipeline import AnalysisStore
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
        self.analysis_cache = AnalysisStore(paths.analysis_cache)
        self.holder = tasks.AnalyzerHolder(paths.feature_cache)
        self._load_settings()
        self.class_manager.set_store(store)
        self.tags_panel.set_store(store)
        self.segment_panel.set_classes(store.classes())
        records = store.images()
        self.filmstrip.model_.set_records(records)
        self.setWindowTitle(f"MaskCurator — {paths.folder.name}")
        bad = [r for r in records if r.error]
        if not records:
            self._show_placeholder(f"No images in {paths.folder}.")
        msg = f"Opened {paths.folder} — {len(records)} images"
        if bad:
            msg += f"; {len(bad)} could not be read (marked in the list)"
        self.set_status(msg)
        self.projectOpened.emit(str(paths.folder))
        first = store.next_image_id(None, "todo") or store.next_image_id(None, None)
        if first is not None:
            self.show_image(first)
        elif records:
            self.show_image(records[0].id)
        self._update_undo_actions()
        return True

    def close_project(self) -> None:
        if self.store is None:
            return
        self._save_settings()
        self.bridge.cancel_all()
        self.bridge.engine.wait_idle(timeout=30)
        self.store.close()
        self.store = None
        self.current_id = None
        self.analyses.clear()
        self.loader.clear()
        self._displayed_id = None
        self._records = []
        self._masks.clear()
        self._batch = None
        self.canvas.set_image(None)
        self.filmstrip.model_.set_records([])
        self.segment_panel.set_segments([], {})
        self.class_manager.set_store(None)
        self.tags_panel.set_store(None)

    def resolve(self, record) -> Path:
        return Path(record.path)

    # ================================================================== settings

    def _load_settings(self) -> None:
        st = self.store
        base = tasks.Settings()
        values = {}
        for f in fields(base):
            v = st.get_setting(f"analysis.{f.name}", getattr(base, f.name))
            values[f.name] = type(getattr(base, f.name))(v)
        self.preferences = tasks.Settings(**values)  # what is persisted
        self.settings = self.preferences  # what runs: preferences + environment overrides
        if os.environ.get(BACKBONE_ENV):
            self.settings = replace(self.settings, backbone=os.environ[BACKBONE_ENV])
        if os.environ.get(MAX_SIDE_ENV):
            self.settings = replace(self.settings, max_side=int(os.environ[MAX_SIDE_ENV]))
        self.eigen_index = int(st.get_setting("view.eigen_index", 1))
        layers = st.get_setting("view.layers", {}) or {}
        for name, state in layers.items():
            try:
                self.canvas.set_layer_visible(name, bool(state.get("visible", True)))
                self.canvas.set_layer_opacity(name, float(state.get("opacity", 1.0)))
            except (ValueError, AttributeError):
                continue
        self.canvas.set_brush_radius(float(st.get_setting("view.brush_radius", self.canvas.brush_radius)))
        self.canvas.contours = bool(st.get_setting("view.contours", True))
        cmap = st.get_setting("view.colormap", "viridis")
        self.canvas.set_colormap(cmap)
        self.layers_panel.sync(self.canvas, self.eigen_index, cmap)
        geom = st.get_setting("view.geometry")
        if geom:
            self.restoreGeometry(QByteArray.fromHex(geom.encode()))

    def _save_settings(self) -> None:
        st = self.store
        if st is None:
            return
        try:
            for name, value in asdict(self.preferences).items():
                st.set_setting(f"analysis.{name}", value)
            st.set_setting("view.eigen_index", self.eigen_index)
            st.set_setting("view.layers", {n: {"visible": self.canvas.layer_visible(n),
                                               "opacity": self.canvas.layer_opacity(n)}
                                           for n in ("eigen", "segments", "alpha", "box")})
            st.set_setting("view.brush_radius", self.canvas.brush_radius)
            st.set_setting("view.contours", self.canvas.contours)
            st.set_setting("view.colormap", self.layers_panel.colormap.currentText())
            st.set_setting("view.geometry", bytes(self.saveGeometry().toHex()).decode())
        except Exception:  # never lose the close because a preference could not be written
            log.exception("could not save settings")

    def apply_settings(self, settings: tasks.Settings) -> None:
        """New analysis settings: drop in-memory analyses and re-analyse the current image."""
        changed = settings != self.settings
        self.settings = settings  # an explicit choice in the dialog wins over the environment
        self.preferences = settings
        if self.store is not None:
            self._save_settings()
        if changed:
            self._backbone_failed = None
            self.analyses.clear()
            if self.current_id is not None:
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
        self.current_id = image_id
        self.filmstrip.select_image(image_id)
        self.tags_panel.set_image(image_id)
        self.image_label.setText(f"{Path(rec.path).name}  {rec.width}×{rec.height}  [{_status_str(rec.status)}]")
        error = rec.error or self.filmstrip.model_.error_of(image_id)
        self._displayed_id = None
        if error:
            self.loader.cancel()
            self._clear_canvas()
            self._show_placeholder(f"Cannot read {Path(rec.path).name}:\n{error}")
            self.imageShown.emit(image_id)
            return
        self.stack.setCurrentWidget(self.canvas)
        if image_id not in self.analyses:
            self.request_analysis(image_id)  # runs on the engine while the photo decodes
        cached = self.loader.cached(image_id)
        if cached is not None:
            self.loader.cancel()
            self._display(cached)
        else:
            # decoding (big JPEGs: seconds) happens on the loader thread; the overlays of the previous
            # image must not stay clickable meanwhile
            self._clear_canvas()
            self.set_status(f"Loading {Path(rec.path).name}…")
            self.loader.request(image_id, self.resolve(rec))
        self.imageShown.emit(image_id)

    def _clear_canvas(self) -> None:
        self.canvas.set_image(None)
        self._records, self._masks = [], {}
        self.segment_panel.set_segments([], {})

    def _display(self, img: DisplayImage) -> None:
        """Put a decoded photo on the canvas, then its segments and (if known) its analysis."""
        self.canvas.set_image(img.rgb, img.full_hw)
        self._displayed_id = img.image_id
        self.refresh_segments(keep_selection=False)
        analysis = self.analyses.get(img.image_id)
        if analysis is not None:
            self._apply_analysis(analysis)
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
        self._mark_unreadable(image_id, reason)
        if image_id == self.current_id:
            self.show_image(image_id)  # now known unreadable: shows the placeholder

    def _load_rgb(self, rec) -> np.ndarray:
        """Decode a photo synchronously at full resolution (tests / tools only: the GUI path decodes
        on the loader thread)."""
        return load_image(self.resolve(rec))

    def _ids(self) -> list[int]:
        return [r.id for r in self.filmstrip.model_.records()]

    def _step(self, delta: int) -> None:
        ids = self._ids()
        if not ids:
            return
        i = ids.index(self.current_id) if self.current_id in ids else -delta
        self.show_image(ids[(i + delta) % len(ids)])

    def prev_image(self) -> None:
        self._step(-1)

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

    def request_analysis(self, image_id: int | None, replace: bool = False, prefetch: bool = False) -> int | None:
        if self.store is None or image_id is None:
            return None
        if self._backbone_failed == self.settings.backbone:
            if not prefetch:
                self.set_status(f"Backbone {self.settings.backbone} is not available; change it in Preferences.")
            return None
        rec = self.store.image(image_id)
        if rec.error:
            return None
        path = self.resolve(rec)
        fn = partial(tasks.analyze_image, holder=self.holder, cache=self.analysis_cache, store=self.store,
                     image_id=image_id, path=path, settings=self.settings.spectral(), replace=replace)
        if prefetch:
            rid = self.bridge.submit(fn, name=f"prefetch {path.name}", channel="prefetch", priority=10)
            self._prefetch_rid = rid
        else:
            rid = self.bridge.submit(fn, name=f"analyse {path.name}", channel="analyse-current", priority=0)
            self._analysis_rid = rid
            self._tracked[rid] = f"Analysing {path.name}"
            self._update_progress_widgets()
        self.router.on(rid, result=self._on_analysis, error=self._on_analysis_error)
        return rid

    def _on_analysis_error(self, message: str, tb: str) -> None:
        """An analysis job raised (GPU out of memory on a CPU-only retry, a solver failure, …).

        The job writes proposals only after the analysis succeeded, so the store is untouched; say so.
        """
        title, text = describe_job_error(message)
        self.show_error(title, text + "\nNothing was written to the project; the image can still be "
                                      "curated by hand or re-analysed (Ctrl+Shift+R).")

    def _on_analysis(self, res) -> None:
        if isinstance(res, tasks.AnalysisFailed):
            if res.kind == "backbone":
                if self._backbone_failed != self.settings.backbone:
                    self._backbone_failed = self.settings.backbone
                    self.show_error("Backbone could not be loaded", res.message)
            else:
                self._mark_unreadable(res.image_id, res.message)
                if res.image_id == self.current_id:
                    self.show_image(res.image_id)
            return
        self.analyses[res.image_id] = res.analysis
        self.analyses.move_to_end(res.image_id)
        while len(self.analyses) > _ANALYSIS_LRU:
            self.analyses.popitem(last=False)
        if res.image_id == self.current_id:
            if self._displayed_id == res.image_id:  # else _display applies it once the photo is decoded
                if res.wrote_proposals:
                    self.refresh_segments()
                self._apply_analysis(res.analysis)
            how = "loaded from the analysis cache" if res.cached else f"analysed in {res.seconds:.1f} s"
            self.set_status(f"{Path(res.analysis.path).name} {how}")
            nid = self.store.next_image_id(self.current_id, "todo") if self.store else None
            if nid is not None and nid not in self.analyses:
                self.request_analysis(nid, prefetch=True)

    def _apply_analysis(self, a) -> None:
        k = min(max(self.eigen_index, 1), len(a.eigenvectors) - 1)
        self.canvas.set_eigenvector(a.eigenvectors[k], getattr(a, "cell_hw", None))
        self.canvas.set_alpha(a.alpha)
        self.canvas.set_box(a.box)
        vals = ", ".join(f"{v:.3f}" for v in np.asarray(a.eigenvalues)[1:6])
        self.layers_panel.info.setText(f"Eigenvalues λ1–λ5: {vals}\nPatch grid {a.grid_hw[0]}×{a.grid_hw[1]}")
        self.analysisApplied.emit(self.current_id)

    def set_eigen_index(self, k: int) -> None:
        self.eigen_index = int(k)
        if self.layers_panel.eigen_index.value() != k:
            self.layers_panel.eigen_index.blockSignals(True)
            self.layers_panel.eigen_index.setValue(k)
            self.layers_panel.eigen_index.blockSignals(False)
        if not self.canvas.layer_visible("eigen"):
            self.canvas.set_layer_visible("eigen", True)
            self.layers_panel.sync(self.canvas, self.eigen_index, self.layers_panel.colormap.currentText())
        a = self.analyses.get(self.current_id) if self.current_id is not None else None
        if a is not None:
            kk = min(k, len(a.eigenvectors) - 1)
            self.canvas.set_eigenvector(a.eigenvectors[kk], getattr(a, "cell_hw", None))
            self.set_status(f"Eigenvector {kk} (λ = {float(a.eigenvalues[kk]):.4f})")

    def _mark_unreadable(self, image_id: int, reason: str) -> None:
        self.filmstrip.model_.set_error(image_id, reason)
        if self.store is not None:
            try:
                self.store.set_image_error(image_id, reason)
                self.filmstrip.model_.update_record(self.store.image(image_id))
            except Exception:
                log.exception("could not record image error")

    def analyse_all(self) -> list[int]:
        """Analyse every readable image in chunks (one engine job each), then cluster the dataset."""
        if self.store is None:
            return []
        if self._batch is not None:
            self.set_status("Analyse all is already running.")
            return []
        items = [(r.id, self.resolve(r)) for r in self.store.images() if not r.error]
        if not items:
            self.set_status("No readable images to analyse.")
            return []
        settings = self.settings.spectral()
        chunk = 4
        self._batch = {"total": len(items), "done": 0, "rids": [], "failures": [], "analysed": 0,
                       "cancelled": False, "sizes": {}}
        rids = []
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            fn = partial(tasks.analyze_batch, holder=self.holder, cache=self.analysis_cache, store=self.store,
                         items=part, settings=settings, batch_size=chunk)
            rid = self.bridge.submit(fn, name="analyse all", priority=5)
            self._batch["sizes"][rid] = len(part)
            self.router.on(rid, result=self._on_batch_chunk, error=self._on_batch_error,
                           cancelled=self._on_batch_cancelled)
            rids.append(rid)
        if self.settings.n_clusters > 0:
            fn = partial(tasks.cluster_all, cache=self.analysis_cache, store=self.store, items=items,
                         settings=settings, n_clusters=self.settings.n_clusters)
            rid = self.bridge.submit(fn, name="cluster dataset", priority=6)
            self.router.on(rid, result=self._on_batch_clustered, error=self._on_batch_error,
                           cancelled=self._on_batch_cancelled)
            rids.append(rid)
        self._batch["rids"] = rids
        for rid in rids:
            self._tracked[rid] = "Analyse all"
        self._update_progress_widgets()
        return rids

    def _on_batch_chunk(self, res) -> None:
        b = self._batch
        if b is None:
            return
        if isinstance(res, tasks.AnalysisFailed):
            self._on_analysis(res)
            self._cancel_batch()
            return
        b["done"] += res.n_images
        b["analysed"] += res.n_analysed
        for image_id, reason in res.failures:
            self._mark_unreadable(image_id, reason)
            b["failures"].append((image_id, reason))
        self.set_status(f"Analyse all: {b['done']}/{b['total']} images")
        self.refresh_segments()
        if self.settings.n_clusters <= 0 and b["done"] >= b["total"]:
            self._finish_batch(0)

    def _on_batch_clustered(self, k: int) -> None:
        self._finish_batch(k)

    def _finish_batch(self, k: int) -> None:
        b, self._batch = self._batch, None
        if b is None:
            return
        summary = tasks.BatchDone(b["total"], b["analysed"], tuple(b["failures"]), k, 0.0)
        text = f"Analysed {b['analysed']}/{b['total']} images"
        if k:
            text += f", clustered into {k} classes (source dsm.semantic)"
        if b["failures"]:
            text += f"; {len(b['failures'])} unreadable"
        self.set_status(text)
        self.refresh_segments()
        self.batchFinished.emit(summary)

    def _on_batch_error(self, message: str, tb: str) -> None:
        self._cancel_batch()
        self._on_job_error(message, tb)

    def _on_batch_cancelled(self) -> None:
        b = self._batch
        if b is not None and not b["cancelled"]:
            self._cancel_batch()
            self.set_status("Analyse all cancelled.")

    def _cancel_batch(self) -> None:
        b, self._batch = self._batch, None
        if b is None:
            return
        b["cancelled"] = True
        for rid in b["rids"]:
            self.bridge.cancel(rid)

    # ================================================================== jobs: progress / cancel

    def _on_job_started(self, rid: int, name: str) -> None:
        if rid in self._tracked:
            self._update_progress_widgets()

    def _on_job_progress(self, rid: int, frac: float, msg: str) -> None:
        if rid not in self._tracked:
            return
        b = self._batch
        if b is not None and rid in b["rids"]:
            chunk_frac = (b["done"] + frac * b["sizes"].get(rid, 0)) / max(b["total"], 1)
            # monotonic: a chunk's sub-steps restart at 0, the dataset's progress never goes back
            self.progress_bar.setValue(max(self.progress_bar.value(), int(min(chunk_frac, 1.0) * 100)))
        else:
            self.progress_bar.setValue(int(frac * 100))
        if msg:
            self.set_status(msg)

    def _on_job_finished(self, rid: int) -> None:
        if self._tracked.pop(rid, None) is not None:
            self._update_progress_widgets()

    def _update_progress_widgets(self) -> None:
        busy = bool(self._tracked)
        self.progress_bar.setVisible(busy)
        self.cancel_button.setEnabled(busy)
        if not busy:
            self.progress_bar.setValue(0)

    def cancel_jobs(self) -> None:
        """The status bar's Cancel: stops every user-visible job (queued ones are dropped)."""
        if self._batch is not None:
            self._cancel_batch()
            self.set_status("Analyse all cancelled.")
        for rid in list(self._tracked):
            self.bridge.cancel(rid)

    def _on_job_error(self, message: str, _tb: str) -> None:
        self.show_error(*describe_job_error(message))

    # ================================================================== segments

    def refresh_segments(self, keep_selection: bool = True) -> None:
        """Reload the current image's segments from the store into the panel and the overlay."""
        if (self.store is None or self.current_id is None or self.canvas.image_shape is None
                or self._displayed_id != self.current_id):
            return
        all_recs = self.store.segments(self.current_id)
        self.segment_panel.set_sources([r.source for r in all_recs])
        source = self.segment_panel.source_filter()
        recs = [r for r in all_recs if source is None or r.source == source]
        classes = {c.id: tuple(c.color) for c in self.store.classes()}
        self._colors = {}
        for i, r in enumerate(recs):
            if r.class_id is not None and r.class_id in classes:
                self._colors[r.id] = classes[r.class_id]
            else:
                self._colors[r.id] = segment_color(r.source, r.label, i)
        self._masks = {r.id: self.store.segment_mask(r.id) for r in recs}
        self._records = recs
        self.segment_panel.set_segments(recs, self._colors, keep_selection=keep_selection)
        self._redraw_overlay()

    def _redraw_overlay(self) -> None:
        recs = getattr(self, "_records", [])
        selected = set(self.segment_panel.selected_ids())
        # big first so small segments stay visible/clickable on top; the selection is drawn last
        order = sorted(recs, key=lambda r: (r.id in selected, -r.area))
        overlay = [OverlaySegment(self._masks[r.id], self._colors[r.id], r.id in selected,
                                  _status_str(r.state) == "rejected") for r in order if r.id in self._masks]
        self.canvas.set_segments(overlay, [r.id for r in order if r.id in self._masks])
        self._update_edit_target()

    def _update_edit_target(self) -> None:
        sel = self.segment_panel.selected_ids()
        shape = self.canvas.image_shape
        if len(sel) == 1 and sel[0] in self._masks:
            self.canvas.set_edit_target(sel[0], self._masks[sel[0]])
        elif shape is not None:
            self.canvas.set_edit_target(None, np.zeros(shape, bool))  # brush on nothing = new segment

    def _on_segment_selection(self, _ids: list) -> None:
        self._redraw_overlay()

    def _on_canvas_click(self, x: float, y: float) -> None:
        sid = self.canvas.segment_at(x, y)
        self.segment_panel.select_ids([sid] if sid is not None else [])

    def _mutate(self, description: str, fn, *args):
        """Run one store action (= one undo step); report failures in the status bar, never raise."""
        if self.store is None:
            return None
        try:
            result = fn(*args)
        except Exception as exc:
            self.show_error(f"{description} failed", str(exc))
            return None
        self.set_status(description)
        self._after_change()
        return result

    def _after_change(self) -> None:
        if self.store is None:
            return
        if self.current_id is not None:
            self.filmstrip.model_.update_record(self.store.image(self.current_id))
        self.refresh_segments()
        self._update_undo_actions()
        self.storeChanged.emit()

    def _on_segment_action(self, action: str, ids: list) -> None:
        st = self.store
        if st is None or not ids:
            return
        if action == "accept":
            self._mutate(f"Accepted {len(ids)} segment(s)", st.set_segments_state, ids, "accepted")
        elif action == "reject":
            self._mutate(f"Rejected {len(ids)} segment(s)", st.set_segments_state, ids, "rejected")
        elif action == "merge":
            if len(ids) < 2:
                return
            rec = self._mutate(f"Merged {len(ids)} segments", st.merge_segments, ids)
            if rec is not None:
                self.segment_panel.select_ids([rec.id])
        elif action == "delete":  # one transaction + one undo step for the whole selection
            self._mutate(f"Deleted {len(ids)} segment(s)", st.delete_segments, ids)

    def _on_relabel(self, ids: list, class_id) -> None:
        if self.store is None or not ids:
            return
        name = "unlabelled" if class_id is None else next(
            (c.name for c in self.store.classes() if c.id == class_id), str(class_id))
        self._mutate(f"Relabelled {len(ids)} segment(s) as {name}", self.store.set_segments_class, ids, class_id)

    def _on_stroke(self, mask: np.ndarray, erase: bool) -> None:
        target = self.canvas.edit_target
        if target is None:
            if erase or not mask.any():
                return
            rec = self._mutate("Painted a new segment", self.store.add_segment, self.current_id, mask)
            if rec is not None:
                self.segment_panel.select_ids([rec.id])
            return
        self._mutate("Erased from segment" if erase else "Painted into segment",
                     self.store.update_segment_mask, target, mask)

    def _toggle_mode(self, mode: str, on: bool) -> None:
        if on:
            self.canvas.set_mode(mode)
        elif self.canvas.mode == mode:
            self.canvas.set_mode("view")

    def _on_mode_changed(self, mode: str) -> None:
        for key in ("brush", "erase"):
            act = self.actions_[key]
            act.blockSignals(True)
            act.setChecked(mode == key)
            act.blockSignals(False)
        hint = {"brush": "Brush: drag to paint into the selected segment (none selected → new segment)",
                "erase": "Erase: drag to remove pixels from the selected segment",
                "view": "Select / pan"}[mode]
        self.set_status(hint)

    def _bump_radius(self, factor: float) -> None:
        self.canvas.set_brush_radius(max(1.0, round(self.canvas.brush_radius * factor)))
        self.layers_panel.sync(self.canvas, self.eigen_index, self.layers_panel.colormap.currentText())

    def _set_contours(self, on: bool) -> None:
        self.canvas.contours = bool(on)
        self._redraw_overlay()

    def _on_classes_changed(self) -> None:
        if self.store is None:
            return
        self.segment_panel.set_classes(self.store.classes())
        self.tags_panel.refresh()
        self._after_change()

    # ================================================================== review + undo

    def _set_image_status(self, status: str) -> None:
        if self.store is None or self.current_id is None:
            return
        done = self.current_id
        self._mutate(f"Image {status}", self.store.set_image_status, done, status)
        self.filmstrip.model_.update_record(self.store.image(done))
        if not self.next_todo():
            self.show_image(done)

    def accept_image(self) -> None:
        self._set_image_status("accepted")

    def reject_image(self) -> None:
        self._set_image_status("rejected")

    def _after_undo_redo(self, what: str, desc: str | None) -> None:
        if desc is None:
            self.set_status(f"Nothing to {what}.")
            return
        self.set_status(f"{what.capitalize()}: {desc}")
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
            self._after_undo_redo("undo", self.store.undo())

    def redo(self) -> None:
        if self.store is not None:
            self._after_undo_redo("redo", self.store.redo())

    def _update_undo_actions(self) -> None:
        a = getattr(self, "actions_", None)
        if not a:
            return
        st = self.store
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

        dlg = ExportDialog(self.bridge, self.store, self.paths.root / "exports", self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.open()
        self.export_dialog = dlg
        return dlg

    def open_train_dialog(self, methods: dict | None = None):
        if self.store is None:
            self.set_status("Open a folder first.")
            return None
        from .train_dialog import TrainDialog

        dlg = TrainDialog(self.bridge, self.store, self.paths.models, self, methods=methods)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.proposalsUpdated.connect(lambda _m: self.refresh_segments())
        dlg.open()
        self.train_dialog = dlg
        return dlg

    # ================================================================== shutdown

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
