"""Export dialog: one entry per registered export format, run as an engine job.

The dialog never writes files itself: it builds an :class:`engine.curation.ExportRequest`, submits
:func:`engine.curation.run_export` (what ``main.py export`` runs) and shows the returned ExportReport –
or the ExportError message – inline. Formats, their options and default names come from the registry.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass, replace
from functools import partial
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFileDialog, QFormLayout, QFrame, QHBoxLayout,
                               QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from engine.curation import ExportRequest, export_formats, run_export
from engine.curation.export import check_export_target
from engine.export.report import ExportError, ExportTargetExists

from .bridge import EngineBridge

IMAGE_FILTERS = {  # the first is the default: what the user has reviewed and accepted
    "Accepted images only": ("accepted",),
    "All images except rejected": ("todo", "accepted"),
    "All images": None,
}


def describe_report(report) -> str:
    """Readable summary of an ExportReport (whatever fields the exporter adds)."""
    if report is None:
        return ""
    parts = []
    n_ann, n_img = getattr(report, "n_annotations", None), getattr(report, "n_images", None)
    if n_ann is not None and n_img is not None:
        parts.append(f"Exported {n_ann} annotations on {n_img} images"
                     + (f" ({report.n_categories} categories)" if hasattr(report, "n_categories") else ""))
    if hasattr(report, "path"):
        parts.append(f"to {report.path}")
    skipped = list(getattr(report, "skipped", ()) or ())
    if skipped:
        parts.append(f"\nSkipped {len(skipped)}: " + "; ".join(map(str, skipped[:5]))
                     + (" …" if len(skipped) > 5 else ""))
    if not parts and is_dataclass(report):
        parts = [f"{f.name}: {getattr(report, f.name)}" for f in fields(report)]
    return " ".join(parts) if parts else str(report)


class ExportDialog(QDialog):
    exported = Signal(object)  # ExportReport

    def __init__(self, bridge: EngineBridge, store, default_dir: Path, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Export")
        self.setObjectName("exportDialog")
        self.setMinimumWidth(520)
        self.bridge, self.store = bridge, store
        self.default_dir = Path(default_dir)
        self.formats = {f.name: f for f in export_formats()}
        self.format = QComboBox()
        for f in self.formats.values():
            self.format.addItem(f.title, f.name)
        self.format.setCurrentIndex(max(self.format.findData("coco"), 0))
        self.format.currentIndexChanged.connect(self._on_format)
        self.out = QLineEdit(str(self.default_dir / self._fmt().default_name))
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out, 1)
        out_row.addWidget(browse)
        self.state_accepted = QCheckBox("accepted")
        self.state_accepted.setChecked(True)
        self.state_proposed = QCheckBox("proposed (not yet reviewed)")
        states = QHBoxLayout()
        states.addWidget(self.state_accepted)
        states.addWidget(self.state_proposed)
        states.addStretch(1)
        self.image_filter = QComboBox()
        self.image_filter.addItems(list(IMAGE_FILTERS))
        self.image_filter.setCurrentIndex(0)
        self.polygons = QCheckBox("Polygons instead of RLE (holes are lost)")
        self.include_unlabelled = QCheckBox("Include unlabelled segments (as category 'object')")
        form = QFormLayout()
        form.addRow("Format", self.format)
        form.addRow("Output", out_row)
        form.addRow("Segments", states)
        form.addRow("Images", self.image_filter)
        form.addRow("", self.polygons)
        form.addRow("", self.include_unlabelled)
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setVisible(False)
        self.warning = QLabel("")  # what the chosen filter would include that the user may not expect
        self.warning.setObjectName("warningLabel")
        self.warning.setWordWrap(True)
        self.report_label = QLabel("")
        self.report_label.setWordWrap(True)
        self.report_label.setObjectName("reportLabel")
        self.report_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        report = QScrollArea()  # a long report (hundreds of skipped files) scrolls; it never squashes the form
        report.setWidgetResizable(True)
        report.setFrameShape(QFrame.Shape.NoFrame)
        report.setWidget(self.report_label)
        report.setMinimumHeight(48)
        report.setMaximumHeight(180)
        self.export_btn = QPushButton("Export")
        self.export_btn.setDefault(True)
        self.export_btn.clicked.connect(self.start_export)
        self.close_btn = QPushButton("Close")
        self.close_btn.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_btn)
        buttons.addWidget(self.close_btn)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.warning)
        lay.addWidget(self.progress)
        lay.addWidget(report, 1)
        lay.addLayout(buttons)
        self.job = None
        self.last_report = None
        self.last_error: str | None = None
        for box in (self.state_accepted, self.state_proposed, self.include_unlabelled):
            box.toggled.connect(self.update_warning)
        self.image_filter.currentIndexChanged.connect(self.update_warning)
        self._on_format()

    # -- form ----------------------------------------------------------------------------------------

    def _fmt(self):
        return self.formats[self.format.currentData()]

    def _on_format(self) -> None:
        fmt = self._fmt()
        self.polygons.setEnabled("polygons" in fmt.options)
        self.include_unlabelled.setEnabled("include_unlabelled" in fmt.options)
        self.update_warning()
        current = Path(self.out.text() or self.default_dir)
        folder = current.parent if current.suffix else current
        if current.name != fmt.default_name:
            self.out.setText(str(folder / fmt.default_name))

    def _browse(self) -> None:
        fmt = self._fmt()
        if fmt.target == "file":
            path, _ = QFileDialog.getSaveFileName(self, fmt.title, self.out.text(), fmt.file_filter or "")
        else:
            path = QFileDialog.getExistingDirectory(self, "Output folder", str(self.default_dir))
        if path:
            self.out.setText(path)

    def request(self) -> ExportRequest:
        states = tuple(s for s, box in (("accepted", self.state_accepted), ("proposed", self.state_proposed))
                       if box.isChecked())
        return ExportRequest(format=self.format.currentData(), out=Path(self.out.text()).expanduser(),
                             states=states, image_status=IMAGE_FILTERS[self.image_filter.currentText()],
                             polygons=self.polygons.isChecked(),
                             include_unlabelled=self.include_unlabelled.isChecked())

    def update_warning(self) -> None:
        """Counts of what the chosen images would bring in unnoticed: images nobody reviewed, and
        images exported without any annotation (no segment in the chosen states / with a class)."""
        if self.store is None:
            return
        statuses = IMAGE_FILTERS[self.image_filter.currentText()]
        states = [s for s, box in (("accepted", self.state_accepted), ("proposed", self.state_proposed))
                  if box.isChecked()]
        labelled_only = not (self.include_unlabelled.isEnabled() and self.include_unlabelled.isChecked())
        images = [r for r in self.store.images() if not r.error
                  and (statuses is None or str(getattr(r.status, "value", r.status)) in statuses)]
        todo = sum(str(getattr(r.status, "value", r.status)) == "todo" for r in images)
        empty = sum(not any(s.class_id is not None or not labelled_only
                            for s in self.store.segments(r.id, states=states)) for r in images)
        lines = []
        if todo:
            lines.append(f"{todo} image{'s' if todo != 1 else ''} not reviewed yet (to do) "
                         f"{'are' if todo != 1 else 'is'} included.")
        if empty and states:
            what = "accepted" if statuses == ("accepted",) else "exported"
            lines.append(f"{empty} {what} image{'s have' if empty != 1 else ' has'} no {' or '.join(states)} "
                         f"segments{' with a class' if labelled_only else ''}: written without annotations.")
        self.warning.setText("⚠ " + " ".join(lines) if lines else "")
        self.warning.setVisible(bool(lines))

    # -- run -----------------------------------------------------------------------------------------

    def start_export(self):
        """Submit the export; returns its job handle (None when the form is incomplete)."""
        states = tuple(s for s, box in (("accepted", self.state_accepted), ("proposed", self.state_proposed))
                       if box.isChecked())
        if not states:
            self._show_error("Choose at least one segment state to export.")
            return None
        if not self.out.text().strip():
            self._show_error("Choose an output path.")
            return None
        req = self.request()
        try:
            check_export_target(self.store, self._fmt(), req)
        except ExportTargetExists as exc:  # a foreign file / folder: replace only if the user says so
            if not self.confirm_replace(str(exc)):
                self._show_error(str(exc))
                return None
            req = replace(req, force=True)
        except ExportError as exc:  # never replaceable (an image of the project, its data)
            self._show_error(str(exc))
            return None
        self.last_report, self.last_error = None, None
        self.export_btn.setEnabled(False)
        self.progress.setVisible(True)
        self.progress.setValue(0)
        self.report_label.setText("Exporting…")
        self.job = self.bridge.submit(partial(run_export, store=self.store, request=req), name="export")
        self.job.progress.connect(lambda frac, _msg: self.progress.setValue(int(frac * 100)))
        self.job.result.connect(self._on_result)
        self.job.error.connect(self._on_error)
        self.job.cancelled.connect(self._on_cancelled)
        return self.job

    def _on_result(self, report) -> None:
        self.last_report = report
        self.export_btn.setEnabled(True)
        self.progress.setValue(100)
        self.report_label.setProperty("error", False)
        self.report_label.setText(describe_report(report))
        self.exported.emit(report)

    def confirm_replace(self, message: str) -> bool:
        """Ask before an export replaces something that is not a previous export of this kind."""
        answer = QMessageBox.question(self, "Replace existing file?", f"{message}\n\nReplace it?",
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    def _on_error(self, message: str, _tb: str) -> None:
        # "export failed: <ExportError message>": drop the job-name prefix the engine adds
        self._show_error(message.split("failed: ", 1)[-1])

    def _on_cancelled(self) -> None:
        self.export_btn.setEnabled(True)
        self.report_label.setText("Export cancelled.")

    def _show_error(self, text: str) -> None:
        self.last_error = text
        self.export_btn.setEnabled(True)
        self.progress.setVisible(False)
        self.report_label.setProperty("error", True)
        self.report_label.setText(f"Export failed: {text}")
