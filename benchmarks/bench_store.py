"""Store and exporter throughput on real COCO masks: per-action commit latency (synchronous=FULL),
undo latency, replace_proposals rate and COCO/semantic export rates.

    python benchmarks/bench_store.py [--images 20] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.export import export_coco, export_semantic_pngs  # noqa: E402
from engine.proposals import Proposal  # noqa: E402
from engine.store import ProjectStore  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = ap.parse_args()
    from pycocotools.coco import COCO

    src = args.data / "coco_val_subset"
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(src / "annotations" / "instances_val2017.json"))
    img_infos = gt.dataset["images"][: args.images]
    with tempfile.TemporaryDirectory() as tmp:
        store = ProjectStore.open(Path(tmp) / "p.maskcurator")
        t = time.perf_counter()
        recs = store.add_images([src / "images" / i["file_name"] for i in img_infos])
        print(f"add_images: {len(recs) / (time.perf_counter() - t):.0f} images/s")
        classes = {c["id"]: store.add_class(c["name"]).id for c in gt.dataset["categories"]}
        masks = [(rec.id, gt.annToMask(a).astype(bool), a["category_id"])
                 for rec, info in zip(recs, img_infos) for a in gt.imgToAnns[info["id"]] if not a["iscrowd"]]
        t = time.perf_counter()
        for image_id, m, cat in masks:
            store.add_segment(image_id, m, classes[cat])
        dt = time.perf_counter() - t
        print(f"add_segment: {len(masks)} segments, {1000 * dt / len(masks):.2f} ms/action (one commit each)")
        t = time.perf_counter()
        n = min(50, len(masks))
        for _ in range(n):
            store.undo()
        print(f"undo: {1000 * (time.perf_counter() - t) / n:.2f} ms/step")
        for _ in range(n):
            store.redo()
        t = time.perf_counter()
        for image_id, m, _ in masks[:50]:
            store.replace_proposals(image_id, "bench", [Proposal(m, "bench"), Proposal(~m, "bench")])
        print(f"replace_proposals: {1000 * (time.perf_counter() - t) / min(50, len(masks)):.2f} ms/call")
        for rle_or_poly in (False, True):
            t = time.perf_counter()
            rep = export_coco(store, Path(tmp) / "coco.json", polygons=rle_or_poly)
            dt = time.perf_counter() - t
            print(f"export_coco(polygons={rle_or_poly}): {rep.n_annotations} anns in {dt:.2f}s "
                  f"({rep.n_annotations / dt:.0f} anns/s)")
        t = time.perf_counter()
        rep = export_semantic_pngs(store, Path(tmp) / "sem")
        print(f"export_semantic_pngs: {rep.n_images} images in {time.perf_counter() - t:.2f}s")
        size = sum(p.stat().st_size for p in Path(tmp).glob("p.maskcurator*"))
        print(f"project file incl. WAL: {size / 1e6:.2f} MB for {len(masks)} segments + undo log")
        store.close()


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
