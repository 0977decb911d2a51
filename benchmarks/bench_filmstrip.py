"""Filmstrip at 50,000 images: open time, scroll step, filter switch, first-thumbnail latency.

    QT_QPA_PLATFORM=offscreen python benchmarks/bench_filmstrip.py [--images 50000] [--data ../shared/data]

What it builds (be aware when reading the figures): a temp folder of N *symbolic links* named
``img_00000.jpg`` … that point, in turn, to 24 real COCO val2017 photos of ../shared/data (so every row
is a real JPEG, but the disk cache of the OS holds all 24 after the first reads); the project is
created once through ``open_project`` (the real scan: N symlinks, N image headers read). Open
proposals (sources ``dsm`` on every 3rd image and ``stego`` on every 7th, random scores) are written
straight into the segments table in one transaction — setup only, ``replace_proposals`` would commit
each image separately. The real main window opens the project offscreen with its analysis stubbed out
(this measures the filmstrip and the review bar, not the models).

Measured, each next to its target:
* open: ``MainWindow.open_folder`` (store open + rescan for new files, records, review-bar query) until
  the filmstrip has painted once;
* scroll step: jump the scroll bar to 100 random positions, each followed by a synchronous repaint of
  the viewport and processing pending events (thumbnail requests included) — p50 / p95;
* filter switch: To do, Proposals: dsm, Least certain first, Accepted, All — query + model reset +
  repaint, each;
* first thumbnail: from the painted filmstrip to the first visible row showing its thumbnail, with a
  cold disk cache (decode) and after reopening (thumbnails read from ``<project>/thumbs``); the time until every
  visible row has its thumbnail after a jump to a random place (warm OS cache, cold thumbnail cache).
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("MASKCURATOR_NO_DIALOGS", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtGui import QPixmap  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _line(name: str, value: float, target: float, unit: str = "ms") -> None:
    ok = "OK  " if value < target else "MISS"
    print(f"  {ok} {name:<44} {value:9.1f} {unit}   (target < {target:g} {unit})")


def build_project(root: Path, n: int, data: Path) -> Path:
    from engine.curation.project import open_project
    from engine.imageio import read_image_info
    from engine.store.rle import encode

    src = sorted((data / "coco_val_subset" / "images").glob("*.jpg"))[:24]
    if not src:
        raise SystemExit(f"no COCO images under {data / 'coco_val_subset'}")
    folder = root / "images"
    folder.mkdir()
    t = time.perf_counter()
    for i in range(n):
        os.symlink(src[i % len(src)], folder / f"img_{i:05d}.jpg")
    print(f"setup: {n} symlinks to {len(src)} real photos in {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    store, paths = open_project(folder)
    print(f"setup: project created (scan + {n} headers read) in {time.perf_counter() - t:.1f} s")
    sizes = {}
    for p in src:
        info = read_image_info(p)
        m = np.zeros((info.height, info.width), bool)
        m[info.height // 4: info.height // 2, info.width // 4: info.width // 2] = True
        sizes[p.name] = encode(m)
    rng = random.Random(0)
    rows = []
    for rec in store.images():
        i = int(Path(rec.path).stem.split("_")[1])
        r = sizes[src[i % len(src)].name]
        x, y, w, h = r.bbox
        for source, every in (("dsm", 3), ("stego", 7)):
            if i % every == 0:
                rows.append((rec.id, source, "proposed", rng.random(), x, y, w, h, r.area, r.counts, r.height, r.width))
    store.close()
    conn = sqlite3.connect(str(paths.database))
    with conn:
        conn.executemany("INSERT INTO segments(image_id, source, state, score, bbox_x, bbox_y, bbox_w, bbox_h, area, "
                         "rle_counts, rle_height, rle_width) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows)
        # a few reviewed images so that "Accepted" is not empty
        conn.execute("UPDATE images SET status='accepted' WHERE id % 50 = 0")
    conn.close()
    print(f"setup: {len(rows)} open proposals written")
    return folder


def visible_rows(strip) -> list[int]:
    top = strip.indexAt(strip.viewport().rect().topLeft())
    bottom = strip.indexAt(strip.viewport().rect().bottomLeft())
    first = top.row() if top.isValid() else 0
    last = bottom.row() if bottom.isValid() else min(strip.model_.rowCount() - 1, first + 12)
    return list(range(first, last + 1))


def has_thumb(strip, row: int) -> bool:
    return isinstance(strip.model_.data(strip.model_.index(row), Qt.ItemDataRole.DecorationRole), QPixmap)


def wait_for(app, cond, timeout_s: float = 60.0) -> float:
    t = time.perf_counter()
    while not cond():
        app.processEvents()
        if time.perf_counter() - t > timeout_s:
            return float("nan")
        time.sleep(0.001)
    return time.perf_counter() - t


def open_and_measure(app, w, folder: Path) -> tuple[float, float]:
    strip = w.filmstrip
    t = time.perf_counter()
    w.open_folder(folder)
    strip.viewport().repaint()
    app.processEvents()
    t_open = time.perf_counter() - t
    t_thumb = wait_for(app, lambda: has_thumb(strip, visible_rows(strip)[0]))
    return t_open, t_thumb


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=50_000)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["MASKCURATOR_SETTINGS"] = str(Path(tmp) / "settings.ini")
        folder = build_project(Path(tmp), args.images, args.data)
        from app.main_window import MainWindow

        w = MainWindow(None, device="cpu")
        w.analysis.request = lambda *a, **k: None  # the filmstrip, not the models
        w.analysis.prefetch = lambda *a, **k: None
        w.resize(1400, 860)
        w.show()
        app.processEvents()
        strip, bar = w.filmstrip, w.review_bar
        t_open, t_thumb_cold = open_and_measure(app, w, folder)
        n_rows = strip.model_.rowCount()
        print(f"\n{n_rows} images in the filmstrip, {len(visible_rows(strip))} rows visible; "
              f"counter: {bar.counter.text()!r}")
        _line("open project + filmstrip painted", _ms(t_open), 2000)
        _line("first thumbnail after that (cold: decode)", _ms(t_thumb_cold), 500)

        rng = random.Random(args.seed)
        sb = strip.verticalScrollBar()
        steps = []
        for _ in range(100):
            v = rng.randint(0, sb.maximum())
            t = time.perf_counter()
            sb.setValue(v)
            strip.viewport().repaint()
            app.processEvents()
            steps.append(_ms(time.perf_counter() - t))
        steps.sort()
        p50, p95 = statistics.median(steps), steps[94]
        _line("scroll step p50 (100 random jumps)", p50, 16)
        _line("scroll step p95", p95, 16)
        sb.setValue(rng.randint(0, sb.maximum()))
        strip.viewport().repaint()
        t_fill = wait_for(app, lambda: all(has_thumb(strip, r) for r in visible_rows(strip)))
        _line("all visible thumbnails after a jump (cold)", _ms(t_fill), 1000)

        def switch(**view):
            t = time.perf_counter()
            bar.set_view(**view)
            strip.viewport().repaint()
            app.processEvents()
            return _ms(time.perf_counter() - t), strip.model_.rowCount()

        for title, view in (("filter: To do", dict(filter="todo")),
                            ("filter: Proposals dsm", dict(filter="all", source="dsm")),
                            ("sort: Least certain first (dsm)", dict(filter="all", source="dsm", sort="confidence")),
                            ("filter: Accepted", dict(filter="accepted", sort="name")),
                            ("filter: All", dict(filter="all", sort="name"))):
            ms, rows = switch(**view)
            _line(f"{title} ({rows} rows)", ms, 200)
        t = time.perf_counter()
        bar.jump_to_text("img_31337")
        app.processEvents()
        _line("jump to image by name", _ms(time.perf_counter() - t), 200)

        t_reopen, t_thumb_warm = open_and_measure(app, w, folder)
        _line("reopen project + filmstrip painted", _ms(t_reopen), 2000)
        _line("first thumbnail after that (disk cache)", _ms(t_thumb_warm), 100)
        n_cached = sum(1 for _ in (folder / ".maskcurator" / "thumbs").rglob("*.jpg"))
        print(f"\n{n_cached} thumbnails in the disk cache; CPU cores: {os.cpu_count()}")
        w.close()


if __name__ == "__main__":
    main()
