"""``main.py predict METHOD FOLDER --ray``: a trained method's proposals for every image, on Ray actors.

Resumable: the ids of images whose proposals are stored are appended (after the store write) to a
ledger next to the checkpoint's project models, named after the checkpoint's content hash; a rerun
with the same checkpoint skips them, another checkpoint starts afresh. Re-predicting an image is
harmless (``replace_proposals`` swaps only still-proposed segments), so a kill costs only in-flight work.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from .batch import worker_path
from .results import ImageFailed
from .runtime import CONTROL, actor_options, run_on_pool


@dataclass
class RayPredictDone:
    method: str
    n_images: int
    predicted_ids: list[int] = field(default_factory=list)
    n_skipped: int = 0  # already predicted with this checkpoint by an earlier (interrupted) run
    n_proposals: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)
    seconds: float = 0.0


def _ledger(ledger_dir: Path, method: str, checkpoint: bytes) -> Path:
    return Path(ledger_dir) / f"ray-predicted-{method}-{hashlib.sha1(checkpoint).hexdigest()[:16]}.ids"


def _read_ledger(path: Path) -> set[int]:
    try:
        return {int(t) for t in path.read_text().split() if t.isdigit()}
    except OSError:
        return set()


def ray_predict(runtime, *, store, info, checkpoint: Path, items: Sequence, ledger_dir: Path,
                device: str = "auto", workers: int | None = None, image_root: str | Path | None = None,
                chunk_size: int = 4, progress: Callable[[int, int], None] | None = None) -> RayPredictDone:
    """``items``: :class:`engine.curation.training.PredictionItem`; ``info``: the method's MethodInfo."""
    from .workers import PredictWorker

    ray = runtime.ray
    t0 = time.perf_counter()
    data = Path(checkpoint).read_bytes()
    ledger = _ledger(ledger_dir, info.name, data)
    skip = _read_ledger(ledger)
    todo = [it for it in items if it.image_id not in skip]
    done = RayPredictDone(info.name, len(items), n_skipped=len(items) - len(todo))
    if progress is not None and done.n_skipped:
        progress(done.n_skipped, 0)
    if not todo:
        return done
    n, opts = actor_options(runtime.resources(), device, workers)
    ckpt = ray.put(data)
    Actor = ray.remote(concurrency_groups=CONTROL)(PredictWorker).options(**opts)
    actors = [Actor.remote(info.name, Path(checkpoint).name, [ckpt], device, 1 if opts["num_gpus"] == 0 else None)
              for _ in range(n)]
    seen: set[int] = set()
    ledger.parent.mkdir(parents=True, exist_ok=True)
    with open(ledger, "a") as log_file:
        def on_chunk(chunk, results) -> None:
            ok = bad = 0
            finished = []
            for r in results:
                if r.image_id in seen:
                    continue
                seen.add(r.image_id)
                if isinstance(r, ImageFailed):
                    done.failures.append((r.image_id, r.reason))
                    bad += 1
                    continue
                store.replace_proposals(r.image_id, info.name, [p.proposal() for p in r.proposals])
                done.n_proposals += len(r.proposals)
                done.predicted_ids.append(r.image_id)
                finished.append(r.image_id)
                ok += 1
            if finished:  # after the store writes: a kill in between only re-predicts these
                log_file.write("".join(f"{i}\n" for i in finished))
                log_file.flush()
                os.fsync(log_file.fileno())
            if progress is not None:
                progress(ok, bad)

        def on_lost(chunk, reason) -> None:
            for image_id, _, _ in chunk:
                if image_id not in seen:
                    seen.add(image_id)
                    done.failures.append((image_id, reason))
            if progress is not None:
                progress(0, len(chunk))

        jobs = [(it.image_id, worker_path(store, it.image_id, Path(it.path), image_root), tuple(it.tags))
                for it in todo]
        chunks = [jobs[s:s + chunk_size] for s in range(0, len(jobs), chunk_size)]
        try:
            run_on_pool(ray, actors, lambda a, c: a.predict.remote(c), chunks, on_chunk, on_lost)
        finally:
            for a in actors:
                ray.kill(a)
    done.seconds = time.perf_counter() - t0
    return done
