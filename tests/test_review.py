"""Review queries for large folders (filters, sort by confidence, progress, jump by name) and the
recursive folder scan. Engine only: the filmstrip (tests/test_app_review.py) calls exactly these."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from engine.curation.project import RECURSIVE_SETTING, ProjectOpenError, open_project, scan_folder
from engine.curation.review import (ReviewView, find_images, ordered_ids, review_progress)
from engine.proposals import Proposal
from engine.store import ProjectStore


def _png(path, size=(12, 10)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(path)


def _mask(h=10, w=12, y=2):
    m = np.zeros((h, w), bool)
    m[y:y + 3, 2:6] = True
    return m


@pytest.fixture
def store(tmp_path):
    names = ["c.png", "a.png", "b.png", "d.png", "e.png"]
    for n in names:
        _png(tmp_path / n)
    (tmp_path / "broken.png").write_bytes(b"not a png")
    st = ProjectStore.open(tmp_path / ".maskcurator" / "project.sqlite", image_root=tmp_path)
    st.add_images([tmp_path / n for n in names] + [tmp_path / "broken.png"])
    yield st
    st.close()


def _ids(store):
    return {r.path.rsplit("/", 1)[-1]: r.id for r in store.images()}


def test_filters_counts_and_sources(store):
    ids = _ids(store)
    store.set_image_status(ids["a.png"], "accepted")
    store.set_image_status(ids["b.png"], "rejected")
    store.replace_proposals(ids["c.png"], "dsm", [Proposal(_mask(), "dsm", score=0.9)])
    store.replace_proposals(ids["d.png"], "stego", [Proposal(_mask(), "stego", score=0.2)])
    p = review_progress(store)
    assert (p.total, p.reviewed, p.accepted, p.rejected, p.todo, p.unreadable) == (6, 2, 1, 1, 4, 1)
    assert p.text == "2 of 6 reviewed"
    assert store.proposal_sources() == ["dsm", "stego"]
    assert set(ordered_ids(store, ReviewView("todo"))) == {ids["c.png"], ids["d.png"], ids["e.png"]}
    assert ordered_ids(store, ReviewView("unreadable")) == [ids["broken.png"]]
    assert ordered_ids(store, ReviewView("accepted")) == [ids["a.png"]]
    assert ordered_ids(store, ReviewView("all", source="dsm")) == [ids["c.png"]]
    assert ordered_ids(store, ReviewView("todo", source="stego")) == [ids["d.png"]]
    # an accepted proposal is no longer "open": the image leaves the source filter
    seg = store.segments(ids["c.png"], "dsm")[0]
    store.set_segment_state(seg.id, "accepted")
    assert ordered_ids(store, ReviewView("all", source="dsm")) == []


def test_sort_by_name_and_least_certain_first(store):
    ids = _ids(store)
    by_name = ordered_ids(store, ReviewView(sort="name"))
    assert by_name == [ids[n] for n in ("a.png", "b.png", "broken.png", "c.png", "d.png", "e.png")]
    store.replace_proposals(ids["e.png"], "dsm", [Proposal(_mask(), "dsm", score=0.8),
                                                  Proposal(_mask(y=5), "dsm", score=0.1)])
    store.replace_proposals(ids["c.png"], "dsm", [Proposal(_mask(), "dsm", score=0.5)])
    store.replace_proposals(ids["a.png"], "dsm", [Proposal(_mask(), "dsm", score=0.3)])
    order = ordered_ids(store, ReviewView(sort="confidence"))
    # min score: e 0.1 < a 0.3 < c 0.5; then images without proposals by name
    assert order == [ids[n] for n in ("e.png", "a.png", "c.png", "b.png", "broken.png", "d.png")]
    with pytest.raises(ValueError, match="unknown sort order"):
        ReviewView(sort="random")
    with pytest.raises(ValueError, match="unknown review filter"):
        ReviewView("done")


def test_find_images_ranks_exact_prefix_substring(tmp_path):
    for n in ("cat.png", "cat_2.png", "wildcat.png", "sub/cat.png", "dog.png", "CATX2.png"):
        _png(tmp_path / n)
    st = ProjectStore.open(tmp_path / "p.sqlite", image_root=tmp_path)
    st.add_images(sorted(tmp_path.rglob("*.png")))
    names = dict(st.image_names())
    found = [names[i] for i in find_images(st, "CAT.png")]
    assert found[:2] == ["cat.png", "sub/cat.png"]  # exact file name, both folders
    assert [names[i] for i in find_images(st, "sub/cat")] == ["sub/cat.png"]
    assert set(names[i] for i in find_images(st, "cat")) == {"cat.png", "cat_2.png", "wildcat.png", "sub/cat.png",
                                                             "CATX2.png"}
    assert [names[i] for i in find_images(st, "t_2")] == ["cat_2.png"]  # "_" is not a LIKE wildcard here
    assert [names[i] for i in find_images(st, "tx2")] == ["CATX2.png"]  # any case
    assert names[find_images(st, "cat")[-1]] == "wildcat.png"  # substring match ranks last
    assert find_images(st, "  ") == [] and find_images(st, "zebra") == []
    st.close()


def test_recursive_scan_is_an_option_and_remembered(tmp_path):
    _png(tmp_path / "top.png")
    _png(tmp_path / "a" / "one.png")
    _png(tmp_path / "a" / "b" / "two.jpg")
    _png(tmp_path / ".hidden" / "no.png")
    (tmp_path / "loop").symlink_to(tmp_path, target_is_directory=True)  # never followed
    assert [p.name for p in scan_folder(tmp_path).images] == ["top.png"]
    rec = scan_folder(tmp_path, recursive=True)
    assert [p.relative_to(tmp_path).as_posix() for p in rec.images] == ["top.png", "a/one.png", "a/b/two.jpg"]

    store, paths = open_project(tmp_path)  # default: this folder only
    assert len(store.images()) == 1
    store.close()
    store, _ = open_project(tmp_path, recursive=True)
    assert sorted(store.relative_path(r) for r in store.images()) == ["a/b/two.jpg", "a/one.png", "top.png"]
    assert store.get_setting(RECURSIVE_SETTING) is True
    store.close()
    _png(tmp_path / "a" / "later.png")
    store, _ = open_project(tmp_path)  # None: as last time (recursive) -> the new subfolder image is found
    assert "a/later.png" in {store.relative_path(r) for r in store.images()}
    store.close()


def test_recursive_scan_skips_project_dir_inside_folder(tmp_path):
    _png(tmp_path / "x.png")
    data = tmp_path / "curation"
    store, paths = open_project(tmp_path, project_dir=data, recursive=True)
    _png(data / "thumbs" / "junk.png")  # e.g. cached thumbnails written by the app
    store.close()
    store, _ = open_project(tmp_path, project_dir=data, recursive=True)
    assert [store.relative_path(r) for r in store.images()] == ["x.png"]
    store.close()


def test_recursive_empty_tree_is_one_line_error(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    with pytest.raises(ProjectOpenError, match="no images found"):
        open_project(tmp_path, recursive=True)


def test_cli_batch_has_recursive_option():
    from engine.cli import build_parser

    args = build_parser().parse_args(["batch", "/x", "--recursive"])
    assert args.recursive is True
    assert build_parser().parse_args(["batch", "/x"]).recursive is None
    assert build_parser().parse_args(["batch", "/x", "--no-recursive"]).recursive is False


def test_reopen_reads_only_new_image_headers(tmp_path, monkeypatch):
    for i in range(5):
        _png(tmp_path / f"{i}.png")
    store, _ = open_project(tmp_path)
    store.close()
    _png(tmp_path / "new.png")
    import engine.imageio as imageio

    read = []
    real = imageio.read_image_info
    monkeypatch.setattr(imageio, "read_image_info", lambda p: read.append(p) or real(p))
    store, _ = open_project(tmp_path)
    assert [p.name for p in read] == ["new.png"]  # not the 5 known ones again
    assert len(store.images()) == 6
    store.close()
