"""Peak memory and time of decoding / analysing one very large image (issue 12, item 11).

    python benchmarks/bench_large_image.py [--side 12000] [--format png|jpg] [--max-side 640]
                                           [--modes decode-full,decode-reduced,analyze]

Each mode runs in a fresh subprocess so its peak RSS (``VmHWM``) is its own (imports included):

* ``decode-full``: ``load_image(path)`` then ``resize_max_side`` — what a features-only caller paid
  before (the whole image decoded and converted at full size);
* ``decode-reduced``: ``load_image(path, max_side=...)`` then ``resize_max_side`` — JPEG DCT scaling
  (``draft``) / ``Image.reduce`` before any colour conversion;
* ``analyze``: one ``engine.curation.analyze_image`` (random_vitt16, no CRF/matting) — the whole
  per-image analysis, which still needs full-resolution masks (proposals are full-res by contract).

The synthetic image (a smooth gradient with shapes: small file, big pixels) is written to a temp
folder, never into the repository.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
mode, path, max_side = sys.argv[2], sys.argv[3], int(sys.argv[4])
import numpy as np
from engine.imageio import load_image, resize_max_side
def hwm_kb():  # VmHWM: this process image's peak RSS (ru_maxrss survives exec: it would show the parent's)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
base = hwm_kb()
t0 = time.perf_counter()
if mode == "decode-full":
    small = resize_max_side(load_image(path), max_side)
    shape = small.shape
elif mode == "decode-reduced":
    small = resize_max_side(load_image(path, max_side=max_side), max_side)
    shape = small.shape
elif mode == "analyze":
    from pathlib import Path
    from engine.curation import AnalyzerHolder, CurationSettings, analyze_image
    from engine.jobs import run_sync
    from engine.store import ProjectStore
    import tempfile
    d = Path(tempfile.mkdtemp())
    store = ProjectStore.open(d / "p.sqlite", image_root=Path(path).parent)
    (rec,) = store.add_images([path])
    settings = CurationSettings(backbone="random_vitt16", max_side=max_side, crf=False, matting=False)
    done = run_sync(lambda ctx: analyze_image(ctx, holder=AnalyzerHolder(None), cache=None, store=store,
                                              image_id=rec.id, path=Path(path), settings=settings))
    shape = getattr(getattr(done, "overlays", None), "image_hw", getattr(done, "message", ""))
    store.close()
seconds = time.perf_counter() - t0
peak = hwm_kb()
print(json.dumps({"mode": mode, "seconds": seconds, "peak_rss_mb": peak / 1024, "baseline_rss_mb": base / 1024,
                  "result": str(shape)}))
"""


def make_image(folder: Path, side: int, fmt: str) -> Path:
    import numpy as np
    from PIL import Image, ImageDraw

    path = folder / f"large_{side}.{fmt}"
    if path.exists():
        return path
    y = np.linspace(0, 255, side, dtype=np.float32)[:, None]
    x = np.linspace(0, 255, side, dtype=np.float32)[None, :]
    rgb = np.empty((side, side, 3), np.uint8)
    rgb[..., 0] = (x + 0 * y).astype(np.uint8)
    rgb[..., 1] = (y + 0 * x).astype(np.uint8)
    rgb[..., 2] = 128
    img = Image.fromarray(rgb)
    del rgb
    draw = ImageDraw.Draw(img)
    draw.ellipse((side // 4, side // 4, 3 * side // 4, 3 * side // 4), fill=(220, 40, 40))
    if fmt == "png":
        img.save(path, compress_level=1)
    else:
        img.save(path, quality=90)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=12000)
    p.add_argument("--format", choices=("png", "jpg"), default="png")
    p.add_argument("--max-side", type=int, default=640)
    p.add_argument("--modes", default="decode-full,decode-reduced,analyze")
    p.add_argument("--dir", help="where to write the synthetic image (default: a temp folder)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.dir or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        path = make_image(folder, args.side, args.format)
        print(f"{path.name}: {args.side}x{args.side} {args.format.upper()}, {path.stat().st_size / 1e6:.1f} MB on disk "
              f"(made in {time.perf_counter() - t0:.1f} s); working resolution {args.max_side}")
        print(f"{'mode':<16} {'seconds':>8} {'peak RSS MB':>12} {'after imports':>14}  result")
        for mode in args.modes.split(","):
            out = subprocess.run([sys.executable, "-c", _CHILD, str(REPO), mode, str(path), str(args.max_side)],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{mode:<16} failed: {out.stderr.strip().splitlines()[-1] if out.stderr.strip() else out.returncode}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{mode:<16} {r['seconds']:>8.1f} {r['peak_rss_mb']:>12.0f} {r['baseline_rss_mb']:>14.0f}  "
                  f"{r['result']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
