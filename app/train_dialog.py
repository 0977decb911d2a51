"""Train a trainable method (STEGO, ReDO, IAL …) as an engine job, then run it on the dataset.

The form is generated from the method's config dataclass (``engine.configs.config_fields``) and
parsed back with ``engine.configs.build_config`` – the same parser the CLI's ``--set k=v`` uses – so
the GUI and the CLI can never disagree about a setting's type.
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtGui import QIntValidator
from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit,
                               QProgressBar, QPushButton, QScrollArea, QVBoxLayout, QWidget)

from engine import curation
from engine.configs import build_config, config_fields
from engine.methods.base import TrainingSet, trainable_methods

from .bridge import EngineBridge


def _text(value) -> str:
    if value is None:
        return "none"
    if isinstance(value, (tuple, list)):
        return ",".join(str(v) for v in value)
    return str(value)


class TrainDialog(QDialog):
    """Non-modal: training and predicting run on the engine while the user keeps curating. The job is
    also tracked in the window's status bar (``jobs``), so closing the dialog only hides it: the job
    goes on, its end is reported in the status line (``finishedText``), and Cancel (here or in the
    status bar) stops it."""

    proposalsUpdated = Signal(str)  # method name, after "Run on dataset" stored proposals
    trained = Signal(str, object)  # method name, checkpoint path
    finishedText = Signal(str)  # a job of this dialog ended: one line for the status bar

    def __init__(self, bridge: EngineBridge, store, models_dir: Path, parent: QWidget | None = None,
                 methods: dict | None = None, backbone: str | None = None, jobs=None):
        super().__init__(parent)
        self.setModal(False)
        self.backbone, self.jobs = backbone, jobs  # the project's backbone: the form starts from it
        self.setWindowTitle("Train a method")
        self.setObjectName("trainDialog")
        self.setMinimumWidth(480)
        self.resize(540, 620)
        self.bridge, self.store, self.models_dir = bridge, store, Path(models_dir)
        self.methods = methods if methods is not None else trainable_methods()
        self.method = QComboBox()
        for name, info in self.methods.items():
            self.method.addItem(info.title, name)
        self.method.currentIndexChanged.connect(self._rebuild_form)
        self.description = QLabel("")
        self.description.setWordWrap(True)
        self.description.setObjectName("hint")
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.editors: dict[str, QWidget] = {}
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.train_btn = QPushButton("Start training")
        self.train_btn.clicked.connect(self.start_training)
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        self.cancel_btn.clicked.connect(self.cancel)
        self.run_btn = QPushButton("Run on dataset")
        self.run_btn.setEnabled(False)
        self.run_btn.clicked.connect(self.run_on_dataset)
        close = QPushButton("Close")
        close.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        for b in (self.train_btn, self.cancel_btn, self.run_btn):
            buttons.addWidget(b)
        buttons.addStretch(1)
        buttons.addWidget(close)
        lay = QVBoxLayout(self)
        top = QFormLayout()
        top.addRow("Method", self.method)
        lay.addLayout(top)
        lay.addWidget(self.description)
        scroll = QScrollArea()  # STEGO has ~30 settings: keep the dialog on screen
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form_host)
        scroll.setMinimumHeight(260)
        lay.addWidget(scroll, 1)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        self.job = None  # JobHandle of the training / prediction in flight
        self.checkpoint: Path | None = None
        self.last_error: str | None = None
        self.last_result = None
        if not self.methods:
            self.status.setText("No trainable methods are installed in this build.")
            self.train_btn.setEnabled(False)
        self._rebuild_form()

    # -- form ----------------------------------------------------------------------------------------

    def current_info(self):
        name = self.method.currentData()
        return self.methods.get(name) if name else None

    def _rebuild_form(self) -> None:
        while self.form.rowCount():
            self.form.removeRow(0)
        self.editors.clear()
        info = self.current_info()
        if info is None:
            return
        self.description.setText(info.description + ("\nNeeds image-level tags (Tags panel)." if info.needs_tags else ""))
        for spec in config_fields(info.config_type):
            if spec.type is bool:
                w = QCheckBox()
                w.setChecked(bool(spec.default))
            else:
                w = QLineEdit(_text(spec.default))
                if spec.type is int:
                    w.setValidator(QIntValidator())
            w.setToolTip(f"{spec.name}: {getattr(spec.type, '__name__', str(spec.type))} "
                         f"(default {_text(spec.default)})")
            self.form.addRow(spec.name, w)
            self.editors[spec.name] = w
        if self.backbone and isinstance(self.editors.get("backbone"), QLineEdit):
            self.editors["backbone"].setText(self.backbone)  # what the project analyses with
        self.checkpoint = None
        self.run_btn.setEnabled(False)

    def set_value(self, name: str, value) -> None:
        w = self.editors[name]
        if isinstance(w, QCheckBox):
            w.setChecked(bool(value))
        else:
            w.setText(_text(value))

    def build_config(self):
        """The config dataclass from the form; raises ValueError with a readable message."""
        info = self.current_info()
        defaults = {s.name: s for s in config_fields(info.config_type)}
        overrides = {}
        for name, w in self.editors.items():
            default = defaults[name].default
            if isinstance(w, QCheckBox):
                if w.isChecked() != bool(default):
                    overrides[name] = "true" if w.isChecked() else "false"
            elif w.text().strip() != _text(default):
                overrides[name] = w.text().strip()
        return build_config(info.config_type, overrides)

    # -- jobs ----------------------------------------------------------------------------------------

    def training_set(self) -> TrainingSet:
        return curation.training_set(self.store)

    def start_training(self):
        info = self.current_info()
        if info is None:
            return None
        try:
            cfg = self.build_config()
        except (ValueError, TypeError) as exc:
            return self._fail(str(exc))
        tset = self.training_set()
        if not tset.images:
            return self._fail("No readable, non-rejected images to train on.")
        if info.needs_tags and not any(img.tags for img in tset.images):
            return self._fail(f"{info.title} needs image-level tags: tick the classes present in some "
                              "images in the Tags panel first.")
        workdir = self.models_dir / f"{info.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        fn = partial(curation.run_training, method=info, training_set=tset, config=cfg, workdir=workdir)
        return self._submit(fn, f"train {info.name}", self._on_trained)

    def run_on_dataset(self):
        info = self.current_info()
        if info is None or self.checkpoint is None:
            return self._fail("Train the method (or pick a checkpoint) first.")
        items = curation.prediction_items(self.store)
        fn = partial(curation.predict_into_store, info=info, checkpoint=self.checkpoint, store=self.store,
                     items=items)
        return self._submit(fn, f"predict {info.name}", self._on_predicted)

    def set_checkpoint(self, path: Path) -> None:
        self.checkpoint = Path(path)
        self.run_btn.setEnabled(True)

    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def done(self, result: int) -> None:
        """Closing hides the dialog; a running job goes on (status bar: progress and Cancel)."""
        if self.job is not None:
            self.finishedText.emit(f"{self.job.name} goes on in the background (status bar: progress, Cancel).")
        super().done(result)

    def _submit(self, fn, name: str, on_result):
        self.last_error = None
        self.progress.setValue(0)
        self.status.setText(f"{name}…")
        self.train_btn.setEnabled(False)
        self.run_btn.setEnabled(False)
        self.cancel_btn.setEnabled(True)
        self._lock_form(True)
        self.job = job = self.bridge.submit(fn, name=name)
        if self.jobs is not None:
            self.jobs.track(job, task=f"train-{id(self)}", title=name)
        job.progress.connect(self._on_progress)
        job.result.connect(on_result)
        job.error.connect(lambda msg, _tb: self._fail(msg))
        job.cancelled.connect(self._on_cancelled)
        return job

    def _lock_form(self, busy: bool) -> None:
        """While a job runs the method and its settings are fixed: switching the method mid-training
        would pair one method's checkpoint with another method's predictor."""
        self.method.setEnabled(not busy)
        self.form_host.setEnabled(not busy)

    def _idle(self) -> None:
        self.job = None
        self._lock_form(False)
        self.cancel_btn.setEnabled(False)
        self.train_btn.setEnabled(bool(self.methods))
        self.run_btn.setEnabled(self.checkpoint is not None)

    def _on_progress(self, frac: float, msg: str) -> None:
        self.progress.setValue(int(frac * 100))
        if msg:
            self.status.setText(msg)

    def _on_trained(self, checkpoint) -> None:
        self.checkpoint = Path(checkpoint)
        self._idle()
        self.progress.setValue(100)
        self.status.setText(f"Trained: {self.checkpoint}")
        self.finishedText.emit(f"{self.current_info().title} trained ({self.checkpoint.name}); "
                               "Analysis → Train… → Run on dataset adds its proposals.")
        self.trained.emit(self.current_info().name, self.checkpoint)

    def _on_predicted(self, done) -> None:
        self.last_result = done
        self._idle()
        self.progress.setValue(100)
        text = f"{done.n_proposals} proposals stored on {done.n_images} images"
        if done.failures:
            text += f"; {len(done.failures)} images failed"
        self.status.setText(text)
        self.finishedText.emit(f"{self.current_info().title}: {text}.")
        self.proposalsUpdated.emit(done.method)

    def _on_cancelled(self) -> None:
        self._idle()
        self.status.setText("Cancelled.")
        self.finishedText.emit("Training cancelled.")

    def _fail(self, message: str) -> None:
        self.last_error = message
        running = self.job is not None
        self._idle()
        self.status.setText(f"Error: {message}")
        if running:
            self.finishedText.emit(f"Training failed: {message}")
        return None

