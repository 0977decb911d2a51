"""``refine(rgb, context, prompts, prior)``: prompts → full-resolution mask (see :mod:`.context`).

Per call: Green's functions of new clicks (one triangular solve each, cached), then ``iterations``
appearance-model refits (GrabCut-style, each one solve), guided-filter upsampling to full resolution,
threshold 0.5 and removal of blobs not connected to a positive prompt (a colour model alone would
also light up same-coloured things elsewhere).
"""

from __future__ import annotations

import numpy as np

from ..device import single_blas_thread
from .context import PromptContext
from .seeds import Seed, prompt_seeds
from .types import Prompts, RefineResult
from .unary import colour_probability, feature_probability



def _pinned_solution(free: np.ndarray, seeds: list[tuple[np.ndarray, float]],
                     greens: np.ndarray | None, gram: np.ndarray | None) -> np.ndarray:
    """argmin xᵀLx + γ‖x − p‖² with every seed disk's mean pinned to its value (domain-local), from
    ``free`` = A⁻¹γp, the unconstrained minimiser; ``greens`` (N, seeds): the seeds' Green's
    functions side by side."""
    x = free
    if seeds:
        resid = np.array([v * len(n) - x[n].sum() for n, v in seeds])
        mu = np.linalg.solve(gram, resid).astype(np.float32)
        x = x + greens @ mu
    return np.clip(x, 0.0, 1.0)


def _working_prior(prior: np.ndarray | None, image_hw: tuple[int, int], work_hw: tuple[int, int]):
    """A prior mask (full resolution, or any size of the same aspect, e.g. a preview) as flat
    working-grid probabilities in [0, 1] (None passes)."""
    import cv2

    if prior is None:
        return None
    pr = np.asarray(prior, dtype=np.float32)
    if pr.ndim != 2 or abs(pr.shape[0] * image_hw[1] - pr.shape[1] * image_hw[0]) > max(image_hw):
        raise ValueError(f"prior {pr.shape} does not match the image {image_hw}")
    (h, w) = work_hw
    small = pr if pr.shape == (h, w) else cv2.resize(pr, (w, h), interpolation=cv2.INTER_AREA)
    return np.clip(small.ravel().astype(np.float64), 0.0, 1.0)


def _components_with(labels: np.ndarray, keep) -> np.ndarray:
    """``labels`` ∈ ``keep`` (ids > 0) by a lookup table: one gather instead of np.isin's sort."""
    lut = np.zeros(int(labels.max()) + 1, bool)
    lut[np.asarray(list(keep), np.int64)] = True
    return lut[labels]


def _connected_to(mask: np.ndarray, seeds: list[Seed], scale: tuple[float, float]) -> np.ndarray:
    """Components of ``mask`` that contain a positive seed centre (8-connectivity); ``scale`` maps
    the centres (image pixels) to the mask's pixels."""
    import cv2

    positives = [(x * scale[0], y * scale[1]) for x, y in (s.centre for s in seeds if s.value > 0.5)]
    if not positives or not mask.any():
        return mask
    count, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    h, w = mask.shape
    keep = {int(labels[int(np.clip(round(y), 0, h - 1)), int(np.clip(round(x), 0, w - 1))]) for x, y in positives}
    keep.discard(0)
    if not keep:
        return np.zeros_like(mask)
    if len(keep) == count - 1:  # every blob touches a positive prompt (the usual case)
        return mask
    return _components_with(labels, keep)


def _connected_nodes(mask: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """Working-grid components of ``mask`` containing any of ``nodes`` (all of it without nodes)."""
    import cv2

    if nodes.size == 0 or not mask.any():
        return mask
    count, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8)
    keep = np.unique(labels.ravel()[nodes])
    keep = keep[keep > 0]
    if keep.size == count - 1:  # nothing to drop
        return mask
    return _components_with(labels, keep) if keep.size else np.zeros_like(mask)


def _paint_disks(mask: np.ndarray, seeds: list[Seed], radius: float, scale: tuple[float, float]) -> None:
    """Clicks are ground truth: their disks (``radius`` in mask pixels) take their label in the mask."""
    import cv2

    r = max(1, int(round(radius)))
    canvas = mask.view(np.uint8)
    for s in seeds:
        centre = (int(round(s.centre[0] * scale[0])), int(round(s.centre[1] * scale[1])))
        cv2.circle(canvas, centre, r, int(s.value > 0.5), -1)


def refine(rgb: np.ndarray, context: PromptContext, prompts: Prompts, prior: np.ndarray | None = None,
           previous: np.ndarray | None = None, out_hw: tuple[int, int] | None = None) -> RefineResult:
    """Mask of the object described by ``prompts``: see :func:`_refine`. Runs with one BLAS thread:
    the triangular solves and matrix-vector products are too small to share, and OpenBLAS's
    spinning helper thread made clicks 1.2–1.5× slower on 2 shared cores (bench_prompts.py)."""
    with single_blas_thread():
        return _refine(rgb, context, prompts, prior, previous, out_hw)


def _refine(rgb: np.ndarray, context: PromptContext, prompts: Prompts, prior: np.ndarray | None,
            previous: np.ndarray | None, out_hw: tuple[int, int] | None) -> RefineResult:
    """Mask of the object described by ``prompts`` (and/or a ``prior`` bool/float mask, full res).

    ``out_hw``: the mask's size, the full resolution by default. A preview of a 24 MP photo at the
    2048 px its overlay is drawn at costs ~8× less of the per-pixel work (upsampling, components)
    than the full-resolution mask; everything up to the upsampling is the same, so committing the
    same prompts at full resolution gives that preview's mask in full detail. Prompts stay in
    image pixels; ``prior`` / ``previous`` may be at either size.

    ``previous``: the answer to the previous prompts (the mask on screen before this click); it is
    the prior of this solve with the lighter ``previous_weight`` (a click corrects what the user
    sees rather than starting over — RITM feeds its previous mask back the same way) and replaces
    ``prior``, which it already follows.

    ``rgb`` must be the image ``context`` was built from (only its size is checked: the context
    already holds every per-image quantity).
    """
    ctx = context
    s = ctx.settings
    hh, ww = ctx.image_hw
    if tuple(rgb.shape[:2]) != (hh, ww):
        raise ValueError(f"image {rgb.shape[:2]} does not match its context {ctx.image_hw}")
    h, w = ctx.work_hw
    n = h * w
    prior_weight = s.prior_weight
    if previous is not None:
        prior, prior_weight = previous, s.previous_weight
    if prompts.is_empty and prior is None:
        return RefineResult(np.zeros(out_hw or (hh, ww), bool), 0.0)

    dom = ctx.domain(prompts.box)
    inside, local_of = _domain_index(dom, n)
    all_seeds = prompt_seeds(prompts, ctx.image_hw, ctx.work_hw, s.click_radius, ctx.grow_click)
    seeds, kept = [], []
    for seed in all_seeds:
        local = local_of[seed.nodes]
        local = local[local >= 0]
        if local.size:  # a click outside the box has no say inside it
            seeds.append((local, seed.value))
            kept.append(seed)
    prior_w = _working_prior(prior, (hh, ww), (h, w))
    # Initial target: the prior; a box without clicks starts as GrabCut does (inside = object, so the
    # first colour model contrasts the box with its surroundings); else background.
    if prior_w is not None:
        target = prior_w[inside]
    elif prompts.box is not None and not prompts.has_positive:
        target = np.ones(dom.size)
    else:
        target = None
    cols, free = ctx.greens(dom, [nodes for nodes, _ in seeds], None if target is None else s.gamma * target)
    greens, gram = _pinning(cols, seeds)
    x = _pinned_solution(np.zeros(dom.size, np.float32) if free is None else free, seeds, greens, gram)

    pos_nodes = np.concatenate([sd.nodes for sd in kept if sd.value > 0.5] or [np.zeros(0, np.int64)])
    for _ in range(max(0, s.iterations)):
        p = _appearance(ctx, x, inside, kept, pos_nodes)
        if prior_w is not None:
            p = (1.0 - prior_weight) * p + prior_weight * prior_w
        x = _pinned_solution(ctx.solve(dom, s.gamma * p[inside]), seeds, greens, gram)

    work = np.zeros(n, np.float32)
    work[inside] = x
    guide = ctx.guide_at(out_hw or (hh, ww))
    mask = ctx.guided.apply(work.reshape(h, w), guide) > 0.5
    scale = (mask.shape[1] / ww, mask.shape[0] / hh)  # image pixels → mask pixels
    if prompts.box is not None:
        x0, x1 = (int(round(v * scale[0])) for v in (prompts.box[0], prompts.box[2]))
        y0, y1 = (int(round(v * scale[1])) for v in (prompts.box[1], prompts.box[3]))
        boxed = np.zeros_like(mask)
        boxed[max(y0, 0):max(y1 + 1, 0), max(x0, 0):max(x1 + 1, 0)] = True
        mask &= boxed
    clicks = [sd for sd in all_seeds if sd.centre in prompts.positive or sd.centre in prompts.negative]
    _paint_disks(mask, clicks, s.click_radius / ctx.scale_xy[0] * 0.6 * scale[0], scale)
    mask = _connected_to(mask, kept, scale)
    sure = x[x > 0.5]  # confidence of the object's working pixels (full resolution adds nothing here)
    score = float(np.abs(2.0 * sure - 1.0).mean()) if mask.any() and sure.size else 0.0
    return RefineResult(mask, score)


def _domain_index(dom, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Which of the ``n`` working pixels are in the domain, and each one's domain-local id (−1 out)."""
    if dom.nodes is None:
        return np.ones(n, bool), np.arange(n)
    inside = np.zeros(n, bool)
    inside[dom.nodes] = True
    local_of = np.full(n, -1)
    local_of[dom.nodes] = np.arange(len(dom.nodes))
    return inside, local_of


def _pinning(cols: list[np.ndarray], seeds: list[tuple[np.ndarray, float]]):
    """The seeds' Green's functions side by side (N, k) and their k×k system (Gram matrix of the
    disk means), regularised a hair so coinciding clicks stay solvable; (None, None) without seeds."""
    if not seeds:
        return None, None
    gram = np.array([[cols[j][ni].sum() for j in range(len(seeds))] for ni, _ in seeds], dtype=np.float64)
    gram = 0.5 * (gram + gram.T) + 1e-9 * np.trace(gram) / len(seeds) * np.eye(len(seeds))
    return np.stack(cols, axis=1), gram


def _appearance(ctx: PromptContext, x: np.ndarray, inside: np.ndarray, kept: list[Seed],
                pos_nodes: np.ndarray) -> np.ndarray:
    """One appearance refit: P(object) per working pixel from the current solution ``x``.

    GrabCut-style hard relabelling (the object is what of ``x > 0.5`` is connected to a positive
    prompt), each prompt adding ``seed_share`` of the image's pixels to its class.
    """
    s = ctx.settings
    h, w = ctx.work_hw
    n = h * w
    fg = np.zeros(n)
    fg[inside] = x > 0.5
    fg = _connected_nodes(fg.reshape(h, w) > 0, pos_nodes).ravel().astype(np.float64)
    bg = 1.0 - fg
    for sd in kept:
        np.add.at(fg if sd.value > 0.5 else bg, sd.nodes, s.seed_share * n / len(sd.nodes))
    p = colour_probability(ctx.bins, fg, bg, smooth=s.colour_smooth)
    if ctx.keys is not None and s.feature_weight > 0:
        mu = s.feature_weight
        p = (1.0 - mu) * p + mu * feature_probability(ctx.patch_of, ctx.keys, fg, bg)
    return p
