"""Issue 15: batch analysis on Ray (a local runtime, 2 CPU workers) stores exactly what the single-process
batch stores, resumes from the cache, and survives a worker killed mid-run. Skips without the extra."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from engine import cli  # noqa: E402
from engine.store import ProjectStore  # noqa: E402

FAST = ["--backbone", "random_vitt16", "--max-side", "128", "--no-crf", "--no-matting", "--device", "cpu"]


@pytest.fixture(scope="module")
def ray_runtime():
    """One local runtime for the module (starting one costs seconds); the CLI reuses it, never stops it."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"HF_HUB_OFFLINE": "1"}})
    yield ray
    ray.shutdown()


def _images(shared_data: Path, tmp_path: Path, n: int) -> Path:
    """Links (not copies) to ``n`` real photos, so the project lives in tmp_path."""
    folder = tmp_path / "images"
    folder.mkdir()
    for src in sorted((shared_data / "sod_bsds" / "images").glob("*.jpg"))[:n]:
        (folder / src.name).symlink_to(src)
    return folder


def _dump(project: Path) -> dict:
    """Every stored segment by image (relative path): source, state, label, score, name and RLE bytes."""
    store = ProjectStore.open(project / "project.sqlite")
    try:
        return {store.relative_path(r.id): (r.error, sorted(
            (g.source, str(g.state), g.label, g.score, g.name, bytes(store.segment_rle(g.id).counts))
            for g in store.segments(r.id))) for r in store.images()}
    finally:
        store.close()


def _segment_ids(project: Path) -> list[int]:
    store = ProjectStore.open(project / "project.sqlite")
    try:
        return sorted(g.id for r in store.images() for g in store.segments(r.id))
    finally:
        store.close()


def _cache_keys(project: Path) -> set[str]:
    return {p.stem for p in (project / "cache" / "analysis").glob("*/*.npz")}


def test_ray_batch_matches_single_process_and_resumes(ray_runtime, shared_data, tmp_path, capsys):
    folder = _images(shared_data, tmp_path, 4)
    args = [*FAST, "--batch-size", "2", "--clusters", "3"]
    assert cli.main(["-q", "batch", str(folder), "--project", str(tmp_path / "single"), *args]) == 0
    assert cli.main(["-q", "batch", str(folder), "--project", str(tmp_path / "ray"), *args,
                     "--ray", "--workers", "2"]) == 0
    single, on_ray = _dump(tmp_path / "single"), _dump(tmp_path / "ray")
    assert len(single) == 4 and all(len(segs) >= 3 for _, segs in single.values())
    assert {s for _, segs in single.values() for s, *_ in segs} == {"dsm.object", "dsm.segment", "dsm.semantic"}
    assert on_ray == single
    assert _cache_keys(tmp_path / "ray") == _cache_keys(tmp_path / "single") != set()

    before = _segment_ids(tmp_path / "ray")  # a rerun analyses nothing and rewrites no proposal
    capsys.readouterr()
    assert cli.main(["batch", str(folder), "--project", str(tmp_path / "ray"), *args, "--ray", "--workers", "2"]) == 0
    assert "0 analysed now, 4 from the cache" in capsys.readouterr().err
    after = _dump(tmp_path / "ray")
    assert after == single
    # only the dataset clustering ("dsm.semantic") is recomputed; object/segment proposals keep their ids
    store = ProjectStore.open(tmp_path / "ray" / "project.sqlite")
    kept = sorted(g.id for r in store.images() for g in store.segments(r.id) if g.source != "dsm.semantic")
    store.close()
    assert set(kept) <= set(before)


def test_ray_worker_killed_mid_run_every_image_analysed_once(ray_runtime, shared_data, tmp_path):
    from engine.curation import CurationSettings
    from engine.curation.project import open_project
    from engine.distributed.batch import ray_analyze
    from engine.distributed.runtime import connect
    from engine.pipeline import AnalysisStore

    folder = _images(shared_data, tmp_path, 6)
    assert cli.main(["-q", "batch", str(folder), "--project", str(tmp_path / "single"), *FAST,
                     "--batch-size", "1"]) == 0
    settings = CurationSettings(backbone="random_vitt16", max_side=128, n_clusters=0, crf=False, matting=False)
    store, paths = open_project(folder, project_dir=tmp_path / "ray")
    actors: list = []
    killed: list[int] = []

    def kill_one(results) -> None:
        if not killed:  # after the first chunk: the other worker is busy, this one has its next chunk queued
            pid = ray.get(actors[0].pid.options(concurrency_group="control").remote())  # not queued
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)

    try:
        items = [(r.id, Path(r.path)) for r in store.images()]
        done = ray_analyze(connect(None), store=store, cache=AnalysisStore(paths.analysis_cache), items=items,
                           settings=settings, device="cpu", workers=2, batch_size=1,
                           on_results=kill_one, actors_out=actors)
    finally:
        store.close()
    assert killed
    assert done.failures == []
    assert sorted(done.analysed_ids) == sorted(i for i, _ in items)  # each exactly once
    assert _dump(tmp_path / "ray") == _dump(tmp_path / "single")


def test_ray_flags_without_ray_give_one_line_error(monkeypatch, demo_dir, tmp_path, capsys):
    """No extra installed: --ray is a clean CLI error before any work (simulated by hiding the module)."""
    import sys

    folder = tmp_path / "images"
    folder.mkdir()
    src = sorted(p for p in Path(demo_dir).iterdir() if p.suffix.lower() in (".jpg", ".png"))[0]
    (folder / src.name).symlink_to(src)
    monkeypatch.setitem(sys.modules, "ray", None)
    assert cli.main(["-q", "batch", str(folder), "--project", str(tmp_path / "p"), *FAST, "--ray"]) == 2
    assert "pip install -e '.[cluster]'" in capsys.readouterr().err


def test_ray_predict_matches_single_process_and_resumes(ray_runtime, shared_data, tmp_path, capsys):
    """A tiny STEGO: ``predict --ray`` stores what ``predict`` stores; a rerun skips every image."""
    voc = shared_data / "voc12_samples"
    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("0.png", "1.png", "114.png"):
        (folder / name).symlink_to(voc / "images" / name)
    project = tmp_path / "project"
    args = ["-q", "train", "stego", str(folder), "--project", str(project), "--device", "cpu"]
    for kv in ("backbone=random_vitt16", "resolution=64", "steps=4", "batch_size=3", "n_clusters=3",
               "crf=false", "predict_resolution=64", "flip_tta=false", "checkpoint_every=0"):
        args += ["--set", kv]
    assert cli.main(args) == 0, capsys.readouterr().err
    predict = ["-q", "predict", "stego", str(folder), "--project", str(project), "--device", "cpu"]
    assert cli.main(predict) == 0
    single = _dump(project)
    assert sum(len(segs) for _, segs in single.values()) >= 3
    assert cli.main([*predict, "--ray", "--workers", "2"]) == 0
    assert _dump(project) == single
    ids = _segment_ids(project)
    capsys.readouterr()
    assert cli.main([*predict[1:], "--ray", "--workers", "2"]) == 0
    assert f"{len(single)} image(s) already predicted with this checkpoint" in capsys.readouterr().err
    assert _segment_ids(project) == ids


def test_single_machine_batch_never_imports_ray(demo_dir, tmp_path):
    """The default path is unchanged: without --ray nothing loads Ray."""
    import subprocess
    import sys

    folder = tmp_path / "images"
    folder.mkdir()
    src = sorted(p for p in Path(demo_dir).iterdir() if p.suffix.lower() == ".png")[0]
    (folder / src.name).symlink_to(src)
    code = ("import sys; from engine import cli; "
            f"rc = cli.main(['-q', 'batch', {str(folder)!r}, '--project', {str(tmp_path / 'p')!r}, "
            "'--backbone', 'random_vitt16', '--max-side', '64', '--no-crf', '--no-matting', '--device', 'cpu']); "
            "assert rc == 0, rc; assert 'ray' not in sys.modules, 'ray imported'")
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_image_root_maps_stored_paths_to_the_workers_mount(demo_dir, tmp_path):
    """--image-root: the image's path relative to the project's image folder, under the workers' root."""
    from engine.curation.project import open_project
    from engine.distributed.batch import worker_path

    folder = tmp_path / "images"
    folder.mkdir()
    src = sorted(p for p in Path(demo_dir).iterdir() if p.suffix.lower() == ".png")[0]
    (folder / src.name).symlink_to(src)
    store, _ = open_project(folder, project_dir=tmp_path / "p")
    try:
        (rec,) = store.images()
        assert worker_path(store, rec.id, Path(rec.path), None) == str(rec.path)
        assert worker_path(store, rec.id, Path(rec.path), "/mnt/data") == f"/mnt/data/{src.name}"
    finally:
        store.close()


class _Crashy:
    """A worker whose process dies on item 5 (a segfaulting image), whatever the chunk."""

    def pid(self) -> int:
        return os.getpid()

    def work(self, chunk: list) -> list:
        if 5 in chunk:
            os._exit(1)
        return [x * 10 for x in chunk]


def test_a_poison_image_costs_only_itself(ray_runtime):
    """Ray retries the crashed chunk; when it gives up, the chunk is split and only item 5 is lost."""
    import sys

    from ray import cloudpickle

    from engine.distributed.runtime import CONTROL, actor_options, run_on_pool

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import tests/
    n, opts = actor_options(ray.cluster_resources(), "cpu", 2)
    actor = ray.remote(concurrency_groups=CONTROL)(_Crashy).options(**opts)
    actors = [actor.remote() for _ in range(n)]
    got, lost = [], []
    run_on_pool(ray, actors, lambda a, c: a.work.remote(c), [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]],
                lambda c, r: got.extend(r), lambda c, why: lost.append(c))
    assert sorted(got) == [0, 10, 20, 30, 40, 60, 70, 80, 90]
    assert lost == [[5]]
