"""The Prompt tool driven as a person would: real mouse events on the canvas of the real window.

A horse photo with its ground-truth mask (../shared/data/weizmann_horse) is the image; clicks are
placed by the standard click simulator (first click deep inside the object, next ones in the larger
error region), so the test also checks that each click moves the preview towards the object.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import QPoint, QPointF, Qt  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402

from test_app import _app_env, key, open_window  # noqa: E402,F401

TIMEOUT = 90_000
HORSE = "horse005"


@pytest.fixture
def horse_folder(tmp_path, shared_data) -> tuple[Path, np.ndarray]:
    from PIL import Image

    src = shared_data / "weizmann_horse"
    d = tmp_path / "horses"
    d.mkdir()
    image = next((src / "images").glob(f"{HORSE}.*"))
    shutil.copy(image, d / image.name)
    gt = np.asarray(Image.open(src / "masks" / f"{HORSE}.png").convert("L")) > 127
    return d, gt


def _viewport_point(canvas, x: float, y: float):
    """Image pixel → viewport widget pixel through the ViewBox transform."""
    return canvas.view_widget.mapFromScene(canvas.view.mapViewToScene(QPointF(x, y)))


def _click(qtbot, w, x: float, y: float, positive: bool):
    """One real mouse click on the canvas; returns the PromptDone the preview shows afterwards."""
    vp = w.canvas.view_widget.viewport()
    at = _viewport_point(w.canvas, x, y)
    button = Qt.MouseButton.LeftButton if positive else Qt.MouseButton.RightButton
    QTest.mouseMove(vp, at)
    qtbot.wait(20)
    with qtbot.waitSignal(w.prompt.previewed, timeout=TIMEOUT) as sig:
        QTest.mouseClick(vp, button, Qt.KeyboardModifier.NoModifier, at)
    return sig.args[0]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max((a | b).sum(), 1))


def click_sequence(qtbot, w, gt: np.ndarray, n: int, shots: Path | None = None,
                   start: np.ndarray | None = None) -> list[float]:
    """``n`` simulator clicks through the GUI (after the preview ``start``); IoU of the preview after
    each (and a screenshot)."""
    from engine.prompts.clicks import next_click

    pred = np.zeros_like(gt) if start is None else start
    ious = []
    for i in range(n):
        c = next_click(pred, gt)
        if c is None:
            break
        done = _click(qtbot, w, c.x + 0.5, c.y + 0.5, c.positive)
        pred = done.mask
        assert pred.shape == gt.shape and w.canvas.layer("prompt").mask is pred
        ious.append(_iou(pred, gt))
        if shots is not None:
            qtbot.wait(50)
            w.grab().save(str(shots / f"prompt_{i + 1}_clicks.png"))
    return ious


def test_clicks_preview_and_enter_commits_one_segment(qtbot, horse_folder):
    folder, gt = horse_folder
    w = open_window(qtbot, folder)
    st = w.store
    key(qtbot, w, Qt.Key.Key_P)
    assert w.canvas.mode == "prompt" and w.actions_["prompt"].isChecked()
    ious = click_sequence(qtbot, w, gt, 2)
    prior = w.canvas.layer("prompt").mask.copy()  # the 2nd click's answer is the prior of the 3rd
    ious += click_sequence(qtbot, w, gt, 1, start=prior)
    assert len(ious) == 3
    assert ious[-1] > 0.5 and ious[-1] > ious[0], ious  # the clicks lead towards the horse
    preview = w.canvas.layer("prompt").mask.copy()
    # what the GUI shows is exactly the engine's answer to the prompts it collected from the mouse
    from engine.imageio import load_image
    from engine.prompts import PromptContext, refine

    prompts = w.prompt.prompts
    assert len(prompts.positive) + len(prompts.negative) == 3
    rgb = load_image(next(folder.glob(f"{HORSE}.*")))
    assert np.array_equal(refine(rgb, PromptContext.build(rgb), prompts, previous=prior).mask, preview)
    n_before = len(st.segments(w.current_id))
    undo_before = st.undo_description()
    key(qtbot, w, Qt.Key.Key_Return)  # commits the prompt, does not accept the image
    added = [s for s in st.segments(w.current_id, source="prompt")]
    assert len(st.segments(w.current_id)) == n_before + 1 and len(added) == 1
    assert np.array_equal(st.segment_mask(added[0].id), preview)
    assert st.image(w.current_id).status == "todo"
    assert w.canvas.layer("prompt").mask is None  # the preview is cleared after the commit
    key(qtbot, w, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # one undo step
    assert st.segments(w.current_id, source="prompt") == [] and st.undo_description() == undo_before


def test_box_drag_escape_and_refining_a_selected_segment(qtbot, horse_folder):
    folder, gt = horse_folder
    w = open_window(qtbot, folder)
    st, c = w.store, w.canvas
    w.class_manager.add_class("horse")
    horse = next(cl for cl in st.classes() if cl.name == "horse")
    key(qtbot, w, Qt.Key.Key_P)
    ys, xs = np.nonzero(gt)
    vp = c.view_widget.viewport()
    h, wd = gt.shape
    a = _viewport_point(c, max(xs.min() - 3, 1), max(ys.min() - 3, 1))
    b = _viewport_point(c, min(xs.max() + 3, wd - 2), min(ys.max() + 3, h - 2))
    QTest.mouseMove(vp, a)  # hover first: the overlay accepts drags in prompt mode
    qtbot.wait(20)
    with qtbot.waitSignal(w.prompt.previewed, timeout=TIMEOUT) as sig:
        QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, a)
        for t in np.linspace(0, 1, 8)[1:]:
            QTest.mouseMove(vp, QPoint(round(a.x() + (b.x() - a.x()) * t), round(a.y() + (b.y() - a.y()) * t)))
            qtbot.wait(5)
        QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, b)
    box_mask = sig.args[0].mask
    assert w.prompt.prompts.box is not None and _iou(box_mask, gt) > 0.5
    x0, y0, x1, y1 = w.prompt.prompts.box
    outside = np.ones_like(gt)
    outside[int(y0):int(y1) + 1, int(x0):int(x1) + 1] = False
    assert not (box_mask & outside).any()  # nothing outside the box
    key(qtbot, w, Qt.Key.Key_Escape)  # discards the prompts, stays in prompt mode
    assert w.prompt.prompts.is_empty and c.layer("prompt").mask is None and c.mode == "prompt"
    # refine an existing proposal: select it, click, pick a class, Enter replaces its mask (one step)
    seg = st.segments(w.current_id, source="dsm.object")[0]
    w.segment_panel.select_ids([seg.id])
    assert w.prompt.target == seg.id
    w.prompt.class_combo.setCurrentIndex(w.prompt.class_combo.findData(horse.id))
    cy, cx = np.argwhere(gt)[len(np.argwhere(gt)) // 2]
    done = _click(qtbot, w, float(cx), float(cy), True)
    n = len(st.segments(w.current_id))
    key(qtbot, w, Qt.Key.Key_Return)
    assert len(st.segments(w.current_id)) == n  # refined in place, not added
    assert np.array_equal(st.segment_mask(seg.id), done.mask)
    assert st.segment(seg.id).class_id == horse.id


def test_a_photo_larger_than_its_overlay_previews_small_and_commits_full_resolution(qtbot, tmp_path, horse_folder):
    """Above 2048 px the preview is computed at the overlay's size (the per-pixel work of a click
    shrinks with it); Enter stores the same prompts' mask at full resolution."""
    import cv2
    from PIL import Image

    src, gt = horse_folder
    rgb = np.asarray(Image.open(next(src.glob(f"{HORSE}.*"))).convert("RGB"))
    h, wd = gt.shape
    size = (3000, round(3000 * h / wd))
    big = tmp_path / "big"
    big.mkdir()
    Image.fromarray(cv2.resize(rgb, size, interpolation=cv2.INTER_CUBIC)).save(big / "horse_big.png")
    gt_big = cv2.resize(gt.view(np.uint8), size, interpolation=cv2.INTER_NEAREST).view(bool)
    w = open_window(qtbot, big)
    st = w.store
    key(qtbot, w, Qt.Key.Key_P)
    over = w.canvas.overlay_shape
    assert over[1] == 2048 and w.canvas.image_shape == gt_big.shape
    cy, cx = np.unravel_index(np.argmax(cv2.distanceTransform(gt_big.view(np.uint8), cv2.DIST_L2, 5)), gt_big.shape)
    first = _click(qtbot, w, float(cx), float(cy), True).mask
    from engine.prompts.clicks import next_click

    small_gt = cv2.resize(gt_big.view(np.uint8), (over[1], over[0]), interpolation=cv2.INTER_NEAREST).view(bool)
    c = next_click(first, small_gt)  # the second click corrects the first preview (its ``previous``)
    sx, sy = gt_big.shape[1] / over[1], gt_big.shape[0] / over[0]
    preview = _click(qtbot, w, (c.x + 0.5) * sx, (c.y + 0.5) * sy, c.positive).mask
    assert preview.shape == over and w.canvas.layer("prompt").mask is preview
    from engine.imageio import load_image
    from engine.prompts import PromptContext, refine

    big_rgb = load_image(big / "horse_big.png")
    ctx = PromptContext.build(big_rgb)
    assert np.array_equal(refine(big_rgb, ctx, w.prompt.prompts, previous=first, out_hw=over).mask, preview)
    full = refine(big_rgb, ctx, w.prompt.prompts, previous=first).mask
    key(qtbot, w, Qt.Key.Key_Return)
    assert w.canvas.layer("prompt").mask is None and w.prompt.prompts.is_empty  # free for the next object
    _click(qtbot, w, float(cx), float(cy), True)  # at once: must not cancel the full-resolution commit
    qtbot.waitUntil(lambda: st.segments(w.current_id, source="prompt") != [], timeout=TIMEOUT)
    (seg,) = st.segments(w.current_id, source="prompt")
    stored = st.segment_mask(seg.id)
    assert np.array_equal(stored, full)
    shrunk = cv2.resize(stored.view(np.uint8), (over[1], over[0]), interpolation=cv2.INTER_AREA) > 0
    assert _iou(shrunk, preview) > 0.97  # what was shown is what was stored, in full detail
