"""Deep Spectral Methods building blocks on synthetic data with known answers (independent of weights)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from engine.imageio import resize_max_side
from engine.methods.spectral.affinity import feature_affinity, knn_color_affinity, spectral_affinity
from engine.methods.spectral.eigen import laplacian_eigs, sign_fix
from engine.methods.spectral.geometry import GridGeometry, resized_hw
from engine.methods.spectral.localization import largest_component, localize
from engine.methods.spectral.matting import compute_alpha, harmonic_alpha, local_matting_graph
from engine.methods.spectral.semantic import cluster_segment_features, segment_batch, segment_features
from engine.methods.spectral.single_object import object_mask, object_patch_mask
from engine.metrics import iou


def two_group_keys(grid_hw, object_cells, dim=32, noise=0.05, seed=0):
    """Keys (h, w, dim): object cells near e0, the rest near e1 — a graph with an obvious cut."""
    rng = np.random.default_rng(seed)
    h, w = grid_hw
    keys = np.zeros((h, w, dim), np.float32)
    keys[..., 1] = 1.0
    keys[object_cells] = np.eye(dim, dtype=np.float32)[0]
    return keys + noise * rng.standard_normal(keys.shape).astype(np.float32)


def object_region(grid_hw, rows, cols):
    m = np.zeros(grid_hw, bool)
    m[rows[0]:rows[1], cols[0]:cols[1]] = True
    return m


def test_fiedler_separates_two_feature_groups_and_box_matches_component():
    grid = (8, 10)
    region = object_region(grid, (2, 6), (3, 7))
    stray = np.zeros(grid, bool)
    stray[7, 0] = True  # a 1-cell blob with object features, far away: not the largest component
    keys = two_group_keys(grid, np.nonzero(region | stray))
    w = feature_affinity(torch.from_numpy(keys).reshape(-1, keys.shape[-1]))
    values, vectors = laplacian_eigs(w, 4)
    fiedler = vectors[1].reshape(grid).numpy()
    np.testing.assert_array_equal(fiedler > 0, region | stray)  # minority side is positive
    assert values[1] < 0.2 < values[2]  # one clean cut, then a gap

    geometry = GridGeometry.for_patches((128, 160), grid, 16, None)
    loc = localize(fiedler, geometry)
    np.testing.assert_array_equal(loc.component, region)
    assert loc.box == (3 * 16, 2 * 16, 7 * 16, 6 * 16)
    full = geometry.upsample_nearest(loc.component)
    ys, xs = np.nonzero(full)
    assert loc.box == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_eigh_and_eigsh_solve_the_generalised_dsm_problem():
    rng = np.random.default_rng(1)
    n, k = 700, 6
    centres = rng.standard_normal((5, 24))
    f = centres[rng.integers(0, 5, n)] + 0.6 * rng.standard_normal((n, 24))
    w = feature_affinity(torch.from_numpy(f).float())
    vals_d, vecs_d = laplacian_eigs(w, k, solver="eigh")
    vals_s, vecs_s = laplacian_eigs(w, k, solver="eigsh")
    for vals, vecs in ((vals_d, vecs_d), (vals_s, vecs_s)):
        assert torch.all(vals[1:] >= vals[:-1] - 1e-5) and vals[0] < 1e-4
        assert torch.all(vals >= 0) and torch.all(vals < 2)
        d = w.sum(1)
        lap = torch.diag(d) - w
        for i in range(k):  # (D - W) v = λ D v, the problem DSM hands to eigsh
            residual = lap @ vecs[i] - vals[i] * d * vecs[i]
            assert residual.norm() / (d * vecs[i]).norm() < 1e-3
        gram = (vecs * d) @ vecs.T  # D-orthogonal
        off = gram - torch.diag(torch.diag(gram))
        assert off.abs().max() / gram.diag().min() < 1e-3
        assert torch.allclose(vecs.norm(dim=1), torch.ones(k), atol=1e-5)
    torch.testing.assert_close(vals_d, vals_s, atol=1e-4, rtol=0)
    cos = (vecs_d * vecs_s).sum(1).abs()
    assert cos[1] > 0.999  # same Fiedler vector, same sign rule


def test_sign_rule_makes_positive_side_the_minority():
    v = torch.tensor([[1.0, 1, 1, 1], [0.3, 0.2, 0.1, -0.5], [-1.0, -2, 3, -4], [-1.0, -1, -1, -1]])
    fixed = sign_fix(v[None])[0]
    assert torch.equal(fixed[0], v[0])
    assert torch.equal(fixed[1], -v[1])  # 3 of 4 positive → flipped
    assert torch.equal(fixed[2], v[2])  # 1 of 4 positive → kept
    assert torch.equal(fixed[3], v[3])  # all negative is not "majority positive"


def two_colour_image(h=8, w=8):
    rgb = np.zeros((h, w, 3), np.uint8)
    rgb[:, : w // 2] = (220, 30, 30)
    rgb[:, w // 2:] = (30, 30, 220)
    return rgb


def test_knn_colour_affinity_links_only_same_colours():
    rgb = two_colour_image()
    a = knn_color_affinity(rgb, passes=((6, 0.1),))
    assert sp.issparse(a) and a.shape == (64, 64)
    dense = a.toarray()
    np.testing.assert_array_equal(dense, dense.T)
    assert np.all(np.diag(dense) == 2)  # DSM: every pixel is its own first neighbour, (i,i) added twice
    assert (dense > 0).sum(1).min() >= 6  # self + 5 others, at least
    left = (np.arange(64) % 8) < 4
    assert dense[np.ix_(left, ~left)].sum() == 0  # no edge crosses the colour boundary
    # Colour graph alone (constant features) → the Fiedler vector splits the two colours.
    keys = torch.ones(64, 4)
    w = spectral_affinity(keys, rgb, knn_weight=10.0, passes=((6, 0.1),)) - feature_affinity(keys)
    _, vecs = laplacian_eigs(w, 2)
    side = vecs[1].numpy() > 0
    assert side[left].all() != side[~left].any() and (side == left).all() or (side == ~left).all()


def test_knn_affinity_matches_dsm_reference_on_hand_computed_example():
    """DSM extract_utils.knn_affinity on a 1x4 image [black, black, white, white], two passes.

    Features per pass: [r, g, b, d·x, d·y], r,g,b = RGB/255, x = linspace(0, 1, 4) = 0, 1/3, 2/3, 1.
    Pass 1 (k=2, d=1): neighbours incl. self 0→{0,1} 1→{1,0} 2→{2,3} 3→{3,2}.
    Pass 2 (k=3, d=0.1): colour dominates, position breaks ties: 0→{0,1,2} 1→{1,0,2} 2→{2,3,1} 3→{3,2,1}.
    W = Σ_passes (E + Eᵀ), E[i, j] = 1 when j is a neighbour of i (duplicates add up).
    """
    rgb = np.array([[[0, 0, 0], [0, 0, 0], [255, 255, 255], [255, 255, 255]]], np.uint8)
    expected = np.array([[4, 4, 1, 0],
                         [4, 4, 2, 1],
                         [1, 2, 4, 4],
                         [0, 1, 4, 4]], np.float64)
    np.testing.assert_array_equal(knn_color_affinity(rgb, passes=((2, 1.0), (3, 0.1))).toarray(), expected)
    from engine.methods.spectral.affinity import dsm_knn_affinity

    np.testing.assert_array_equal(dsm_knn_affinity(rgb / 255.0, [2, 3], [1.0, 0.1]).toarray(), expected)


def test_knn_affinity_positions_are_linspace_over_columns_and_rows():
    """x runs along columns (np.tile), y along rows (np.repeat), both linspace(0, 1): on a 2x3 grid a
    column step is 0.5 and a row step 1.0, so with one colour the nearest other cell is horizontal."""
    from engine.methods.spectral.affinity import dsm_knn_affinity

    w = dsm_knn_affinity(np.zeros((2, 3, 3)), [2], [1.0]).toarray()
    directed = w - np.diag(np.diag(w)) / 2  # (E + Eᵀ) off the diagonal; E holds self + 1 neighbour
    assert directed[0, 1] >= 1 and directed[0, 3] == 0  # cell (0,0) → (0,1), not (1,0)
    assert directed[2, 1] >= 1 and directed[2, 5] == 0


def test_knn_colour_affinity_prefers_nearby_cells_with_position_weight():
    rgb = np.full((10, 10, 3), 128, np.uint8)  # one colour: neighbours are decided by position
    a = knn_color_affinity(rgb, passes=((4, 2.0),)).tocsr()
    row = a[55].toarray().ravel()  # cell (5, 5)
    ys, xs = np.divmod(np.nonzero(row)[0], 10)
    assert np.abs(ys - 5).max() <= 1 and np.abs(xs - 5).max() <= 1


def test_geometry_matches_resize_and_crop():
    image_hw = (427, 640)
    assert resized_hw(image_hw, 320) == resize_max_side(np.zeros((*image_hw, 3), np.uint8), 320).shape[:2]
    g = GridGeometry.for_patches(image_hw, (13, 20), 16, 320)  # 213x320 resized, cropped to 208x320
    labels = np.arange(13 * 20).reshape(13, 20)
    full = g.upsample_nearest(labels)
    assert full.shape == image_hw and full[-1, -1] == labels[-1, -1] and full[0, 0] == 0
    assert g.cell_box(0, 0, 12, 19) == (0, 0, 640, 427)
    x0, y0, x1, y1 = g.cell_box(2, 3, 4, 5)
    sel = np.isin(full, labels[2:5, 3:6])
    ys, xs = np.nonzero(sel)
    assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    soft = g.upsample_linear(np.linspace(0, 1, 13 * 20, dtype=np.float32).reshape(13, 20))
    assert soft.shape == image_hw and 0 <= soft.min() and soft.max() <= 1


def test_largest_component_uses_eight_connectivity():
    m = np.zeros((5, 5), bool)
    m[0, 0] = m[1, 1] = m[2, 2] = True  # diagonal chain: one 8-connected component
    m[4, 0] = m[4, 1] = True
    np.testing.assert_array_equal(largest_component(m), np.eye(5, dtype=bool) & (np.arange(5) < 3)[:, None])
    assert not largest_component(np.zeros((3, 3), bool)).any()


def test_localize_inverts_majority_and_handles_empty():
    g = GridGeometry.stretched((64, 64), (4, 4))
    v = np.ones((4, 4))
    v[0, 0] = -1  # 15/16 positive → inverted → the single negative cell is the object
    assert localize(v, g).box == (0, 0, 16, 16)
    assert localize(-np.ones((4, 4)), g).box == (0, 0, 64, 64)  # nothing positive → whole image


def test_crf_object_mask_snaps_to_image_edges():
    h, w = 96, 128
    rgb = np.full((h, w, 3), 40, np.uint8)
    rgb[20:70, 30:94] = (230, 200, 40)
    truth = np.zeros((h, w), bool)
    truth[20:70, 30:94] = True
    g = GridGeometry.for_patches((h, w), (6, 8), 16, None)
    patch = np.zeros((6, 8), bool)
    patch[1:5, 2:6] = True  # coarse: rows 16..80, cols 32..96
    coarse = object_mask(rgb, patch, g, None, crf=False)
    refined = object_mask(rgb, patch, g, None, crf=True)
    assert refined.dtype == bool and refined.shape == (h, w)
    assert iou(refined, truth) > iou(coarse, truth) and iou(refined, truth) > 0.95


def test_object_patch_mask_is_minority_positive_side():
    v = np.array([[1.0, -1, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(object_patch_mask(v), v > 0)
    np.testing.assert_array_equal(object_patch_mask(-v), v > 0)


def test_harmonic_alpha_is_bounded_and_interpolates():
    n = 9  # a chain 0-1-...-8, ends known: the harmonic solution is the straight line
    w = sp.diags([np.ones(n - 1), np.ones(n - 1)], [-1, 1], shape=(n, n))
    fg = np.zeros(n, bool)
    bg = np.zeros(n, bool)
    fg[0], bg[-1] = True, True
    np.testing.assert_allclose(harmonic_alpha(w, fg, bg), np.linspace(1, 0, n), atol=1e-5)


def test_local_matting_graph_window_and_colour_contrast():
    rgb = two_colour_image(6, 6)
    keys = np.ones((6, 6, 4), np.float32)
    g = local_matting_graph(keys, rgb, knn_weight=0.0, passes=()).toarray()
    np.testing.assert_array_equal(g, g.T)
    ys, xs = np.divmod(np.arange(36), 6)
    near = (np.abs(ys[:, None] - ys[None]) <= 1) & (np.abs(xs[:, None] - xs[None]) <= 1) & ~np.eye(36, dtype=bool)
    same = (xs[:, None] < 3) == (xs[None] < 3)
    np.testing.assert_allclose(g[near & same], 1.0, atol=1e-6)  # 8-neighbours of one colour
    assert np.all(g[~near] == 0) and np.all(g[near & ~same] < 1e-6)  # nothing far or across the edge


def test_matting_alpha_follows_colour_edge():
    h, w = 64, 64
    rgb = np.full((h, w, 3), 30, np.uint8)
    rgb[:, 24:] = (240, 240, 240)  # colour edge at x = 24, off the 16-px patch border
    truth = np.zeros((h, w), bool)
    truth[:, 24:] = True
    # Patch keys as a ViT would roughly give them: the share of dark / bright pixels in each patch.
    share = truth.reshape(4, 16, 4, 16).mean(axis=(1, 3))
    keys = torch.zeros(4, 4, 8)
    keys[..., 0] = torch.from_numpy(1.0 - share).float()
    keys[..., 1] = torch.from_numpy(share).float()
    g = GridGeometry.for_patches((h, w), (4, 4), 16, None)
    mask = np.zeros((h, w), bool)
    mask[:, 32:] = True  # object mask misplaced by half a patch
    alpha = compute_alpha(keys, rgb, mask, g, matting_max_side=64, knn_weight=10.0,
                          passes=((8, 2.0), (4, 0.1)))
    assert alpha.shape == (h, w) and alpha.dtype == np.float32
    assert alpha.min() >= 0 and alpha.max() <= 1
    assert iou(alpha > 0.5, truth) > iou(mask, truth)
    assert alpha[:, 40:].mean() > 0.95 and alpha[:, :16].mean() < 0.05


def test_segments_cover_grid_background_first_and_dataset_clusters():
    grid = (6, 8)
    region = object_region(grid, (1, 5), (2, 6))
    keys = two_group_keys(grid, np.nonzero(region))
    w = feature_affinity(torch.from_numpy(keys).reshape(-1, keys.shape[-1]))
    _, vecs = laplacian_eigs(w, 5)
    labels = segment_batch(vecs[None], grid, 3, seed=0)[0]
    assert labels.dtype == np.int32 and labels.shape == grid
    assert set(np.unique(labels)) == {0, 1, 2}
    assert labels[0, 0] == 0  # border segment is background
    feats = segment_features(keys, labels, 3)
    assert feats.shape == (3, keys.shape[-1])
    # Dataset clustering: two images, objects of two kinds → background 0, objects split by kind.
    a = np.array([[1.0, 0, 0], [0, 1, 0], [0, 0.9, 0.1]], np.float32)
    b = np.array([[1.0, 0, 0], [0, 0, 1], [0, 0.1, 0.9]], np.float32)
    ok = np.ones(3, bool)
    ca, cb = cluster_segment_features([a, b], [ok, ok], n_clusters=3, seed=0)
    assert ca[0] == cb[0] == 0
    assert ca[1] == ca[2] != cb[1] == cb[2] and min(ca[1], cb[1]) >= 1
    with pytest.raises(ValueError):
        cluster_segment_features([a], [ok], n_clusters=1)


def test_paper_semantic_preset_boxes_and_crop_cls_features(random_backbone):
    """DSM's semantic recipe: K=5, 15 segments, boxes eroded 2 / dilated 5 (skimage cross footprint,
    steps that would empty the mask skipped), one CLS pass per box crop, 20 clusters + background."""
    from engine.methods.spectral.semantic import (PAPER_PRESET, crop_cls_features, erode_or_dilate,
                                                  segment_boxes)

    p = PAPER_PRESET
    assert (p.n_eigenvectors, p.n_segments, p.num_erode, p.num_dilate) == (5, 15, 2, 5)
    assert p.segment_feature == "crop_cls" and p.n_foreground_clusters == 20 and p.n_clusters == 21
    labels = np.zeros((12, 12), np.int64)
    labels[2:7, 3:9] = 1  # 5 x 6 block: erode 2 → 1 x 2, dilate 5 → diamond reaching 5 cells out
    labels[10, 10] = 2  # single cell: erosion would empty it, so it stays; dilation grows it
    eroded = erode_or_dilate(labels == 1, 2, erode=True)
    assert eroded.sum() == 2 and eroded[4, 5] and eroded[4, 6]
    assert erode_or_dilate(labels == 2, 2, erode=True).sum() == 1
    boxes = dict(segment_boxes(labels, 16, 2, 5))
    assert set(boxes) == {1, 2}  # background (0) skipped
    assert boxes[1] == (0, 0, 12 * 16, 10 * 16)  # x 5-5..6+5 clipped to 0..11, y 4-5..4+5 → 0..9
    assert boxes[2] == (5 * 16, 5 * 16, 12 * 16, 12 * 16)
    rgb = (np.random.default_rng(0).random((200, 200, 3)) * 255).astype(np.uint8)
    feats = crop_cls_features(random_backbone, rgb, [(16, 32, 120, 150)])
    expected = random_backbone(random_backbone.normalise(rgb[32:150, 16:120])[None]).cls[0].numpy()
    np.testing.assert_allclose(feats[0], expected, atol=1e-5)
