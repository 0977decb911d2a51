"""Import dialog (File → Import annotations…, Ctrl+I): format, file or folder, mapping preview, import.

Why two engine jobs: reading a large COCO file and matching it to the project takes seconds, so the
preview (:func:`engine.curation.imports.plan_import`) runs on the engine thread like the import itself
(:func:`engine.curation.imports.run_import`, what ``main.py import`` runs). The person sees which
classes are reused and which are created, how many images matched and how many segments come in, may
rename or leave out a class (the table's "Project class" column; empty = not imported), and the import
writes exactly the previewed plan as one undo step. Failures are one line in the dialog.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QFileDialog, QFormLayout, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QProgressBar, QPushButton, QTableWidget,
                               QTableWidgetItem, QVBoxLayout, QWidget)

from engine.curation.imports import import_formats, plan_import, run_import

from .bridge import EngineBridge

COLUMNS = ("Source class", "Project class", "Segments", "")


def _first_line(text: str) -> str:
    return (text or "").strip().splitlines()[0] if (text or "").strip() else "failed"


class ImportDialog(QDialog):
    """``imported(ImportReport)`` after a successful import; ``planned(ImportPlan)`` after each preview."""

    imported = Signal(object)
    planned = Signal(object)
    failed = Signal(str)

    def __init__(self, bridge: EngineBridge, store, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Import annotations")
        self.setObjectName("importDialog")
        self.setMinimumSize(600, 460)
        self.bridge, self.store = bridge, store
        self.plan = None
        self.job = None  # the running preview or import JobHandle
        self.class_map: dict[str, str | None] = {}
        self._filling = False
        self.format = QComboBox()
        self.format.setObjectName("importFormat")
        for f in import_formats():
            self.format.addItem(f.title, f.name)
            self.format.setItemData(self.format.count() - 1, f.description, Qt.ItemDataRole.ToolTipRole)
        self.path = QLineEdit()
        self.path.setObjectName("importPath")
        self.path.setPlaceholderText("annotation file or folder")
        self.browse_file = QPushButton("File…")
        self.browse_folder = QPushButton("Folder…")
        self.browse_file.clicked.connect(self._browse_file)
        self.browse_folder.clicked.connect(self._browse_folder)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.browse_file)
        row.addWidget(self.browse_folder)
        self.description = QLabel("")
        self.description.setObjectName("hint")
        self.description.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("From", row)
        form.addRow("", self.description)
        self.summary = QLabel("Choose a file or folder to see what would be imported.")
        self.summary.setObjectName("importSummary")
        self.summary.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("importMapping")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                   | QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QAbstractItemView.EditTrigger.SelectedClicked)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        self.table.setToolTip("Double-click a project class to rename where a source class goes; empty = "
                              "do not import that class")
        self.table.itemChanged.connect(self._on_item_changed)
        self.details = QLabel("")
        self.details.setObjectName("hint")
        self.details.setWordWrap(True)
        self.error = QLabel("")
        self.error.setObjectName("importError")
        self.error.setStyleSheet("color: #ff8787")
        self.error.setWordWrap(True)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.import_button = QPushButton("Import")
        self.import_button.setObjectName("importButton")
        self.import_button.setDefault(True)
        self.import_button.setEnabled(False)
        self.import_button.clicked.connect(self.start_import)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.clicked.connect(self._cancel_or_close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.progress, 1)
        buttons.addWidget(self.import_button)
        buttons.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.summary)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.details)
        lay.addWidget(self.error)
        lay.addLayout(buttons)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(400)
        self._debounce.timeout.connect(self.preview)
        self.format.currentIndexChanged.connect(self._on_format)
        self.path.textChanged.connect(lambda _t: self._debounce.start())
        self._on_format()

    # -- choosing ----------------------------------------------------------------------------------

    def current_format(self):
        name = self.format.currentData()
        return next(f for f in import_formats() if f.name == name)

    def set_source(self, fmt: str, path: str | Path) -> None:
        """Choose format and path from code (tests, drag and drop later); previews at once."""
        self.format.setCurrentIndex(self.format.findData(fmt))
        self.path.setText(str(path))
        self._debounce.stop()
        self.preview()

    def _on_format(self) -> None:
        f = self.current_format()
        self.description.setText(f.description)
        self.browse_file.setVisible(f.target in ("file", "file_or_folder"))
        self.browse_folder.setVisible(f.target in ("folder", "file_or_folder"))
        self.class_map = {}
        if self.path.text().strip():
            self._debounce.start()

    def _start_dir(self) -> str:
        text = self.path.text().strip()
        return str(Path(text).parent) if text else str(self.store.image_root)

    def _browse_file(self) -> None:
        f = self.current_format()
        path, _ = QFileDialog.getOpenFileName(self, f"Import {f.title}", self._start_dir(),
                                              f"{f.file_filter};;All files (*)" if f.file_filter else "")
        if path:
            self.path.setText(path)

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, f"Import {self.current_format().title}", self._start_dir())
        if path:
            self.path.setText(path)

    # -- preview -----------------------------------------------------------------------------------

    def preview(self) -> None:
        """Plan the import on the engine thread (the latest request wins)."""
        text = self.path.text().strip()
        self.plan = None
        self.import_button.setEnabled(False)
        if not text or (self.job is not None and self.job.name == "Import"):
            return
        if self.job is not None:
            self.job.cancel()
        fmt, store, class_map = self.format.currentData(), self.store, dict(self.class_map)
        self.error.setText("")
        self.summary.setText(f"Reading {Path(text).name}…")
        job = self.bridge.submit(lambda ctx: plan_import(store, fmt, text, class_map=class_map, ctx=ctx),
                                 name="Import preview", channel="import-preview")
        self.job = job
        job.result.connect(lambda plan, j=job: self._on_plan(j, plan))
        job.error.connect(lambda msg, _tb, j=job: self._on_failed(j, msg))
        job.finished.connect(lambda j=job: self._job_done(j))

    def _on_plan(self, job, plan) -> None:
        if job is not self.job:
            return
        self.plan = plan
        self._fill(plan)
        self.import_button.setEnabled(plan.n_segments > 0)
        self.planned.emit(plan)

    def _fill(self, plan) -> None:
        new, existing = plan.new_classes, plan.existing_classes
        images = sum(1 for m in plan.images if m.n_segments)
        self.summary.setText(
            f"{plan.n_segments:,} segments on {images:,} of the project's images; "
            f"{len(plan.unmatched):,} annotated images not in the project. "
            f"Classes: {len(existing)} existing, {len(new)} new"
            + (f"; {plan.n_unlabelled} unlabelled segments" if plan.n_unlabelled else "") + ".")
        self._filling = True
        try:
            self.table.setRowCount(len(plan.classes))
            for row, c in enumerate(plan.classes):
                src = QTableWidgetItem(c.source)
                src.setFlags(Qt.ItemFlag.ItemIsEnabled)
                target = QTableWidgetItem(c.target or "")
                target.setData(Qt.ItemDataRole.UserRole, c.source)
                n = QTableWidgetItem(f"{c.n_segments:,}")
                n.setFlags(Qt.ItemFlag.ItemIsEnabled)
                n.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                what = "not imported" if c.target is None else ("new" if c.is_new else "existing")
                kind = QTableWidgetItem(what)
                kind.setFlags(Qt.ItemFlag.ItemIsEnabled)
                kind.setForeground(Qt.GlobalColor.green if what == "new" else
                                   Qt.GlobalColor.gray if what == "not imported" else Qt.GlobalColor.white)
                for col, item in enumerate((src, target, n, kind)):
                    self.table.setItem(row, col, item)
        finally:
            self._filling = False
        lines = []
        if plan.unmatched:
            more = f" … (+{len(plan.unmatched) - 5})" if len(plan.unmatched) > 5 else ""
            lines.append(f"Not in the project: {', '.join(plan.unmatched[:5])}{more}")
        if plan.skipped:
            lines.append(f"Skipped: {'; '.join(plan.skipped[:3])}" + (" …" if len(plan.skipped) > 3 else ""))
        self.details.setText("\n".join(lines))
        self.details.setToolTip("\n".join(plan.summary_lines(limit=50)))

    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 1:
            return
        source = item.data(Qt.ItemDataRole.UserRole)
        text = item.text().strip()
        self.class_map[source] = text or None
        self.preview()

    # -- import ------------------------------------------------------------------------------------

    def start_import(self):
        """Write the previewed plan (one undo step) on the engine thread."""
        if self.plan is None or self.plan.n_segments == 0 or self.job is not None:
            return None
        plan, store = self.plan, self.store
        self.error.setText("")
        self.progress.setValue(0)
        self.progress.setFormat("Importing…")
        self.progress.show()
        self.import_button.setEnabled(False)
        self.table.setEnabled(False)
        self.cancel_button.setText("Cancel")
        job = self.job = self.bridge.submit(lambda ctx: run_import(ctx, store=store, plan=plan), name="Import",
                                            channel="import")
        job.progress.connect(lambda f, msg: (self.progress.setValue(int(f * 1000)), self.progress.setFormat(msg)))
        job.result.connect(self._on_imported)
        job.error.connect(lambda msg, _tb, j=job: self._on_failed(j, msg))
        job.cancelled.connect(lambda: self.summary.setText("Import cancelled; nothing was written."))
        job.finished.connect(lambda j=job: self._job_done(j))
        return job

    def _on_imported(self, report) -> None:
        self.progress.setValue(1000)
        self.progress.setFormat(f"Imported {report.n_segments} segments")
        self.imported.emit(report)
        self.accept()

    def _on_failed(self, job, message: str) -> None:
        if job is not self.job:
            return
        line = _first_line(message)
        self.error.setText(line)
        self.summary.setText("Nothing imported.")
        self.failed.emit(line)

    def _job_done(self, job) -> None:
        if job is not self.job:
            return
        self.job = None
        self.progress.hide()
        self.table.setEnabled(True)
        self.cancel_button.setText("Close")
        self.import_button.setEnabled(self.plan is not None and self.plan.n_segments > 0)

    def _cancel_or_close(self) -> None:
        if self.job is not None and self.job.name == "Import":
            self.job.cancel()  # stops before the write (a single transaction: all or nothing)
            return
        if self.job is not None:
            self.job.cancel()
        self.reject()
