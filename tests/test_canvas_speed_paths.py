"""The fast paths behind a responsive canvas on 24 MP photos (issue 16) do what the slow ones did.

Functional, not timed (timings: ``benchmarks/bench_large_image.py --modes canvas``): bounding-box
crops give the same pixels as full frames; a stroke previewed at display resolution commits exactly
the full-resolution mask its polyline describes; clicks pick the right segment without decoding;
dirty-rectangle redraws equal a full recompose; big-photo commits run off the GUI thread, keep their
order, and stay one undo step each.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from app.overlays import OverlaySegment, compose_segments, stamp_segment
from app.segment_raster import DrawSpec, Grid, compose_region
from engine.masks import CropMask, Stroke, apply_stroke, same_mask
from engine.store import rle as rle_mod

H, W = 4000, 6000  # 24 MP


def ellipse(hw, centre, axes) -> np.ndarray:
    m = np.zeros(hw, np.uint8)
    cv2.ellipse(m, centre, axes, 0, 0, 360, 1, -1)
    return m.astype(bool)


def stamped(base: np.ndarray, points, radius, value) -> np.ndarray:
    out = base
    pts = list(points)
    for a, b in zip([pts[0]] + pts[:-1], pts):
        out = stamp_segment(out, a, b, radius, value)
    return out


# -- engine.masks ----------------------------------------------------------------------------------

def test_crop_mask_round_trips_and_answers_clicks_without_decoding():
    full = ellipse((600, 900), (300, 200), (120, 60))
    crop = CropMask.from_full(full)
    assert crop.crop.shape == (121, 241) and crop.area == int(full.sum())
    assert np.array_equal(crop.to_full(), full)
    ys, xs = np.nonzero(full)
    assert crop.contains(xs[0] + 0.5, ys[0] + 0.5) and not crop.contains(5, 5)
    via_rle = CropMask.from_rle(rle_mod.encode(full))
    assert (via_rle.y0, via_rle.x0) == (crop.y0, crop.x0) and np.array_equal(via_rle.crop, crop.crop)
    assert CropMask.from_full(np.zeros((5, 7), bool)).is_empty
    assert np.array_equal(CropMask.empty((5, 7)).to_full(), np.zeros((5, 7), bool))


def test_stroke_on_a_crop_equals_stamping_the_full_frame():
    hw = (900, 1400)
    base = ellipse(hw, (700, 450), (200, 120))
    rng = np.random.default_rng(3)
    pts = [(float(x), float(y)) for x, y in zip(rng.uniform(-30, 1430, 9), rng.uniform(-30, 930, 9))]
    for value in (True, False):
        want = stamped(base, pts, 17, value)
        got = apply_stroke(CropMask.from_full(base), Stroke(tuple(pts), 17, value))
        assert np.array_equal(got.to_full(), want), value
    # painting on nothing (a new segment) and erasing nothing
    new = apply_stroke(CropMask.empty(hw), Stroke(((100.0, 100.0), (300.0, 140.0)), 9, True))
    assert np.array_equal(new.to_full(), stamped(np.zeros(hw, bool), [(100, 100), (300, 140)], 9, True))
    assert same_mask(apply_stroke(CropMask.empty(hw), Stroke(((5.0, 5.0),), 3, False)), CropMask.empty(hw))


# -- display-resolution overlay --------------------------------------------------------------------

def test_display_crops_and_dirty_rectangles_match_a_full_recompose():
    grid = Grid((H, W), (1365, 2048))
    masks = [ellipse((H, W), (3000, 2000), (2500, 1500)), ellipse((H, W), (1500, 1200), (400, 300)),
             ellipse((H, W), (1700, 1300), (90, 70)), ellipse((H, W), (5800, 3900), (300, 300))]
    crops = [CropMask.from_full(m) for m in masks]
    small = [grid.display(c) for c in crops]
    for m, s in zip(masks, small):  # the same nearest-neighbour samples as resampling the full frame
        assert np.array_equal(s.to_full(), m[np.ix_(grid.rows, grid.cols)])
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]
    specs = [DrawSpec(i, s, c, False, i == 3) for i, (s, c) in enumerate(zip(small, colours))]
    out = np.zeros((*grid.hw, 4), np.uint8)
    compose_region(out, specs, (0, grid.hw[0], 0, grid.hw[1]), 0.45, True)
    ref = compose_segments([OverlaySegment(s.to_full(), c, False, i == 3) for i, (s, c) in
                            enumerate(zip(small, colours))], grid.hw, 0.45, True)
    assert np.array_equal(out, ref)
    # select segment 1: recompose only its (grown) box; equals composing everything again
    specs[1] = DrawSpec(1, small[1], colours[1], True, False)
    specs = specs[:1] + specs[2:] + specs[1:2]  # the selection is drawn last
    b = small[1]
    compose_region(out, specs, (b.y0 - 4, b.y1 + 4, b.x0 - 4, b.x1 + 4), 0.45, True)
    ref = np.zeros_like(out)
    compose_region(ref, specs, (0, grid.hw[0], 0, grid.hw[1]), 0.45, True)
    assert np.array_equal(out, ref)


@pytest.fixture
def canvas(qtbot):
    from app.canvas import ImageCanvas

    c = ImageCanvas()
    qtbot.addWidget(c)
    c.resize(900, 600)
    c.show()
    c.set_image(np.full((2731, 4096, 3), 90, np.uint8), (H, W))  # the loader's display copy of 6000x4000
    return c


def test_click_picks_the_smallest_segment_at_24_mp(canvas):
    big = CropMask.from_full(ellipse((H, W), (3000, 2000), (2500, 1500)))
    mid = CropMask.from_full(ellipse((H, W), (1500, 1200), (400, 300)))
    tiny = CropMask.from_full(ellipse((H, W), (1700, 1300), (40, 30)))
    segs = [OverlaySegment(m, (200, 40, 40)) for m in (big, mid, tiny)]
    canvas.layer("segments").set_segments(segs, [11, 12, 13])
    oh, ow = canvas.overlay_shape
    assert ow == 2048 and abs(oh - 1365) <= 1  # the display copy capped at 2048 px for the overlay
    assert canvas.segment_at(1700.5, 1300.5) == 13
    assert canvas.segment_at(1700.5 + 45, 1300.5) == 12  # just outside the tiny one
    assert canvas.segment_at(4000.5, 3000.5) == 11
    assert canvas.segment_at(10.5, 10.5) is None
    assert canvas.layer("segments").segments_at(1700.5, 1300.5) == [13, 12, 11]
    rgba = canvas.segments_rgba()
    assert rgba.shape[:2] == (oh, ow) and rgba[1300 * oh // H, 1700 * ow // W, 3] > 0


def test_a_stroke_drawn_in_display_pixels_commits_the_full_resolution_mask(canvas, qtbot):
    from PySide6.QtCore import QPointF

    base = ellipse((H, W), (2000, 1500), (600, 400))
    canvas.layer("segments").set_segments([OverlaySegment(CropMask.from_full(base), (40, 200, 40), True)], [7])
    canvas.set_edit_target(7, CropMask.from_full(base))
    canvas.set_mode("brush")
    canvas.set_brush_radius(30)
    oh, ow = canvas.overlay_shape
    # mouse positions arrive in overlay-item pixels: map them like the drag handler does
    disp_pts = [(300.0, 700.0), (420.0, 720.0), (600.0, 690.0), (820.0, 760.0)]
    full_pts = [canvas.to_image(QPointF(x, y)) for x, y in disp_pts]
    assert canvas.begin_stroke(full_pts[0].x(), full_pts[0].y())
    for p in full_pts[1:]:
        canvas.continue_stroke(p.x(), p.y())
    rgba_during = canvas.segments_rgba().copy()
    with qtbot.waitSignal(canvas.strokeFinished) as sig:
        stroke = canvas.end_stroke()
    got_stroke, erase = sig.args
    assert got_stroke is stroke and not erase and isinstance(stroke, Stroke) and len(stroke.points) == 4
    committed = apply_stroke(CropMask.from_full(base), stroke).to_full()
    # the band the user drew, in exact full-resolution coordinates of the display points
    s = W / ow
    exact = stamped(base, [(x * s, y * s) for x, y in disp_pts], 30, True)
    tol = int(np.ceil(s))  # one display pixel of scaling
    k = np.ones((2 * tol + 1, 2 * tol + 1), np.uint8)
    assert not (committed & ~cv2.dilate(exact.astype(np.uint8), k).astype(bool)).any()
    assert not (cv2.erode(exact.astype(np.uint8), k).astype(bool) & ~committed).any()
    assert (committed | ~base).all()  # painting only adds
    # the preview showed the stroke, and still shows it after the release (until the store answers)
    x, y = disp_pts[2]
    assert rgba_during[int(y), int(x), 3] > 0 and canvas.segments_rgba()[int(y), int(x), 3] > 0
    before = canvas.segments_rgba()[int(y), int(x)].copy()
    canvas.layer("segments").set_segments([OverlaySegment(CropMask.from_full(base), (40, 200, 40), True)], [7])
    assert canvas.segments_rgba()[int(y), int(x), 3] == 0  # a new mask object from the store replaces it
    canvas.layer("segments").set_segments([OverlaySegment(CropMask.from_full(committed), (40, 200, 40), True)], [7])
    assert np.array_equal(canvas.segments_rgba()[int(y), int(x)], before)


def test_changed_box_is_the_box_of_the_differing_pixels():
    """Also where one mask's crop spans the whole compared box (read in place, not copied)."""
    from app.segment_raster import changed_box

    rng = np.random.default_rng(5)
    for k in range(200):
        a = CropMask.from_full(rng.random((40, 50)) > 0.97)
        b = a if k % 5 == 0 else CropMask.from_full(a.to_full() & (rng.random((40, 50)) > 0.3))  # inside a
        a, b = (a, b) if k % 2 else (b, a)
        ys, xs = np.nonzero(a.to_full() ^ b.to_full())
        want = (ys.min(), ys.max() + 1, xs.min(), xs.max() + 1) if ys.size else None
        assert changed_box(a, b) == want, k


def test_dirty_redraws_after_strokes_and_selection_equal_a_full_recompose(canvas):
    layer, view = canvas.layer("segments"), canvas.views["segments"]
    a = CropMask.from_full(ellipse((H, W), (2000, 1500), (600, 400)))
    b = CropMask.from_full(ellipse((H, W), (4000, 2500), (700, 500)))
    layer.set_segments([OverlaySegment(a, (200, 40, 40)), OverlaySegment(b, (40, 40, 200))], [1, 2])
    layer.set_segments([OverlaySegment(b, (40, 40, 200)), OverlaySegment(a, (200, 40, 40), True)], [2, 1])
    canvas.set_edit_target(1, a)
    canvas.set_mode("erase")
    canvas.set_brush_radius(50)
    canvas.begin_stroke(1500, 1500)
    for x in range(1600, 3000, 100):
        canvas.continue_stroke(x, 1500 + (x % 300))
    canvas.cancel_stroke()
    ref = np.zeros_like(view._rgba)
    compose_region(ref, view._specs(), (0, ref.shape[0], 0, ref.shape[1]), layer.fill_alpha, layer.contours)
    assert np.array_equal(view._rgba, ref)
    layer.set_contours(False)
    ref[:] = 0
    compose_region(ref, view._specs(), (0, ref.shape[0], 0, ref.shape[1]), layer.fill_alpha, False)
    assert np.array_equal(view._rgba, ref)
    # click around: each selection raises and restyles one segment; what is drawn stays exact
    c = CropMask.from_full(ellipse((H, W), (2600, 1800), (300, 900)))
    colours = {1: (200, 40, 40), 2: (40, 40, 200), 3: (40, 200, 40)}
    masks = {1: a, 2: b, 3: c}
    for contours in (True, False):
        layer.set_contours(contours)
        for sel in (3, 2, 1, None, 2, 3, 3, 1):
            order = sorted(masks, key=lambda i: (i == sel, -masks[i].area))
            layer.set_segments([OverlaySegment(masks[i], colours[i], i == sel, i == 2 and sel == 1) for i in order],
                               order)
            ref[:] = 0
            compose_region(ref, view._specs(), (0, ref.shape[0], 0, ref.shape[1]), layer.fill_alpha, contours)
            assert np.array_equal(view._rgba, ref), (sel, contours)


# -- commits off the GUI thread --------------------------------------------------------------------

@pytest.fixture
def big_store(tmp_path):
    from PIL import Image

    from engine.store import ProjectStore

    photo = tmp_path / "big.jpg"
    Image.new("RGB", (W, H), (90, 120, 140)).save(photo, quality=60)
    st = ProjectStore.open(tmp_path / "p.sqlite", image_root=tmp_path)
    (rec,) = st.add_images([photo])
    yield st, rec.id
    st.close()


def test_big_photo_strokes_commit_off_the_gui_thread_in_order_and_undo(qtbot, big_store, monkeypatch):
    import engine.store.store as store_mod
    from app.segment_editor import SegmentEditor

    st, image_id = big_store
    base = ellipse((H, W), (2000, 1500), (600, 400))
    seg = st.add_segment(image_id, base)
    writers = []
    real = store_mod.ProjectStore.update_segment_mask

    def spy(self, *a, **k):
        writers.append(threading.current_thread().name)
        return real(self, *a, **k)

    monkeypatch.setattr(store_mod.ProjectStore, "update_segment_mask", spy)
    ed = SegmentEditor(lambda: st, lambda: image_id)
    primed, edited, selected = [], [], []
    ed.maskCommitted.connect(lambda sid, counts, crop: primed.append((sid, counts, crop)))
    ed.edited.connect(lambda: edited.append(1))
    ed.selectRequested.connect(selected.append)
    s1 = Stroke(((1000.0, 1000.0), (3000.0, 1100.0)), 40, True)
    s2 = Stroke(((2000.0, 900.0), (2000.0, 2000.0)), 60, False)
    ed.stroke(seg.id, s1, False)
    ed.stroke(seg.id, s2, True)
    assert ed.commit_pending  # returned before the work was done
    want = stamped(stamped(base, s1.points, 40, True), s2.points, 60, False)  # applied in order
    assert ed.wait_idle()  # what undo / closing the project do first: both strokes are in the store now
    assert np.array_equal(st.segment_mask(seg.id), want)
    qtbot.waitUntil(lambda: len(edited) == 2 and not ed.commit_pending, timeout=60_000)
    assert writers and all(n != threading.main_thread().name for n in writers)
    sid, counts, crop = primed[-1]
    assert sid == seg.id and counts == st.segment_rle(seg.id).counts and np.array_equal(crop.to_full(), want)
    st.undo()
    assert np.array_equal(st.segment_mask(seg.id), stamped(base, s1.points, 40, True))
    st.undo()
    assert np.array_equal(st.segment_mask(seg.id), base)
    # two quick strokes on nothing selected paint ONE new segment, then select it
    n = len(st.segments(image_id))
    ed.stroke(None, Stroke(((100.0, 100.0), (400.0, 100.0)), 20, True), False)
    ed.stroke(None, Stroke(((100.0, 300.0), (400.0, 300.0)), 20, True), False)
    qtbot.waitUntil(lambda: not ed.commit_pending, timeout=60_000)
    new = [s for s in st.segments(image_id) if s.source == "manual" and s.id != seg.id]
    assert len(st.segments(image_id)) == n + 1 and len(new) == 1 and selected[-1] == [new[0].id]
    m = st.segment_mask(new[0].id)
    assert m[100, 250] and m[300, 250] and not m[200, 250]
    # a failing commit becomes a message, not an exception
    errors = []
    ed.error.connect(lambda title, text: errors.append(text))
    ed.stroke(999_999, s1, False)
    qtbot.waitUntil(lambda: not ed.commit_pending, timeout=60_000)
    assert errors


def test_current_segments_keeps_crops_and_decodes_only_changed_masks(big_store, monkeypatch):
    from app.current_segments import CurrentSegments

    st, image_id = big_store
    a = st.add_segment(image_id, ellipse((H, W), (2000, 1500), (600, 400)))
    b = st.add_segment(image_id, ellipse((H, W), (4000, 2500), (300, 200)))
    cs = CurrentSegments()
    cs.load(st, image_id, None)
    assert cs.crops[a.id].crop.shape == (801, 1201)  # a bbox crop, not the 4000 x 6000 frame
    assert np.array_equal(cs.masks[b.id], st.segment_mask(b.id)) and b.id in cs.masks
    decodes = []
    real = CropMask.from_rle.__func__

    monkeypatch.setattr(CropMask, "from_rle", classmethod(lambda cls, r: decodes.append(1) or real(cls, r)))
    new = ellipse((H, W), (2100, 1500), (600, 400))
    st.update_segment_mask(a.id, new)
    cs.prime(a.id, st.segment_rle(a.id).counts, CropMask.from_full(new))
    cs.load(st, image_id, None)
    assert decodes == [] and np.array_equal(cs.masks[a.id], new)
    st.update_segment_mask(b.id, new)  # not primed: decoded once
    cs.load(st, image_id, None)
    assert decodes == [1]


def test_a_commit_reuses_the_decoded_target_when_it_is_current(qtbot, big_store, monkeypatch):
    from app.segment_editor import SegmentEditor

    st, image_id = big_store
    base = ellipse((H, W), (2000, 1500), (600, 400))
    seg = st.add_segment(image_id, base)
    ed = SegmentEditor(lambda: st, lambda: image_id)
    known = {seg.id: (st.segment_rle(seg.id).counts, CropMask.from_full(base))}
    ed.known_mask = known.get
    decodes = []
    real = CropMask.from_rle.__func__
    monkeypatch.setattr(CropMask, "from_rle", classmethod(lambda cls, r: decodes.append(1) or real(cls, r)))
    s1 = Stroke(((1000.0, 1000.0), (3000.0, 1100.0)), 40, True)
    ed.stroke(seg.id, s1, False)
    qtbot.waitUntil(lambda: not ed.commit_pending, timeout=60_000)
    assert decodes == []  # the known crop matched the stored RLE
    ed.stroke(seg.id, Stroke(((2000.0, 900.0), (2000.0, 2000.0)), 60, False), True)  # known is stale now
    qtbot.waitUntil(lambda: not ed.commit_pending, timeout=60_000)
    assert decodes == [1]
    want = stamped(stamped(base, s1.points, 40, True), ((2000.0, 900.0), (2000.0, 2000.0)), 60, False)
    assert np.array_equal(st.segment_mask(seg.id), want)


def test_an_empty_segment_on_top_draws_nothing_and_raises_nothing(canvas):
    layer = canvas.layer("segments")
    a = CropMask.from_full(ellipse((H, W), (2000, 1500), (600, 400)))
    layer.set_segments([OverlaySegment(a, (200, 40, 40))], [1])
    layer.set_segments([OverlaySegment(a, (200, 40, 40)), OverlaySegment(CropMask.empty((H, W)), (9, 9, 9), True)],
                       [1, 2])
    assert canvas.segment_at(2000.5, 1500.5) == 1
    assert canvas.segments_rgba()[..., 3].any()


def test_a_mask_warmed_on_another_thread_is_drawn_without_resampling(canvas, monkeypatch):
    from app.segment_raster import Grid

    a = CropMask.from_full(ellipse((H, W), (2000, 1500), (600, 400)))
    t = threading.Thread(target=canvas.warm_display, args=(a,))  # as the stroke worker does
    t.start()
    t.join()
    monkeypatch.setattr(Grid, "display", lambda self, m: (_ for _ in ()).throw(AssertionError("resampled")))
    canvas.layer("segments").set_segments([OverlaySegment(a, (200, 40, 40))], [1])
    oh, ow = canvas.overlay_shape
    assert canvas.segments_rgba()[1500 * oh // H, 2000 * ow // W, 3] > 0


# -- the segment list after an edit ----------------------------------------------------------------

def _panel_rows(panel) -> list[tuple]:
    from PySide6.QtCore import Qt

    tree = panel.tree
    return [(it.data(0, Qt.ItemDataRole.UserRole), tuple(it.text(c) for c in range(tree.columnCount())),
             it.checkState(0), it.data(0, Qt.ItemDataRole.ForegroundRole) is not None, it.toolTip(0),
             it.icon(0).pixmap(14, 14).toImage().pixelColor(7, 7).getRgb()[:3], it.isSelected())
            for it in (tree.topLevelItem(i) for i in range(tree.topLevelItemCount()))]


def test_segment_list_rewrites_only_the_rows_an_edit_changes_and_shows_what_a_new_list_would(qtbot):
    """After a stroke one segment's area (and so its place) changes: only the rows whose segment
    changed are rewritten, no row is rebuilt, the selection follows the segment, and the list reads
    exactly as a freshly built one (texts, swatches, boxes, selection) — also after deletions."""
    from dataclasses import replace

    from PySide6.QtCore import Qt

    from app.segment_panel import SegmentPanel
    from engine.store import SegmentRecord

    def rec(i, area):
        return SegmentRecord(i, 1, "manual", "accepted", None, None, 1.0, "", (0, 0, 9, 9), area)

    def fresh_rows(records, colors):
        fresh = SegmentPanel()
        qtbot.addWidget(fresh)
        fresh.set_hidden({4})
        fresh.set_segments(records, colors)
        fresh.select_ids([2])
        return _panel_rows(fresh)

    recs = [rec(i, 100 * i) for i in range(1, 7)]  # drawing order, topmost first
    colors = {i: (40 * i, 200 - 20 * i, 90) for i in range(1, 7)}
    panel = SegmentPanel()
    qtbot.addWidget(panel)
    panel.set_segments(recs, colors)
    panel.select_ids([2])
    panel.set_hidden({4})
    marker = Qt.ItemDataRole.UserRole + 1
    for i in range(panel.tree.topLevelItemCount()):
        panel.tree.topLevelItem(i).setData(0, marker, "old row")
    touched = set()
    panel.tree.model().dataChanged.connect(lambda a, b, *_: touched.update(range(a.row(), b.row() + 1)))
    # a stroke: segment 2 grew past segment 3 (drawn below it now)
    stroked = [recs[0], recs[2], replace(recs[1], area=350, bbox=(0, 0, 30, 30)), *recs[3:]]
    panel.set_segments(stroked, colors)
    assert touched == {1, 2}  # the two rows that traded segments
    assert [panel.tree.topLevelItem(i).data(0, marker) for i in range(6)] == ["old row"] * 6
    assert _panel_rows(panel) == fresh_rows(stroked, colors) and panel.selected_ids() == [2]
    # 5 deleted, 7 new, 3 got a class colour, 2 grew again
    after = [recs[0], recs[2], recs[3], recs[5], rec(7, 650), replace(recs[1], area=900, bbox=(0, 0, 30, 30))]
    colors = {**colors, 3: (1, 2, 3), 7: (7, 7, 7)}
    panel.set_segments(after, colors)
    rows = _panel_rows(panel)
    assert [r[0] for r in rows] == [1, 3, 4, 6, 7, 2] and panel.selected_ids() == [2]
    assert rows == fresh_rows(after, colors)
    assert rows[2][2] == Qt.CheckState.Unchecked and rows[2][3]  # the hidden one stays unticked and grey
    panel.set_hidden(set())
    assert _panel_rows(panel)[2][2:4] == (Qt.CheckState.Checked, False)


def test_segment_list_columns_fit_their_content_as_resize_to_contents_did(qtbot):
    """Columns are measured only where texts changed, yet end as wide as Qt's ResizeToContents made
    them: after a first list, an edit that widens a cell, a longer class name and removed rows."""
    from dataclasses import replace

    from PySide6.QtWidgets import QApplication, QHeaderView

    from app.segment_panel import SegmentPanel
    from engine.store import ClassRecord, SegmentRecord

    def rec(i, area, **kw):
        return SegmentRecord(i, 1, "manual", "accepted", None, None, 1.0, "", (0, 0, 9, 9), area, **kw)

    panel, ref = SegmentPanel(), SegmentPanel()
    ref.tree.header().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    ref.tree.setUniformRowHeights(False)
    for p in (panel, ref):
        qtbot.addWidget(p)
        p.resize(400, 300)
        p.show()

    def widths(p):
        QApplication.processEvents()
        return [p.tree.columnWidth(c) for c in range(p.tree.columnCount())]

    recs = [rec(i, 10 * i) for i in range(1, 8)]
    grown = [recs[0], recs[2], replace(recs[1], area=123_456_789), *recs[3:]]  # wider area, row moved
    labelled = [replace(r, class_id=1) for r in grown]  # a long class name
    steps = [recs, grown, labelled, labelled[:2] + labelled[3:],  # the wide row removed: the area shrinks
             recs[:2]]
    seen = [widths(panel)]
    assert seen[0] == widths(ref)  # no rows: the header labels
    for step in steps:
        for p in (panel, ref):
            p.set_classes([ClassRecord(1, "a much longer class name", (1, 2, 3))])
            p.set_segments(step, {})
        seen.append(widths(panel))
        assert seen[-1] == widths(ref)
    assert seen[1][5] < seen[2][5] > seen[4][5] and seen[2][1] < seen[3][1] > seen[5][1]  # they did change
