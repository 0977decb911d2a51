"""Issue 12: hostile folders and faults through the CLI — no input may stop a folder, corrupt an export
or lose a proposal. Every test here failed before the fix (see the commit messages)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.cli import main as cli
from engine.project import project_paths
from engine.store import ProjectStore

FAST = ["--backbone", "random_vitt16", "--max-side", "64", "--no-crf", "--no-matting", "--segments", "2",
        "--device", "cpu"]


def _img(path: Path, seed: int = 0, size=(48, 32)) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    return path


@pytest.fixture()
def folder(tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    for k in range(3):
        _img(d / f"g{k}.png", k)
    return d


def _store(folder: Path, **kw) -> ProjectStore:
    return ProjectStore.open(project_paths(folder).database, **kw)  # root: the folder above .maskcurator


def test_non_utf8_file_name_does_not_stop_the_folder(folder, tmp_path, capsys):
    raw = os.fsencode(folder) + b"/bad\xff\xfe name.png"
    with open(raw, "wb") as f:
        f.write((folder / "g0.png").read_bytes())
    for _ in range(2):  # every later run too
        assert cli(["-q", "batch", str(folder), *FAST]) == 0, capsys.readouterr().err
        assert "analysed 4/4 images" in capsys.readouterr().out
    tags = tmp_path / "tags.csv"
    tags.write_bytes(b"bad\xff\xfe name.png,cat\ng1.png,dog\n")
    assert cli(["tags", "import", str(folder), str(tags)]) == 0, capsys.readouterr().err
    assert "tagged 2 images" in capsys.readouterr().out
    out = tmp_path / "a.json"
    assert cli(["export", str(folder), "--out", str(out), "--states", "proposed", "--include-unlabelled"]) == 0
    names = [im["file_name"] for im in json.loads(out.read_text())["images"]]
    assert os.fsdecode(b"bad\xff\xfe name.png") in names  # JSON \udcff escapes: open() finds the file
    assert Path(folder / names[names.index(os.fsdecode(b"bad\xff\xfe name.png"))]).is_file()
    # broken the other way: the name is shown escaped, never crashes the output
    (folder / "g2.png").write_bytes(b"garbage")
    os.rename(folder / "g2.png", os.fsdecode(os.fsencode(folder) + b"/z\xff.png"))
    assert cli(["-q", "batch", str(folder), *FAST]) == 3
    assert "z\\xff.png" in capsys.readouterr().err


def test_a_moved_or_copied_image_folder_opens_intact(folder, tmp_path, capsys):
    assert cli(["-q", "batch", str(folder), *FAST]) == 0
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    moved = tmp_path / "moved"
    shutil.move(str(folder), str(moved))
    capsys.readouterr()
    for where in (copy, moved):
        assert cli(["-q", "batch", str(where), *FAST]) == 0
        assert "analysed 3/3 images" in capsys.readouterr().out  # not 6: nothing duplicated
        with _store(where) as s:
            assert [Path(r.path).parent for r in s.images()] == [where] * 3
            assert all(s.segments(r.id) for r in s.images())  # the proposals came along


def test_killed_between_cache_write_and_store_write_loses_no_proposal(folder, monkeypatch, capsys):
    """'analysed' means 'proposals committed': a rerun stores what a kill lost."""
    import engine.curation.analysis as analysis

    real = analysis.store_proposals
    calls = []

    def killed(store, image_id, proposals, only_missing):
        calls.append(image_id)
        if len(calls) == 2:  # the analysis cache already holds images 1 and 2 (put before store)
            raise KeyboardInterrupt
        return real(store, image_id, proposals, only_missing)

    monkeypatch.setattr(analysis, "store_proposals", killed)
    assert cli(["-q", "batch", str(folder), *FAST, "--batch-size", "4"]) == 130
    with _store(folder) as s:
        assert [bool(s.segments(r.id)) for r in s.images()] == [True, False, False]
    monkeypatch.setattr(analysis, "store_proposals", real)
    assert cli(["-q", "batch", str(folder), *FAST, "--batch-size", "4"]) == 0
    with _store(folder) as s:
        assert all(s.segments(r.id, source="dsm.object") for r in s.images())


def test_read_only_image_folder_falls_back_or_uses_project_dir(folder, tmp_path, monkeypatch, capsys):
    import errno

    from engine.project import ProjectPaths

    real_ensure = ProjectPaths.ensure

    def read_only(self):
        if self.data_dir is None:  # <folder>/.maskcurator cannot be made
            raise OSError(errno.EROFS, "Read-only file system", str(self.root))
        return real_ensure(self)

    monkeypatch.setattr(ProjectPaths, "ensure", read_only)
    monkeypatch.setenv("MASKCURATOR_DATA_HOME", str(tmp_path / "userdata"))
    assert cli(["-q", "batch", str(folder), *FAST]) == 0
    err = capsys.readouterr().err
    assert "cannot be written" in err and "--project" in err and "Traceback" not in err
    assert not (folder / ".maskcurator").exists()
    assert list((tmp_path / "userdata" / "projects").glob("imgs-*/project.sqlite"))
    assert cli(["info", str(folder)]) == 0  # found again without options
    assert "todo 3" in capsys.readouterr().out
    elsewhere = tmp_path / "elsewhere"
    assert cli(["-q", "batch", str(folder), *FAST, "--project", str(elsewhere)]) == 0
    assert (elsewhere / "project.sqlite").exists()
    out = tmp_path / "a.json"
    assert cli(["export", str(folder), "--project", str(elsewhere), "--out", str(out), "--states", "proposed",
                "--include-unlabelled"]) == 0
    assert [im["file_name"] for im in json.loads(out.read_text())["images"]] == ["g0.png", "g1.png", "g2.png"]


def _tags(folder: Path) -> dict[str, list[str]]:
    with _store(folder) as s:
        names = {c.id: c.name for c in s.classes()}
        return {Path(r.path).name: sorted(names[t] for t in s.image_tags(r.id)) for r in s.images()}


def test_tags_import_writes_exactly_what_the_file_says(folder, tmp_path, capsys):
    j = tmp_path / "t.json"
    j.write_text(json.dumps({"g0.png": "cat", "g1.png": ["dog", "cat"], "g2.png": None}))
    assert cli(["tags", "import", str(folder), str(j)]) == 0
    assert _tags(folder) == {"g0.png": ["cat"], "g1.png": ["cat", "dog"], "g2.png": []}  # not c, a, t
    bom = tmp_path / "bom.csv"
    bom.write_bytes("\ufeffg2.png,bird\n".encode("utf-8"))
    assert cli(["tags", "import", str(folder), str(bom)]) == 0
    assert _tags(folder)["g2.png"] == ["bird"]  # the BOM did not hide the first row
    # an error half-way: nothing of the file is applied
    bad = tmp_path / "bad.csv"
    bad.write_text("g0.png,fish\n,orphan\ng1.png,fish\n")
    assert cli(["tags", "import", str(folder), str(bad)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "Traceback" not in err
    assert _tags(folder) == {"g0.png": ["cat"], "g1.png": ["cat", "dog"], "g2.png": ["bird"]}
    # a row without tags leaves the image's tags alone unless --clear-empty
    empty = tmp_path / "empty.csv"
    empty.write_text("g0.png\ng1.png,\n")
    assert cli(["tags", "import", str(folder), str(empty)]) == 0
    assert _tags(folder)["g0.png"] == ["cat"] and _tags(folder)["g1.png"] == ["cat", "dog"]
    assert cli(["tags", "import", str(folder), str(empty), "--clear-empty"]) == 0
    assert _tags(folder)["g0.png"] == [] and _tags(folder)["g1.png"] == []
    for name, data in (("latin1.csv", "g0.png,caf\xe9\n".encode("latin-1")),
                       ("null.json", b'{"g0.png": [null]}'), ("emptyname.json", b'{"": ["x"]}'),
                       ("number.json", b'{"g0.png": 3}'), ("list.json", b'["g0.png"]'),
                       ("nul.csv", b"g0.png,a\x00b\n"), ("broken.json", b'{"g0.png": ['),
                       ("missing.csv", None)):
        path = tmp_path / name
        if data is not None:
            path.write_bytes(data)
        assert cli(["tags", "import", str(folder), str(path)]) == 2, name
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, (name, err)
    assert _tags(folder)["g0.png"] == []


@pytest.mark.parametrize("flag", [["--max-side", "0"], ["--segments", "0"], ["--batch-size", "0"],
                                  ["--clusters", "-3"], ["--export", "x.json", "--export-states", ","]])
def test_bad_batch_arguments_are_one_line_before_anything_is_made(folder, capsys, flag):
    args = [a for a in FAST if a not in ("--max-side", "64", "--segments", "2")]
    assert cli(["-q", "batch", str(folder), *args, *flag]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert not (folder / ".maskcurator").exists()


def test_predict_with_a_bad_missing_or_malicious_checkpoint_is_one_line(folder, tmp_path, capsys):
    assert cli(["-q", "batch", str(folder), *FAST]) == 0
    capsys.readouterr()
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"state_dict": Evil()}))
    for ckpt in (tmp_path / "missing.pt", garbage, evil):
        for method in ("stego", "redo", "ial"):
            assert cli(["-q", "predict", method, str(folder), "--checkpoint", str(ckpt), "--device", "cpu"]) == 2
            err = capsys.readouterr().err
            assert err.startswith("error: ") and err.count("\n") == 1, err
            assert "weights_only=False" not in err and "Traceback" not in err


def test_store_error_on_a_full_disk_is_one_line(folder, monkeypatch, capsys):
    from engine.store import StoreError
    from engine.store.store import ProjectStore as Store

    def full(self, *a, **k):
        raise StoreError("Replace proposals could not be saved: database or disk is full")

    monkeypatch.setattr(Store, "replace_proposals", full)
    assert cli(["-q", "batch", str(folder), *FAST]) == 2
    err = capsys.readouterr().err
    assert err == "error: Replace proposals could not be saved: database or disk is full\n"


def test_truncated_jpeg_and_fake_images_are_recorded_and_reported(folder, tmp_path, demo_dir, capsys):
    data = (demo_dir / "rocket.jpg").read_bytes()
    (folder / "trunc.jpg").write_bytes(data[: len(data) // 2])  # the header (size) reads fine
    (folder / "dir.jpg").mkdir()
    os.symlink(folder / "loop_a.jpg", folder / "loop_b.jpg")
    os.symlink(folder / "loop_b.jpg", folder / "loop_a.jpg")
    assert cli(["-q", "batch", str(folder), *FAST]) == 3
    err = capsys.readouterr().err
    for name, why in (("trunc.jpg", "truncated"), ("dir.jpg", "folder"), ("loop_a.jpg", "loop"),
                      ("loop_b.jpg", "loop")):
        assert any(name in line and why in line for line in err.splitlines()), (name, err)
    assert "could not be read" in err
    with _store(folder) as s:
        trunc = next(r for r in s.images() if r.path.endswith("trunc.jpg"))
        assert trunc.error and "truncated" in trunc.error
        s.set_image_status(trunc.id, "accepted")
    out = tmp_path / "a.json"
    assert cli(["export", str(folder), "--out", str(out), "--image-status", "accepted,todo"]) == 0
    assert "trunc.jpg" not in {im["file_name"] for im in json.loads(out.read_text())["images"]}
    assert "trunc.jpg: unreadable" in capsys.readouterr().err


def test_export_refuses_a_source_image_and_a_foreign_file_without_force(folder, tmp_path, capsys):
    assert cli(["-q", "batch", str(folder), *FAST]) == 0
    image = folder / "g0.png"
    before = image.read_bytes()
    for extra in ([], ["--force"]):
        assert cli(["export", str(folder), "--out", str(image), *extra]) == 2
        assert "image of this project" in capsys.readouterr().err
    assert image.read_bytes() == before
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    assert cli(["export", str(folder), "--out", str(notes)]) == 2
    assert "--force" in capsys.readouterr().err and notes.read_text() == "keep me"
    assert cli(["export", str(folder), "--out", str(notes), "--force"]) == 0
    assert cli(["export", str(folder), "--out", str(tmp_path / "abs.json"), "--absolute-paths"]) == 0
    assert cli(["export", str(folder), "--out", str(tmp_path / "abs.json"), "--absolute-paths"]) == 0  # ours


def test_schema_v1_project_made_by_the_old_cli_opens_without_duplicates(folder, tmp_path, capsys):
    """Old CLI projects stored absolute paths; a moved folder used to get every image twice."""
    assert cli(["-q", "batch", str(folder), *FAST]) == 0
    db = project_paths(folder).database
    con = sqlite3.connect(db)
    for image_id, path in con.execute("SELECT id, path FROM images").fetchall():
        con.execute("UPDATE images SET path=? WHERE id=?", (str(folder / path), image_id))
    con.execute("DELETE FROM schema_version")
    con.execute("INSERT INTO schema_version(version) VALUES (1)")
    con.commit()
    con.close()
    moved = tmp_path / "moved"
    shutil.move(str(folder), str(moved))
    capsys.readouterr()
    assert cli(["-q", "batch", str(moved), *FAST]) == 0
    assert "analysed 3/3 images" in capsys.readouterr().out


def test_an_image_that_breaks_the_batched_analysis_costs_only_its_own_result(folder, monkeypatch, capsys):
    from engine.pipeline import Analyzer

    real = Analyzer.analyze_many

    def fragile(self, paths, ctx=None, batch_size=8, files=None):
        if any(Path(p).name == "g1.png" for p in paths):
            raise FloatingPointError("eigensolver diverged")
        return real(self, paths, ctx, batch_size=batch_size, files=files)

    monkeypatch.setattr(Analyzer, "analyze_many", fragile)
    assert cli(["-q", "batch", str(folder), *FAST, "--batch-size", "8"]) == 3
    captured = capsys.readouterr()
    assert "analysed 2/3 images" in captured.out
    assert "g1.png: analysis failed (FloatingPointError: eigensolver diverged)" in captured.err


def test_hostile_folder_script_batch_and_export_without_a_crash(tmp_path):
    """benchmarks/hostile_folder.py: ≥ 30 kinds of bad input, one line per bad file, all good images done."""
    import importlib.util

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "hostile_folder.py"
    spec = importlib.util.spec_from_file_location("hostile_folder", script)
    hostile = importlib.util.module_from_spec(spec)
    import sys

    sys.modules[spec.name] = hostile  # dataclasses look their module up
    spec.loader.exec_module(hostile)
    folder = hostile.build(tmp_path / "hostile")
    summary = hostile.run(folder)
    assert summary.ok, "\n".join(summary.lines())
    assert summary.kinds >= 30 and summary.good_analysed == summary.good and summary.bad_reported_once == summary.bad
    os.chmod(tmp_path / "hostile" / "no_permission.png", 0o644)
