"""Dataset clustering time and peak memory at 10k / 100k images of synthetic segment features (issue 16, target 4).

    python benchmarks/bench_clustering.py [--sizes 10000,100000] [--modes exact,streaming,cluster_all]
                                          [--segments 4] [--dim 384] [--clusters 21] [--json out.json]

Each (mode, size) runs in a fresh subprocess so its peak RSS (``VmHWM``, imports included) is its own:

* ``exact``: every image's segment features held in lists, one exact cosine k-means
  (``cluster_segment_features``: what ``cluster_dataset`` does; ``cluster_all`` keeps it while the rows
  fit its ``memory_mb``);
* ``streaming``: :class:`engine.clustering.StreamingKMeans` fed 1000 images at a time (features made on
  the fly, never all held), then a second pass of ``predict`` — the issue-15 / large-dataset path;
* ``cluster_all``: the real ``engine.curation.cluster_all`` over a fake analysis cache that serves
  synthetic 480×640 analyses' segment layouts and a store that drops the proposals (10k images only by
  default: it also makes every full-resolution semantic mask, ~3 per image).

Synthetic features: ``--clusters`` − 1 random directions + noise, L2-normalised, like mean ViT tokens.
Targets: < 2 GB peak at 100k images, time linear in N.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_PEAK_MB_100K = 2048

_CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
mode, n, segs, dim, k = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
import numpy as np, torch
def hwm_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
CENTRES = np.random.default_rng(123).standard_normal((k - 1, dim)).astype(np.float32)
def image_feats(start, stop):
    rng = np.random.default_rng(start)
    own = CENTRES[rng.integers(0, k - 1, (stop - start, segs))]
    x = own + 0.8 * rng.standard_normal(own.shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)  # (images, segs, dim)
base = hwm_mb()
t0 = time.perf_counter()
if mode == "exact":
    from engine.methods.spectral.semantic import cluster_segment_features
    feats, valid = [], []
    for s in range(0, n, 1000):
        block = image_feats(s, min(n, s + 1000))
        feats.extend(block)
        valid.extend(np.ones((len(block), segs), bool))
    out = cluster_segment_features(feats, valid, k, seed=0)
    labels = np.concatenate([o[1:] for o in out])
elif mode == "streaming":
    from engine.clustering import StreamingKMeans
    km = StreamingKMeans(k - 1, cosine=True, seed=0)
    for s in range(0, n, 1000):
        km.partial_fit(image_feats(s, min(n, s + 1000))[:, 1:].reshape(-1, dim))
    km.finalize()
    labels = np.concatenate([km.predict(image_feats(s, min(n, s + 1000))[:, 1:].reshape(-1, dim)).numpy()
                             for s in range(0, n, 1000)])
elif mode == "cluster_all":
    from pathlib import Path
    import engine.imageio
    from engine.curation import CurationSettings, cluster_all
    from engine.jobs import run_sync
    from engine.methods.spectral.geometry import GridGeometry
    from engine.pipeline import SegmentLayout
    engine.imageio.content_hash = lambda path, chunk=0: str(path)  # no image files: the path is the hash
    geometry = GridGeometry((480, 640), (30, 40), (16.0, 16.0))
    grid = np.zeros((30, 40), np.int32)
    for s in range(1, segs):
        grid[8:22, 10 * (s - 1) + 4: 10 * s + 2] = s
    class Cache:
        def segments(self, path, settings, sha1=""):
            i = int(Path(path).stem)
            return SegmentLayout(Path(path), image_feats(i, i + 1)[0], grid, geometry)
    class Store:
        written = 0
        def replace_proposals(self, image_id, source, props):
            Store.written += len(props)
    items = [(i, Path(f"{i}.jpg")) for i in range(n)]
    settings = CurationSettings(backbone="random_vits16", n_segments=segs, n_clusters=k)
    run_sync(lambda ctx: cluster_all(ctx, cache=Cache(), store=Store(), items=items, settings=settings,
                                     n_clusters=k), "cpu")
    labels = np.zeros(1)
seconds = time.perf_counter() - t0
print(json.dumps({"mode": mode, "images": n, "rows": n * (segs - 1), "seconds": seconds,
                  "peak_mb": hwm_mb(), "import_peak_mb": base, "clusters_used": int(len(np.unique(labels)))}))
"""


def run(mode: str, n: int, args) -> dict:
    out = subprocess.run([sys.executable, "-c", _CHILD, str(REPO), mode, str(n), str(args.segments),
                          str(args.dim), str(args.clusters)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{mode} at {n} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--modes", default="exact,streaming,cluster_all")
    ap.add_argument("--cluster-all-max", type=int, default=10000, help="largest N for the cluster_all mode")
    ap.add_argument("--exact-max", type=int, default=100000, help="largest N for the exact mode")
    ap.add_argument("--segments", type=int, default=4)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--clusters", type=int, default=21)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    print(f"segments/image={args.segments} (1 background) dim={args.dim} clusters={args.clusters}")
    for mode in args.modes.split(","):
        per_n = []
        for n in sizes:
            if (mode == "cluster_all" and n > args.cluster_all_max) or (mode == "exact" and n > args.exact_max):
                continue
            r = run(mode, n, args)
            results.append(r)
            per_n.append(r)
            target = ""
            if n >= 100000:
                ok = r["peak_mb"] < TARGET_PEAK_MB_100K
                target = f"   target < {TARGET_PEAK_MB_100K} MB at 100k: {'OK' if ok else 'MISSED'}"
            print(f"{mode:12s} N={n:>7d} rows={r['rows']:>7d}: {r['seconds']:7.1f} s, "
                  f"{1e6 * r['seconds'] / n:7.1f} µs/image, peak RSS {r['peak_mb']:6.0f} MB "
                  f"(imports {r['import_peak_mb']:.0f} MB){target}")
        if len(per_n) >= 2:
            a, b = per_n[0], per_n[-1]
            ratio = (b["seconds"] / a["seconds"]) / (b["images"] / a["images"])
            print(f"{mode:12s} time per image at N={b['images']} / at N={a['images']} = {ratio:.2f} "
                  f"(target: linear in N, i.e. about 1)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
