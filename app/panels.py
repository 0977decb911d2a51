"""The window's widgets and their arrangement: canvas and placeholder in the centre, the panels in
docks, status line and job progress in the status bar. Built once; the window only wires them."""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QStackedWidget, QVBoxLayout, QWidget

from .canvas import ImageCanvas
from .class_manager import ClassManager, TagsPanel
from .filmstrip import Filmstrip
from .jobs_indicator import JobsIndicator
from .layers_panel import LayersPanel
from .review_bar import ReviewBar
from .segment_panel import SegmentPanel


@dataclass
class Panels:
    canvas: ImageCanvas = None
    placeholder: QLabel = None
    stack: QStackedWidget = None
    filmstrip: Filmstrip = None
    review_bar: ReviewBar = None
    segment_panel: SegmentPanel = None
    layers_panel: LayersPanel = None
    class_manager: ClassManager = None
    tags_panel: TagsPanel = None
    status_label: QLabel = None
    image_label: QLabel = None
    docks: dict = field(default_factory=dict)


def build_panels(window: QMainWindow, jobs: JobsIndicator) -> Panels:
    p = Panels()
    p.canvas = ImageCanvas()
    p.placeholder = QLabel()
    p.placeholder.setObjectName("placeholder")
    p.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
    p.placeholder.setWordWrap(True)
    p.stack = QStackedWidget()
    p.stack.addWidget(p.canvas)
    p.stack.addWidget(p.placeholder)
    window.setCentralWidget(p.stack)
    p.filmstrip = Filmstrip()
    p.review_bar = ReviewBar(p.filmstrip)
    images = QWidget()
    images.setObjectName("imagesPanel")
    col = QVBoxLayout(images)
    col.setContentsMargins(0, 0, 0, 0)
    col.setSpacing(0)
    col.addWidget(p.review_bar)
    col.addWidget(p.filmstrip, 1)
    p.segment_panel = SegmentPanel()
    p.layers_panel = LayersPanel(p.canvas)
    p.class_manager = ClassManager()
    p.tags_panel = TagsPanel()
    left, right = Qt.DockWidgetArea.LeftDockWidgetArea, Qt.DockWidgetArea.RightDockWidgetArea
    for key, title, widget, area in (("images", "Images", images, left),
                                     ("segments", "Segments", p.segment_panel, right),
                                     ("layers", "Layers", p.layers_panel, right),
                                     ("classes", "Classes", p.class_manager, right),
                                     ("tags", "Image tags", p.tags_panel, right)):
        dock = QDockWidget(title, window)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable
                         | QDockWidget.DockWidgetFeature.DockWidgetFloatable)
        window.addDockWidget(area, dock)
        p.docks[key] = dock
    window.tabifyDockWidget(p.docks["layers"], p.docks["classes"])
    window.tabifyDockWidget(p.docks["classes"], p.docks["tags"])
    p.docks["layers"].raise_()
    window.resizeDocks([p.docks["images"]], [260], Qt.Orientation.Horizontal)
    window.resizeDocks([p.docks["segments"]], [400], Qt.Orientation.Horizontal)
    p.status_label = QLabel("")
    p.status_label.setObjectName("statusLabel")
    p.image_label = QLabel("")
    p.image_label.setObjectName("imageLabel")
    sb = window.statusBar()
    sb.addWidget(p.status_label, 1)
    sb.addPermanentWidget(p.image_label)
    sb.addPermanentWidget(jobs.label)
    sb.addPermanentWidget(jobs.bar)
    sb.addPermanentWidget(jobs.cancel_button)
    return p
