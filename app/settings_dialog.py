"""Preferences: backbone (hub name, random_* name, or a checkpoint file) and analysis settings.

The backbone is only *named* here; it is loaded on the engine thread by the next analysis job. A load
failure (hub unreachable, bad checkpoint) comes back as a BackboneLoadError message in a dialog.
"""

from __future__ import annotations

import os
from dataclasses import replace

from PySide6.QtWidgets import (QCheckBox, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QLabel, QPushButton, QSpinBox, QVBoxLayout, QWidget)

from engine.backbone import available_backbones

from engine.curation import CurationSettings as Settings

from . import user_settings

BACKBONE_ENV = "MASKCURATOR_BACKBONE"


class SettingsDialog(QDialog):
    def __init__(self, settings: Settings, device_text: str = "", parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Preferences")
        self.setObjectName("settingsDialog")
        self.backbone = QComboBox()
        self.backbone.setEditable(True)
        self.backbone.addItems(available_backbones())
        self.backbone.setCurrentText(settings.backbone)
        self.backbone.setToolTip("A DINO/DINOv2 hub name (needs internet once), 'filters' where available "
                                 "(offline, no weights), a random_* name (no download; meaningless "
                                 "segments), or a local checkpoint file. New projects start from it.")
        browse = QPushButton("Checkpoint file…")
        browse.clicked.connect(self._browse)
        row = QHBoxLayout()
        row.addWidget(self.backbone, 1)
        row.addWidget(browse)
        self.max_side = QSpinBox()
        self.max_side.setRange(64, 4096)
        self.max_side.setSingleStep(32)
        self.max_side.setValue(settings.max_side)
        self.n_segments = QSpinBox()
        self.n_segments.setRange(2, 32)
        self.n_segments.setValue(settings.n_segments)
        self.n_clusters = QSpinBox()
        self.n_clusters.setRange(0, 200)
        self.n_clusters.setValue(settings.n_clusters)
        self.n_clusters.setToolTip("Dataset-wide clusters for 'Analyse all' (0 = skip clustering)")
        self.prefetch = QSpinBox()
        self.prefetch.setRange(0, 20)
        self.prefetch.setValue(user_settings.prefetch_count())
        self.prefetch.setToolTip("To-do images analysed ahead of the one you are looking at (0 = none)")
        self.crf = QCheckBox("Dense-CRF refinement of the object mask")
        self.crf.setChecked(settings.crf)
        self.matting = QCheckBox("Matting alpha (finer object boundary overlay)")
        self.matting.setChecked(settings.matting)
        self.subfolders = QCheckBox("Include subfolders when opening a folder")
        self.subfolders.setChecked(user_settings.include_subfolders())
        self.subfolders.setToolTip("Also add the images of every subfolder (hidden folders are skipped); a "
                                   "project opened this way keeps scanning its subfolders")
        form = QFormLayout()
        form.addRow("Backbone", row)
        form.addRow("Max image side", self.max_side)
        form.addRow("Segments per image", self.n_segments)
        form.addRow("Dataset clusters", self.n_clusters)
        form.addRow("Analyse ahead", self.prefetch)
        form.addRow("", self.crf)
        form.addRow("", self.matting)
        form.addRow("", self.subfolders)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        if os.environ.get(BACKBONE_ENV):
            note = QLabel(f"Note: {BACKBONE_ENV}={os.environ[BACKBONE_ENV]} is set and overrides the backbone.")
            note.setWordWrap(True)
            note.setObjectName("hint")
            lay.addWidget(note)
        if device_text:
            lay.addWidget(QLabel(f"Compute device: {device_text}"))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(buttons)
        self._base = settings

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Backbone checkpoint", "",
                                              "Checkpoints (*.pth *.pt *.bin *.safetensors);;All files (*)")
        if path:
            self.backbone.setCurrentText(path)

    def save_user_settings(self) -> None:
        """What belongs to the user, not the project (QSettings)."""
        user_settings.set_prefetch_count(self.prefetch.value())
        user_settings.set_include_subfolders(self.subfolders.isChecked())

    def result_settings(self) -> Settings:
        return replace(self._base, backbone=self.backbone.currentText().strip() or self._base.backbone,
                       max_side=self.max_side.value(), n_segments=self.n_segments.value(),
                       n_clusters=self.n_clusters.value(), crf=self.crf.isChecked(),
                       matting=self.matting.isChecked())
