"""``main.py batch FOLDER --ray``: DSM analysis of every image on Ray actors, the driver the only writer.

Resumable and idempotent with the single-machine rules of ``engine.curation.analysis``: an image whose
analysis-cache entry exists (same bytes, backbone, settings) is not analysed again, only its missing
proposal sources are stored from the entry; per image the cache entry is written (atomically) before
its proposals (one store transaction per source), so a kill or Ctrl+C at any point leaves either a
complete image or one the next run finishes. Clustering is ``engine.curation.cluster_all`` on the
driver afterwards: memory-bounded (segment features only; ``engine.clustering.StreamingKMeans`` beyond
its memory budget), so 100k+ images cluster in one process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..curation.analysis import store_proposals
from ..curation.settings import as_spectral
from .cache_entries import known_keys, write_entry
from .results import CachedHit, EntryResult, ImageFailed
from .runtime import CONTROL, actor_options, run_on_pool


@dataclass
class RayBatchDone:
    n_images: int
    analysed_ids: list[int] = field(default_factory=list)
    failures: list[tuple[int, str]] = field(default_factory=list)  # (image id, reason)
    n_computed: int = 0  # analysed by a worker in this run (the rest came from the cache)
    n_workers: int = 0
    seconds: float = 0.0

    @property
    def images_per_second(self) -> float:
        return len(self.analysed_ids) / self.seconds if self.seconds > 0 else 0.0


def worker_path(store, image_id: int, path: Path, image_root: str | Path | None) -> str:
    """Where a worker reads the image: the stored path, or its path relative to the project's image
    folder joined onto ``image_root`` (the same dataset mounted elsewhere on the cluster)."""
    if image_root is None:
        return str(path)
    return str(Path(image_root) / store.relative_path(image_id))


def _set_error(store, image_id: int, reason: str | None) -> None:
    try:
        if reason is not None or store.image(image_id).error is not None:
            store.set_image_error(image_id, reason)
    except Exception:  # noqa: BLE001 - the failure is still reported to the caller
        pass


def ray_analyze(runtime, *, store, cache, items: Sequence[tuple[int, Path]], settings, device: str = "auto",
                workers: int | None = None, image_root: str | Path | None = None, batch_size: int = 4,
                recompute: bool = False, progress: Callable[[int, int], None] | None = None,
                on_results: Callable[[list], None] | None = None, actors_out: list | None = None) -> RayBatchDone:
    """Analyse ``items`` ((image id, driver-side path)) on Ray actors; store what comes back.

    ``progress(n_done_now, n_failed_now)`` after each chunk; ``on_results(results)`` sees each chunk's
    raw results (tests use it to kill a worker mid-run); ``actors_out`` receives the actor handles.
    """
    from .workers import AnalysisWorker

    ray = runtime.ray
    t0 = time.perf_counter()
    spectral = as_spectral(settings)
    done = RayBatchDone(len(items))
    if not items:
        return done
    path_of = {int(i): Path(p) for i, p in items}
    n, opts = actor_options(runtime.resources(), device, workers)
    known = ray.put(frozenset() if recompute else frozenset(known_keys(cache)))
    Actor = ray.remote(concurrency_groups=CONTROL)(AnalysisWorker).options(**opts)
    actors = [Actor.remote(spectral, device, [known], 1 if opts["num_gpus"] == 0 else None) for _ in range(n)]
    if actors_out is not None:
        actors_out.extend(actors)
    done.n_workers = n
    seen: set[int] = set()

    def apply(result) -> bool:
        image_id = result.image_id
        path = path_of[image_id]
        if isinstance(result, ImageFailed):
            done.failures.append((image_id, result.reason))
            if result.unreadable:
                _set_error(store, image_id, result.reason)
            return False
        if isinstance(result, EntryResult):
            if result.entry is not None:  # the cache entry first: proposals without it would be redone
                write_entry(cache, cache.key(path, spectral, result.sha1), result.entry)
            store_proposals(store, image_id, [p.proposal() for p in result.proposals], only_missing=not recompute)
            done.n_computed += 1
        elif isinstance(result, CachedHit):
            have = {s.source for s in store.segments(image_id)}
            if not {"dsm.object", "dsm.segment"} <= have:  # a kill between cache write and store write
                hit = cache.get(path, spectral, result.sha1)
                if hit is None:
                    done.failures.append((image_id, "analysis cache entry unreadable; rerun to recompute"))
                    return False
                store_proposals(store, image_id, hit.proposals, only_missing=True)
        _set_error(store, image_id, None)
        return True

    def on_chunk(chunk, results) -> None:
        ok = bad = 0
        for r in results:
            if r.image_id in seen:  # a retried chunk whose first answer already arrived
                continue
            seen.add(r.image_id)
            if apply(r):
                done.analysed_ids.append(r.image_id)
                ok += 1
            else:
                bad += 1
        if on_results is not None:
            on_results(results)
        if progress is not None:
            progress(ok, bad)

    def on_lost(chunk, reason) -> None:
        for image_id, _ in chunk:
            if image_id not in seen:
                seen.add(image_id)
                done.failures.append((image_id, reason))
        if progress is not None:
            progress(0, len(chunk))

    jobs = [(int(i), worker_path(store, int(i), Path(p), image_root)) for i, p in items]
    chunks = [jobs[s:s + batch_size] for s in range(0, len(jobs), batch_size)]
    try:
        run_on_pool(ray, actors, lambda a, c: a.analyze.remote(c, batch_size, recompute), chunks,
                    on_chunk, on_lost)
    finally:
        for a in actors:
            ray.kill(a)
    done.seconds = time.perf_counter() - t0
    return done
