"""Build a hostile image folder and run ``batch`` + ``export`` on it: zero crashes, one clear line per
bad file, every good image processed (issue 12).

    python benchmarks/hostile_folder.py [--keep DIR] [--backbone random_vitt16] [--max-side 64]

Prints a summary and exits 1 when any expectation fails. tests/test_hostile.py runs it in a temp dir.
Everything is synthetic (no real images are copied).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import struct
import sys
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass
class Entry:
    name: str  # printable name
    raw: bytes  # file-system name
    kind: str  # what is hostile about it
    expect: str  # "good" (analysed), "bad" (one line naming it), "ignored" (not an image name)
    note: str = ""


@dataclass
class Folder:
    path: Path
    entries: list[Entry] = field(default_factory=list)


def _rgb(h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([(x * 255 // max(w, 1)), (y * 255 // max(h, 1)), np.full_like(x, 128)], -1)
    return np.clip(base + rng.integers(-20, 20, (h, w, 3)), 0, 255).astype(np.uint8)


def _png_header_bomb(w: int, h: int) -> bytes:
    """A valid PNG signature + IHDR claiming ``w`` x ``h`` and a tiny IDAT: a decompression bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _gif_header_bomb() -> bytes:
    """GIF logical screen 65535 x 65535 (4.3 G pixels) with a 1x1 frame."""
    buf = io.BytesIO()
    Image.new("P", (1, 1)).save(buf, format="GIF")
    data = bytearray(buf.getvalue())
    data[6:10] = struct.pack("<HH", 65535, 65535)
    return bytes(data)


def build(root: Path) -> Folder:
    """Write ≥ 30 kinds of good and bad inputs into ``root`` (created)."""
    root.mkdir(parents=True, exist_ok=True)
    f = Folder(root)
    base = os.fsencode(root)

    def add(raw: bytes | str, kind: str, expect: str, data: bytes | None = None, image: Image.Image | None = None,
            note: str = "", **save):
        raw = raw if isinstance(raw, bytes) else os.fsencode(raw)
        path = base + b"/" + raw
        if image is not None:
            buf = io.BytesIO()
            fmt = save.pop("format", None) or {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".gif": "GIF",
                                                ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF",
                                                ".webp": "WEBP"}[os.path.splitext(os.fsdecode(raw))[1].lower()]
            image.save(buf, format=fmt, **save)
            data = buf.getvalue()
        if data is not None:
            with open(path, "wb") as fh:
                fh.write(data)
        f.entries.append(Entry(_show(os.fsdecode(raw)), raw, kind, expect, note))
        return path

    rgb = Image.fromarray(_rgb(40, 56))
    jpeg = io.BytesIO()
    Image.fromarray(_rgb(120, 160, 1)).save(jpeg, format="JPEG", quality=90)
    jpeg_bytes = jpeg.getvalue()
    png = io.BytesIO()
    Image.fromarray(_rgb(60, 80, 2)).save(png, format="PNG")
    png_bytes = png.getvalue()

    # -- good inputs, some of them unusual ------------------------------------------------------
    add("plain.png", "plain PNG", "good", image=rgb)
    add("plain.jpg", "plain JPEG", "good", data=jpeg_bytes)
    add("UPPER.JPG", "upper-case extension", "good", data=jpeg_bytes)
    add("mixed.JpEg", "mixed-case .jpeg", "good", image=rgb, format="JPEG")
    add("with spaces and (parens).png", "spaces in the name", "good", image=rgb)
    add("café 日本 ✓.png", "unicode name", "good", image=rgb)
    add(b"latin1 caf\xe9.png", "non-UTF-8 name (latin-1 byte)", "good", image=rgb)
    add(b"raw \xff\xfe bytes.jpg", "non-UTF-8 name (invalid bytes)", "good", data=jpeg_bytes)
    add("new\nline.png", "newline in the name", "good", image=rgb)
    add("-starts-with-dash.png", "name starting with '-'", "good", image=rgb)
    add("x" * 200 + ".png", "200-character name", "good", image=rgb)
    add("one_by_one.png", "1x1 PNG", "good", image=Image.new("RGB", (1, 1), (200, 10, 10)))
    add("one_by_one.jpg", "1x1 JPEG", "good", image=Image.new("RGB", (1, 1), (10, 200, 10)))
    add("tiny_7x5.png", "smaller than one ViT patch", "good", image=Image.fromarray(_rgb(5, 7)))
    add("strip_1x900.png", "1 x 900 strip (extreme aspect)", "good", image=Image.fromarray(_rgb(1, 900)))
    add("cmyk.jpg", "CMYK JPEG", "good", image=Image.fromarray(_rgb(40, 56)).convert("CMYK"))
    grey16 = (np.arange(40 * 56).reshape(40, 56) * 29).astype(np.uint16)
    add("grey16.png", "16-bit greyscale PNG", "good", image=Image.fromarray(grey16))
    import cv2  # 16-bit RGB PNG (PIL cannot write one)

    ok, rgb16 = cv2.imencode(".png", (_rgb(40, 56).astype(np.uint16) * 257))
    add("rgb16.png", "16-bit RGB PNG", "good", data=rgb16.tobytes())
    pal = Image.fromarray(_rgb(40, 56)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    add("palette_transparent.png", "palette + transparency", "good", image=pal, transparency=0)
    rgba = Image.fromarray(_rgb(40, 56)).convert("RGBA")
    rgba.putalpha(Image.fromarray((_rgb(40, 56)[..., 0] > 128).astype(np.uint8) * 255))
    add("alpha.png", "RGBA with alpha holes", "good", image=rgba)
    add("grey_alpha.png", "LA (grey + alpha)", "good", image=Image.fromarray(_rgb(40, 56)).convert("LA"))
    add("bilevel.png", "1-bit bilevel", "good", image=Image.fromarray(_rgb(40, 56)).convert("1"))
    frames = [Image.fromarray(_rgb(40, 56, k)).convert("P") for k in range(3)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    add("animated.gif", "animated GIF (3 frames)", "good", data=buf.getvalue())
    rot = Image.fromarray(_rgb(40, 56))
    exif = rot.getexif()
    exif[0x0112] = 6
    add("exif_rotated.jpg", "EXIF orientation 6", "good", image=rot, exif=exif)
    add("float32.tif", "32-bit float TIFF", "good",
        image=Image.fromarray((_rgb(40, 56)[..., 0] / 255.0).astype(np.float32)))
    add("lossless.webp", "WebP", "good", image=rgb)
    add("bitmap.bmp", "BMP", "good", image=rgb)
    add("png_named.jpg", "PNG content named .jpg", "good", data=png_bytes)
    noperm = add("no_permission.png", "unreadable (chmod 000)", "bad", image=rgb)
    os.chmod(noperm, 0)
    if os.geteuid() == 0:  # root reads it anyway: then it is simply a good image
        f.entries[-1].expect = "good"
        f.entries[-1].note = "running as root: permissions do not apply"

    # -- bad inputs -------------------------------------------------------------------------------
    add("zero_bytes.jpg", "zero-byte file", "bad", data=b"")
    add("garbage.png", "random bytes", "bad", data=np.random.default_rng(3).bytes(4096))
    add("html_page.jpg", "HTML saved as .jpg", "bad", data=b"<!DOCTYPE html><html><body>404 Not Found</body></html>")
    add("truncated.jpg", "JPEG cut in half", "bad", data=jpeg_bytes[: len(jpeg_bytes) // 2])
    add("truncated.png", "PNG cut in half", "bad", data=png_bytes[: len(png_bytes) // 2])
    add("no_eoi.jpg", "JPEG missing its last bytes", "bad", data=jpeg_bytes[:-40])
    add("header_bomb.png", "PNG header claiming 100000x100000", "bad", data=_png_header_bomb(100_000, 100_000))
    add("header_bomb.gif", "GIF header claiming 65535x65535", "bad", data=_gif_header_bomb())
    bad_crc = bytearray(png_bytes)
    bad_crc[40] ^= 0xFF
    add("bad_crc.png", "PNG with a corrupted chunk", "bad", data=bytes(bad_crc))
    add(b"bad \xff name.jpg", "non-UTF-8 name, garbage content", "bad", data=b"\x00" * 100)
    os.mkdir(base + b"/folder_named.jpg")
    add("folder_named.jpg", "directory named x.jpg", "bad")
    os.symlink(base + b"/loop_b.png", base + b"/loop_a.png")
    os.symlink(base + b"/loop_a.png", base + b"/loop_b.png")
    add("loop_a.png", "symlink loop", "bad")
    add("loop_b.png", "symlink loop (other end)", "bad")
    os.symlink(base + b"/does_not_exist.png", base + b"/dangling.png")
    add("dangling.png", "broken symlink", "bad")
    os.mkfifo(base + b"/named_pipe.jpg")
    add("named_pipe.jpg", "FIFO named .jpg (reading it would hang)", "bad")

    # -- not images at all: silently ignored by design ------------------------------------------
    add("notes.txt", "text file", "ignored", data=b"hello")
    add(".hidden.png", "hidden file", "ignored", image=rgb)
    add("no_extension", "no extension", "ignored", data=jpeg_bytes)
    return f


def _show(name: str) -> str:
    from engine.imageio import printable_name

    return printable_name(name)


@dataclass
class Summary:
    kinds: int
    good: int
    good_analysed: int
    bad: int
    bad_reported_once: int
    exit_codes: dict
    crashes: list
    problems: list
    exported_images: int

    @property
    def ok(self) -> bool:
        return not self.crashes and not self.problems

    def lines(self) -> list[str]:
        return [f"hostile folder: {self.kinds} kinds of input ({self.good} good, {self.bad} bad)",
                f"good images analysed: {self.good_analysed}/{self.good}",
                f"bad files reported on exactly one line: {self.bad_reported_once}/{self.bad}",
                "exit codes: " + ", ".join(f"{k} {v}" for k, v in self.exit_codes.items()),
                f"exported images: {self.exported_images} (COCO), same set as the good images: "
                f"{'yes' if not any(p.startswith('export') for p in self.problems) else 'no'}",
                f"crashes (tracebacks): {len(self.crashes)}",
                *(f"  problem: {p}" for p in self.problems), *(f"  crash: {c}" for c in self.crashes)]


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from engine.cli import main as cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = cli(argv)
        except BaseException as exc:  # noqa: BLE001 - a crash is what this script looks for
            import traceback

            traceback.print_exc(file=err)
            rc = f"crash {type(exc).__name__}"
    return rc, out.getvalue(), err.getvalue()


def run(folder: Folder, backbone: str = "random_vitt16", max_side: int = 64, verbose: bool = False) -> Summary:
    from engine.project import project_paths
    from engine.store import ProjectStore

    fast = ["--backbone", backbone, "--max-side", str(max_side), "--no-crf", "--no-matting", "--segments", "2",
            "--device", "cpu"]
    exports = folder.path.parent / f"{folder.path.name}_exports"
    runs = {
        "batch": ["-q", "batch", str(folder.path), *fast, "--batch-size", "8"],
        "batch again": ["-q", "batch", str(folder.path), *fast, "--batch-size", "8"],
        "export coco": ["export", str(folder.path), "--out", str(exports / "coco.json"), "--states", "proposed",
                        "--include-unlabelled"],
        "export semantic": ["export", str(folder.path), "--out", str(exports / "semantic"), "--format", "semantic",
                            "--states", "proposed"],
        "info": ["info", str(folder.path)],
    }
    codes, crashes, problems = {}, [], []
    first_err = ""
    for what, argv in runs.items():
        rc, out, err = _cli(argv)
        codes[what] = rc
        if verbose:
            print(f"$ {what}: rc {rc}\n{out}{err}")
        if "Traceback" in err or str(rc).startswith("crash"):
            crashes.append(f"{what}: {err.strip().splitlines()[-1] if err.strip() else rc}")
        if what == "batch":
            first_err = err
    if codes.get("batch") != 3:
        problems.append(f"batch exit code {codes.get('batch')} (want 3: finished, some files failed)")
    for what in ("export coco", "export semantic", "info"):
        if codes.get(what) != 0:
            problems.append(f"{what} exit code {codes.get(what)}")
    lines = [ln for ln in first_err.splitlines() if ln.startswith(("skipped ", "failed "))]
    good = [e for e in folder.entries if e.expect == "good"]
    bad = [e for e in folder.entries if e.expect == "bad"]
    once = 0
    for e in bad:
        hits = [ln for ln in lines if ln.split(": ", 1)[0].endswith("/" + e.name)]
        if len(hits) == 1:
            once += 1
        else:
            problems.append(f"bad file {e.name!r} ({e.kind}) reported on {len(hits)} lines")
    for e in good:
        if any(ln.split(": ", 1)[0].endswith("/" + e.name) for ln in lines):
            problems.append(f"good file {e.name!r} ({e.kind}) was reported as bad")
    analysed = set()
    with ProjectStore.open(project_paths(folder.path).database) as store:
        for r in store.images():
            if r.error is None and store.segments(r.id):
                analysed.add(os.fsencode(Path(r.path).name))
        n_records = len(store.images())
    good_done = sum(1 for e in good if e.raw in analysed)
    for e in good:
        if e.raw not in analysed:
            problems.append(f"good file {e.name!r} ({e.kind}) was not analysed")
    if n_records != len(good) + len(bad):
        problems.append(f"{n_records} image records, want {len(good) + len(bad)} (nothing ignored may be added)")
    n_exported = 0
    try:
        names = {os.fsencode(im["file_name"]) for im in json.loads((exports / "coco.json").read_text())["images"]}
        n_exported = len(names)
        if names != {e.raw for e in good}:
            problems.append(f"export: COCO images differ from the good images ({sorted(names ^ {e.raw for e in good})})")
        sem = exports / "semantic"
        pngs = {p.name for p in sem.iterdir() if p.suffix == ".png"}
        if len(pngs) != len(good):
            problems.append(f"export: {len(pngs)} semantic label maps for {len(good)} good images")
    except (OSError, ValueError, KeyError) as exc:
        problems.append(f"export: cannot read the exports ({exc})")
    kinds = len({e.kind for e in folder.entries})
    return Summary(kinds, len(good), good_done, len(bad), once, codes, crashes, problems, n_exported)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--keep", metavar="DIR", help="build the folder here and keep it (default: a temp dir)")
    p.add_argument("--backbone", default="random_vitt16")
    p.add_argument("--max-side", type=int, default=64)
    p.add_argument("-v", "--verbose", action="store_true", help="print every command's output")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.keep) if args.keep else Path(tmp) / "hostile"
        folder = build(root)
        summary = run(folder, args.backbone, args.max_side, args.verbose)
        if args.verbose or not summary.ok:
            for e in folder.entries:
                print(f"  {e.expect:<7} {e.kind:<42} {e.name[:60]}{'  (' + e.note + ')' if e.note else ''}")
        for line in summary.lines():
            print(line)
        if not args.keep:
            with contextlib.suppress(OSError):  # the chmod 000 file: let the temp dir be removed
                os.chmod(os.fsencode(root) + b"/no_permission.png", 0o644)
    return 0 if summary.ok else 1


if __name__ == "__main__":
    sys.exit(main())
