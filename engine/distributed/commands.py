"""What ``engine.cli`` calls for ``--ray``: connect, run with a tqdm bar (images/s, ETA), cluster, close.

Kept here so the CLI's own edit is a branch of a few lines and ``ray`` is imported only on this path.
"""

from __future__ import annotations

import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from .runtime import connect


@contextmanager
def _bar(total: int, desc: str, quiet: bool) -> Iterator:
    from tqdm import tqdm

    bar = tqdm(total=total, desc=desc, unit="img", disable=quiet, file=sys.stderr, smoothing=0.1)
    failed = [0]

    def update(ok: int, bad: int) -> None:
        failed[0] += bad
        if failed[0]:
            bar.set_postfix_str(f"{failed[0]} failed", refresh=False)
        bar.update(ok + bad)

    try:
        yield update
    finally:
        bar.close()


@contextmanager
def _runtime(address: str | None, workers: int | None) -> Iterator:
    runtime = connect(address or None, num_cpus=workers)
    try:
        yield runtime
    finally:
        runtime.close()


def batch_on_ray(*, address: str | None, workers: int | None, image_root: str | None, store, cache,
                 items: Sequence[tuple[int, Path]], settings, device: str, batch_size: int, recompute: bool,
                 quiet: bool) -> tuple[list[int], list[tuple[int, str]], int]:
    """(analysed ids, failures, k) like the single-machine ``batch`` job; clustering runs on the driver."""
    from ..curation import cluster_all
    from ..runner import run_with_progress
    from .batch import ray_analyze

    with _runtime(address, workers) as runtime:
        with _bar(len(items), f"analyse on Ray ({'local' if runtime.started and not address else address})",
                  quiet) as update:
            done = ray_analyze(runtime, store=store, cache=cache, items=items, settings=settings, device=device,
                               workers=workers, image_root=image_root, batch_size=batch_size,
                               recompute=recompute, progress=update)
    kept = set(done.analysed_ids)
    k = 0
    if getattr(settings, "n_clusters", 0) >= 2:
        k = run_with_progress(lambda ctx: cluster_all(ctx, cache=cache, store=store,
                                                      items=[it for it in items if it[0] in kept],
                                                      settings=settings, n_clusters=settings.n_clusters),
                              device, "cluster", quiet)
    if not quiet:
        print(f"Ray: {done.n_workers} worker(s), {done.n_computed} analysed now, "
              f"{len(done.analysed_ids) - done.n_computed} from the cache, "
              f"{done.images_per_second:.2f} images/s", file=sys.stderr)
    return done.analysed_ids, done.failures, k


def predict_on_ray(*, address: str | None, workers: int | None, image_root: str | None, store, info,
                   checkpoint: Path, ledger_dir: Path, device: str, quiet: bool):
    from ..curation import prediction_items
    from .predict import ray_predict

    items = prediction_items(store)
    with _runtime(address, workers) as runtime:
        with _bar(len(items), f"predict {info.name} on Ray", quiet) as update:
            done = ray_predict(runtime, store=store, info=info, checkpoint=checkpoint, items=items,
                               ledger_dir=ledger_dir, device=device, workers=workers, image_root=image_root,
                               progress=update)
    if done.n_skipped and not quiet:
        print(f"{done.n_skipped} image(s) already predicted with this checkpoint (skipped)", file=sys.stderr)
    return done
