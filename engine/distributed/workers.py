"""The worker side: plain classes that the driver wraps with ``ray.remote`` (so importing this module
needs no Ray). Each loads its model once in ``__init__``; a restarted actor (worker lost) loads it again."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from ..backbone import BackboneLoadError
from ..imageio import ImageFile, ImageLoadError, load_image
from .cache_entries import entry_path
from .results import CachedHit, EntryResult, ImageFailed, PredictResult, RleProposal


def _limit_threads(n: int | None) -> None:
    """N actors on one machine must not each start one torch thread per core."""
    if n:
        import torch

        torch.set_num_threads(max(1, int(n)))


def _fetch(value):
    """``[ObjectRef]`` (a large argument shared by all actors, fetched here: Ray warns about restartable
    actors whose top-level constructor arguments live in the object store) or the value itself."""
    if isinstance(value, list) and len(value) == 1 and type(value[0]).__name__ == "ObjectRef":
        import ray

        return ray.get(value[0])
    return value


class AnalysisWorker:
    """Features + DSM for chunks of images. ``known``: the driver's analysis-cache keys; an image whose
    key is among them is answered :class:`CachedHit` after reading (hashing) it, without analysis."""

    def __init__(self, settings, device: str = "auto", known: frozenset | set | list = frozenset(),
                 threads: int | None = None):
        from ..pipeline import AnalysisStore, Analyzer

        _limit_threads(threads)
        self.settings = settings
        self.known = set(_fetch(known))
        self._tmp = tempfile.mkdtemp(prefix="maskcurator-ray-")
        self._entries = AnalysisStore(Path(self._tmp))  # a private store, only to serialise entries
        self._error: str | None = None
        try:
            self.analyzer = Analyzer(settings, device, cache_dir=None)
        except BackboneLoadError as exc:  # raised from analyze(): one clear error on the driver
            self.analyzer, self._error = None, str(exc)

    def pid(self) -> int:
        return os.getpid()

    def analyze(self, items: list[tuple[int, str]], batch_size: int = 8, recompute: bool = False) -> list:
        """``items``: (image id, path as this worker sees it). One result per item, in order."""
        if self._error is not None:
            raise BackboneLoadError(self._error)
        out: dict[int, object] = {}
        todo: list[tuple[int, Path, ImageFile]] = []
        for image_id, path in items:
            try:
                file = ImageFile.read(path)
            except ImageLoadError as exc:
                out[image_id] = ImageFailed(image_id, exc.reason, True)
                continue
            if not recompute and self._entries.key(Path(path), self.settings, file.sha1) in self.known:
                out[image_id] = CachedHit(image_id, file.sha1)
            else:
                todo.append((image_id, Path(path), file))
        t0 = time.perf_counter()
        analyses = self._analyze_isolating_failures(todo, batch_size)
        each = (time.perf_counter() - t0) / max(len(todo), 1)
        for (image_id, _, file), a in zip(todo, analyses):
            if isinstance(a, ImageLoadError):
                out[image_id] = ImageFailed(image_id, a.reason, True)
            elif isinstance(a, Exception):
                out[image_id] = ImageFailed(image_id, str(a), False)
            else:
                out[image_id] = EntryResult(image_id, file.sha1, self._entry_bytes(a),
                                            RleProposal.encode_all(a.proposals), each)
        return [out[i] for i, _ in items]

    def _entry_bytes(self, analysis) -> bytes | None:
        self._entries.put(analysis, self.settings)
        file = entry_path(self._entries, self._entries.key(analysis.path, self.settings, analysis.image_sha1))
        try:
            return file.read_bytes()
        except OSError:
            return None
        finally:
            file.unlink(missing_ok=True)

    def _analyze_isolating_failures(self, todo: list, batch_size: int) -> list:
        """One hostile image costs only its own result: a failing batch is retried image by image
        (the same rule as ``engine.curation.analysis.analyze_batch``)."""
        if not todo:
            return []
        paths = [p for _, p, _ in todo]
        files = [f for _, _, f in todo]
        try:
            return self.analyzer.analyze_many(paths, None, batch_size=batch_size, files=files)
        except Exception as exc:  # noqa: BLE001 - isolated below
            if len(todo) == 1:
                return [RuntimeError(f"analysis failed ({type(exc).__name__}: {exc})")]
        outs: list = []
        for path, file in zip(paths, files):
            try:
                outs.append(self.analyzer.analyze_many([path], None, batch_size=1, files=[file])[0])
            except Exception as exc:  # noqa: BLE001
                outs.append(RuntimeError(f"analysis failed ({type(exc).__name__}: {exc})"))
        return outs

    def __del__(self):
        shutil.rmtree(getattr(self, "_tmp", ""), ignore_errors=True)


class PredictWorker:
    """A trained method's predictor, loaded once from checkpoint bytes the driver sends (so the
    checkpoint need not be on a shared filesystem)."""

    def __init__(self, method: str, checkpoint_name: str, checkpoint: bytes | list, device: str = "auto",
                 threads: int | None = None):
        from ..device import pick_device
        from ..methods.base import get_method

        _limit_threads(threads)
        self.info = get_method(method)
        self._tmp = tempfile.mkdtemp(prefix="maskcurator-ray-")
        ckpt = Path(self._tmp) / checkpoint_name
        ckpt.write_bytes(_fetch(checkpoint))
        self.predictor = self.info.load_predictor(ckpt, pick_device(device))

    def pid(self) -> int:
        return os.getpid()

    def predict(self, items: list[tuple[int, str, tuple[str, ...]]]) -> list:
        out: list = []
        for image_id, path, tags in items:
            try:
                rgb = load_image(path)
            except ImageLoadError as exc:
                out.append(ImageFailed(image_id, exc.reason, True))
                continue
            props = self.predictor.predict(rgb, tags)
            out.append(PredictResult(image_id, RleProposal.encode_all(props, source=self.info.name)))
        return out

    def __del__(self):
        shutil.rmtree(getattr(self, "_tmp", ""), ignore_errors=True)
