"""Ray batch throughput: images/s with 1 vs 2 CPU workers (and the single-process batch for reference).

    .venv/bin/python benchmarks/bench_ray.py [--images 24] [--max-side 320] [--backbone random_vitt16]
                                             [--workers 1 2] [--batch-size 2] [--address ADDRESS]

Links ``--images`` real photos from ``../shared/data`` (sod_bsds, then voc12_samples) into a temp folder,
then analyses them (DSM, no CRF / matting) into a fresh project per run: in-process (``analyze_batch``
chunks, as ``main.py batch``) and with ``engine.distributed`` on a local Ray runtime (or ``--address``)
for each worker count. Prints wall images/s including actor start-up (backbone load) and steady-state
images/s (from the first chunk stored to the last). Needs the [cluster] extra.

This machine has 2 cores shared with other people's jobs, so 2 workers can at most double the
steady-state rate and usually gain less (load average printed); one torch thread per actor.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from engine.curation import AnalyzerHolder, CurationSettings, analyze_batch  # noqa: E402
from engine.curation.project import open_project  # noqa: E402
from engine.jobs import run_sync  # noqa: E402
from engine.pipeline import AnalysisStore  # noqa: E402

DATA = Path(os.environ.get("MASKCURATOR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def link_images(n: int, folder: Path) -> None:
    srcs = [*sorted((DATA / "sod_bsds" / "images").glob("*.jpg")), *sorted((DATA / "voc12_samples" / "images").glob("*.png"))]
    if len(srcs) < n:
        sys.exit(f"only {len(srcs)} images under {DATA}")
    for src in srcs[:n]:
        (folder / src.name).symlink_to(src)


def single_process(folder: Path, project: Path, settings, batch_size: int) -> float:
    import torch

    torch.set_num_threads(1)  # like one actor
    store, paths = open_project(folder, project_dir=project)
    try:
        items = [(r.id, Path(r.path)) for r in store.images()]
        holder, cache = AnalyzerHolder(None), AnalysisStore(paths.analysis_cache)
        holder.get(settings, torch.device("cpu"))  # backbone loaded before the clock starts
        t0 = time.perf_counter()

        def job(ctx):
            for s in range(0, len(items), batch_size):
                analyze_batch(ctx, holder=holder, cache=cache, store=store, items=items[s:s + batch_size],
                              settings=settings, batch_size=batch_size)

        run_sync(job, "cpu")
        return len(items) / (time.perf_counter() - t0)
    finally:
        store.close()


def on_ray(runtime, folder: Path, project: Path, settings, workers: int, batch_size: int) -> tuple[float, float, int]:
    from engine.distributed.batch import ray_analyze

    store, paths = open_project(folder, project_dir=project)
    stamps: list[tuple[float, int]] = []
    try:
        items = [(r.id, Path(r.path)) for r in store.images()]
        t0 = time.perf_counter()
        done = ray_analyze(runtime, store=store, cache=AnalysisStore(paths.analysis_cache), items=items,
                           settings=settings, device="cpu", workers=workers, batch_size=batch_size,
                           progress=lambda ok, bad: stamps.append((time.perf_counter(), ok + bad)))
        wall = len(done.analysed_ids) / (time.perf_counter() - t0)
        steady = (sum(n for _, n in stamps[1:]) / (stamps[-1][0] - stamps[0][0])
                  if len(stamps) > 1 and stamps[-1][0] > stamps[0][0] else float("nan"))
        return wall, steady, len(done.failures)
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--max-side", type=int, default=320)
    ap.add_argument("--backbone", default="random_vitt16")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--address", default=None, help="an existing Ray cluster (default: a local runtime)")
    args = ap.parse_args()
    from engine.distributed.runtime import connect

    settings = CurationSettings(backbone=args.backbone, max_side=args.max_side, n_clusters=0, crf=False,
                                matting=False)
    with tempfile.TemporaryDirectory(prefix="bench-ray-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        link_images(args.images, folder)
        print(f"{args.images} images, {args.backbone}, max side {args.max_side}, no CRF/matting, "
              f"batch {args.batch_size}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
        rate = single_process(folder, Path(tmp) / "single", settings, args.batch_size)
        print(f"single process (1 thread):  {rate:6.2f} images/s (backbone loaded beforehand)")
        runtime = connect(args.address, num_cpus=max(args.workers))
        try:
            for w in args.workers:
                wall, steady, failed = on_ray(runtime, folder, Path(tmp) / f"ray{w}", settings, w, args.batch_size)
                print(f"ray, {w} worker(s):         {wall:6.2f} images/s wall (incl. actor start), "
                      f"{steady:6.2f} images/s steady{f', {failed} failed' if failed else ''}")
        finally:
            runtime.close()
        print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
