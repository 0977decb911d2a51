"""The Qt binding keeps Python's reference counts: PySide6 6.12.0 dropped a reference to None on
every void call (``QLabel.setText``, ``processEvents`` …), so after ~10k GUI calls the interpreter
aborted with "Fatal Python error: none_dealloc" — in a person's session, in benchmarks and at the end
of long GUI test runs. constraints.txt pins a release without it; this catches a bump back."""

from __future__ import annotations

import sys

import pytest

pytest.importorskip("pytestqt")


def test_void_qt_calls_keep_the_reference_count_of_none(qapp):
    from PySide6.QtWidgets import QLabel

    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(2000):
        label.setText("x")
        qapp.processEvents()
    assert abs(sys.getrefcount(None) - before) < 100, sys.getrefcount(None) - before
