"""The first result of a newly opened image reaches the screen before the full analysis (issue 16).

The engine's ``on_partial`` hook (eigenvectors, box, patch-level object mask, before CRF / matting /
proposals) travels as the job's ``partial`` signal; the window draws it on the eigenvector, box and
"first look" layers at once and replaces it with the final overlays when they arrive.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from tests.test_app import _app_env, _preset  # noqa: E402,F401 (fixture re-used)

TIMEOUT = 90_000


def test_first_look_is_drawn_before_the_full_analysis(qtbot, tmp_path, demo_dir):
    from app.main_window import MainWindow

    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(demo_dir / "chelsea.png", folder / "chelsea.png")
    _preset(folder, crf=True, matting=True)  # the slow tail that the first look must not wait for
    w = MainWindow(folder, device="cpu")
    qtbot.addWidget(w)
    order: list[str] = []
    w.view.firstLookApplied.connect(lambda _i: order.append("first"))
    w.view.analysisApplied.connect(lambda _i: order.append("full"))
    first = w.canvas.layer("first_look")
    seen: dict = {}

    def on_first(_image_id):
        seen["mask"] = first.mask.copy() if first.mask is not None else None
        seen["box"] = w.canvas.layer("box").box
        seen["eigen"] = w.canvas.layer("eigen").has_data()
        seen["segments"] = len(w.view.segments.records)

    w.view.firstLookApplied.connect(on_first)
    with qtbot.waitSignal(w.analysisApplied, timeout=TIMEOUT):
        w.show()
    assert order[:2] == ["first", "full"], order
    assert seen["mask"] is not None and seen["mask"].dtype == bool and seen["mask"].any()
    assert seen["box"] is not None and seen["eigen"]
    assert seen["segments"] == 0  # proposals are stored only with the full result
    # the full result replaced the first look: its layer is empty, the alpha and proposals are there
    assert not first.has_data()
    assert w.canvas.layer("alpha").has_data()
    qtbot.waitUntil(lambda: len(w.view.segments.records) > 0, timeout=10_000)
    assert not w.analysis.partials


def test_partial_results_travel_as_job_signals(qtbot):
    """JobContext.partial → JobHandle.partial, delivered on the GUI thread before ``result``."""
    from app.bridge import EngineBridge

    bridge = EngineBridge("cpu")
    try:
        got: list = []

        def job(ctx):
            ctx.partial(np.arange(3))
            return "done"

        handle = bridge.submit(job, name="t")
        handle.partial.connect(lambda v: got.append(("partial", list(v))))
        handle.result.connect(lambda v: got.append(("result", v)))
        with qtbot.waitSignal(handle.finished, timeout=10_000):
            pass
        assert got == [("partial", [0, 1, 2]), ("result", "done")]
    finally:
        bridge.shutdown()
