"""engine.curation: the jobs the app and the CLI share, and the registries they look things up in."""

from __future__ import annotations

import builtins
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.curation import (AnalysisDone, AnalysisFailed, AnalysisOverlays, AnalyzerHolder, BatchDone,
                             CurationSettings, ExportRequest, analyze_batch, analyze_image, cluster_all,
                             export_formats, run_export, run_training, store_proposals, training_set)
from engine.jobs import run_sync
from engine.pipeline import SOURCE_SEMANTIC, AnalysisStore
from engine.project import project_paths
from engine.registry import Registry, UnknownEntryError
from engine.store import ProjectStore

SETTINGS = CurationSettings(backbone="random_vitt16", max_side=96, n_segments=3, n_clusters=50, crf=False,
                            matting=True)


@pytest.fixture()
def project(tmp_path, demo_dir):
    for name in ("chelsea.png", "coffee.png", "rocket.jpg"):
        img = Image.open(demo_dir / name).convert("RGB")
        img.thumbnail((120, 120))
        img.save(tmp_path / name)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    paths = project_paths(tmp_path)
    paths.ensure()
    store = ProjectStore.open(paths.database)
    store.add_images(sorted(p for p in tmp_path.iterdir() if p.is_file()))
    yield store, paths
    store.close()


def _items(store):
    return [(r.id, Path(r.path)) for r in store.images()]


def test_settings_are_validated_up_front():
    with pytest.raises(ValueError, match="n_clusters must be an integer >= 0"):
        CurationSettings(n_clusters=-1)
    with pytest.raises(ValueError, match="max_side.*n_segments"):
        CurationSettings(max_side=4, n_segments=0)
    s = CurationSettings(backbone="random_vitt16", max_side=128, n_segments=5, crf=False, matting=False).spectral()
    assert (s.backbone, s.max_side, s.n_segments, s.crf, s.matting) == ("random_vitt16", 128, 5, False, False)


def test_registry_lists_what_is_available():
    reg: Registry = Registry("widget")
    reg.register(type("W", (), {"name": "b"})())
    reg.register(type("W", (), {"name": "a"})())
    assert reg.names() == ("a", "b") and "a" in reg
    with pytest.raises(UnknownEntryError, match="unknown widget 'c'; available: a, b"):
        reg.get("c")


def test_methods_register_themselves_dsm_included():
    from engine.methods.base import all_methods, get_method, trainable_methods

    methods = all_methods()
    assert {"dsm", "stego", "redo", "ial"} <= set(methods)
    assert not methods["dsm"].trainable and "dsm.semantic" in methods["dsm"].sources
    assert "dsm" not in trainable_methods() and trainable_methods()["redo"].accepts("validation")
    assert not trainable_methods()["ial"].accepts("validation") and trainable_methods()["stego"].accepts("labels")
    with pytest.raises(UnknownEntryError, match="available: dsm, ial, redo, stego"):
        get_method("nosuch")
    with pytest.raises(ValueError, match="needs no training"):
        run_sync(lambda ctx: run_training(ctx, method="dsm", training_set=None, config=None, workdir=Path(".")))


def test_export_formats_come_from_the_registry(project, tmp_path):
    store, _ = project
    formats = {f.name: f for f in export_formats()}
    assert formats["coco"].target == "file" and formats["semantic"].target == "folder"
    with pytest.raises(UnknownEntryError, match="available: coco, labelme, semantic, voc, yolo"):
        run_sync(lambda ctx: run_export(ctx, store=store, request=ExportRequest("nosuch", tmp_path / "x")))
    report = run_sync(lambda ctx: run_export(ctx, store=store, request=ExportRequest("coco", tmp_path / "a.json")))
    assert Path(report.path).exists()


def test_analyze_image_reads_the_file_once_and_returns_compact_overlays(project, monkeypatch):
    store, paths = project
    holder = AnalyzerHolder(paths.feature_cache)
    cache = AnalysisStore(paths.analysis_cache)
    image_id, path = next(it for it in _items(store) if it[1].name == "chelsea.png")
    opened: list[str] = []
    real_open, real_io_open = builtins.open, io.open

    def counting(open_fn):
        def wrapper(file, *args, **kwargs):
            if str(file) == str(path):
                opened.append(str(file))
            return open_fn(file, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(builtins, "open", counting(real_open))
    monkeypatch.setattr(io, "open", counting(real_io_open))
    done = run_sync(lambda ctx: analyze_image(ctx, holder=holder, cache=cache, store=store, image_id=image_id,
                                              path=path, settings=SETTINGS))
    assert isinstance(done, AnalysisDone) and not done.cached and done.wrote_proposals
    assert len(opened) == 1, "one read for the hash, the decode and both caches"
    ov = done.overlays
    assert isinstance(ov, AnalysisOverlays) and not hasattr(ov, "object_mask") and not hasattr(ov, "proposals")
    assert ov.alpha is not None and ov.alpha.dtype == np.uint8 and max(ov.alpha.shape) <= 1024
    assert ov.eigenvectors.shape[1:] == ov.grid_hw and ov.geometry.image_hw == ov.image_hw
    opened.clear()
    again = run_sync(lambda ctx: analyze_image(ctx, holder=holder, cache=cache, store=store, image_id=image_id,
                                               path=path, settings=SETTINGS))
    assert again.cached and not again.wrote_proposals and len(opened) == 1  # hash only, no decode
    np.testing.assert_allclose(again.overlays.eigenvalues, ov.eigenvalues, atol=1e-5)


def test_batch_then_cluster_clamps_and_skips(project):
    store, paths = project
    holder = AnalyzerHolder(paths.feature_cache)
    cache = AnalysisStore(paths.analysis_cache)
    items = _items(store)
    done = run_sync(lambda ctx: analyze_batch(ctx, holder=holder, cache=cache, store=store, items=items,
                                              settings=SETTINGS, batch_size=2))
    assert isinstance(done, BatchDone) and done.n_analysed == 3 and len(done.failures) == 1
    assert done.failures[0][0] == next(i for i, p in items if p.name == "broken.jpg")
    ok = [it for it in items if it[0] in done.analysed_ids]
    k = run_sync(lambda ctx: cluster_all(ctx, cache=cache, store=store, items=ok, settings=SETTINGS,
                                         n_clusters=50))
    assert 2 <= k <= 3 * SETTINGS.n_segments  # clamped to the number of segments
    assert all(store.segments(i, source=SOURCE_SEMANTIC) for i, _ in ok)
    assert run_sync(lambda ctx: cluster_all(ctx, cache=cache, store=store, items=ok, settings=SETTINGS,
                                            n_clusters=1)) == 0
    assert run_sync(lambda ctx: cluster_all(ctx, cache=cache, store=store, items=ok[:0], settings=SETTINGS,
                                            n_clusters=5)) == 0
    # a backbone that cannot load is one clear failure, not a crash
    bad = CurationSettings(backbone=str(paths.folder / "missing.pth"))
    failed = run_sync(lambda ctx: analyze_batch(ctx, holder=AnalyzerHolder(None), cache=None, store=store,
                                                items=items[:1], settings=bad))
    assert isinstance(failed, AnalysisFailed) and failed.kind == "backbone"


def test_store_proposals_keeps_existing_sources(project):
    from engine.proposals import Proposal

    store, _ = project
    rec = next(r for r in store.images() if not r.error)
    image_id = rec.id
    mask = np.zeros((rec.height, rec.width), bool)
    mask[:5, :5] = True
    assert store_proposals(store, image_id, [Proposal(mask, "x", 0, 1.0, "a")], only_missing=True)
    assert not store_proposals(store, image_id, [Proposal(mask, "x", 0, 1.0, "b")], only_missing=True)
    assert store_proposals(store, image_id, [Proposal(mask, "x", 0, 1.0, "c")], only_missing=False)
    assert training_set(store).images
