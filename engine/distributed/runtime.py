"""Connecting to Ray and running chunks of work on a pool of actors (Ray schedules, restarts, retries)."""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

log = logging.getLogger(__name__)

#: Ray retries a task this many times when its actor dies (the actor is restarted, model reloaded).
TASK_RETRIES = 3
#: Chunks in flight per actor: the next one is queued while the driver stores the last one's results.
IN_FLIGHT_PER_ACTOR = 2
#: A second, one-thread concurrency group: ``pid()`` answers while the work queue is busy (the work
#: methods stay in the default group, one at a time).
CONTROL = {"control": 1}


class RayMissingError(RuntimeError):
    """``--ray`` without the optional extra installed."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise RayMissingError("--ray needs the cluster extra: pip install -e '.[cluster]' "
                              "(with -c constraints.txt)") from None
    return ray


@dataclass
class Runtime:
    """A Ray connection; ``started`` when we started a local runtime (shut down by :meth:`close`)."""

    ray: Any
    started: bool

    def close(self) -> None:
        """Shut down what we started (a local runtime or our connection); a caller's own session stays."""
        if self.started and self.ray.is_initialized():
            self.ray.shutdown()

    def resources(self) -> dict:
        return self.ray.cluster_resources()


def connect(address: str | None, num_cpus: int | None = None) -> Runtime:
    """``address`` None: a local runtime on this machine with ``num_cpus``; else an existing cluster
    (``ray start --head`` prints its address; "auto" finds the one on this node)."""
    ray = import_ray()
    if ray.is_initialized():
        return Runtime(ray, False)
    env = {"env_vars": {"HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "0")}}
    if address:
        ray.init(address=address, runtime_env=env, log_to_driver=False, logging_level=logging.WARNING)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count(), include_dashboard=False, runtime_env=env,
                 log_to_driver=False, logging_level=logging.WARNING)
    return Runtime(ray, True)


def actor_options(resources: dict, device: str, workers: int | None) -> tuple[int, dict]:
    """(number of actors, ``.options`` for each): one per GPU when the cluster has GPUs and the device
    allows them, else ``workers`` (default: one per cluster CPU) CPU actors of one CPU each."""
    gpus = int(resources.get("GPU", 0))
    cpus = max(1, int(resources.get("CPU", 1)))
    use_gpu = gpus > 0 and device != "cpu"
    n = workers or (gpus if use_gpu else cpus)
    opts = {"num_cpus": 1, "num_gpus": 1 if use_gpu else 0, "max_restarts": -1,
            "max_task_retries": TASK_RETRIES}
    return max(1, n), opts


def _alive(ray, actor, timeout: float = 120.0) -> bool:
    """Whether an actor answers (after a restart, if Ray is restarting it); ``pid`` is in the control group."""
    try:
        ray.get(actor.pid.options(concurrency_group="control").remote(), timeout=timeout)
        return True
    except Exception:  # noqa: BLE001 - dead, or not back in time: leave it out
        return False


def run_on_pool(ray, actors: Sequence, call: Callable[[Any, list], Any], chunks: Iterable[list],
                on_results: Callable[[list, list], None], on_lost: Callable[[list, str], None]) -> None:
    """Feed ``chunks`` to ``actors`` (``call(actor, chunk)`` returns an ObjectRef) and hand each
    chunk's results to ``on_results(chunk, results)`` on this thread, as they finish.

    A worker that dies is restarted by Ray and its task retried (``max_task_retries``); when Ray gives
    up, a chunk of several images is split and each image tried alone once more, so a poison image
    costs only itself; a lone image that still fails goes to ``on_lost(chunk, reason)``. A Python
    error raised by the worker code itself (e.g. the backbone cannot load) propagates.
    """
    from ray.exceptions import RayActorError, RayTaskError

    pending = deque((c, 0) for c in chunks)
    inflight: dict = {}
    load = {i: 0 for i in range(len(actors))}  # actors still in use; a dead one (no restart left) leaves

    def submit() -> None:
        while pending:
            if not load:  # every actor is gone for good: what is left is reported, not waited for
                while pending:
                    on_lost(pending.popleft()[0], "no worker left")
                return
            i = min(load, key=load.get)
            if load[i] >= IN_FLIGHT_PER_ACTOR:
                return
            chunk, attempt = pending.popleft()
            inflight[call(actors[i], chunk)] = (i, chunk, attempt)
            load[i] += 1

    try:
        submit()
        while inflight:
            ready, _ = ray.wait(list(inflight), num_returns=1, timeout=5.0)
            for ref in ready:
                i, chunk, attempt = inflight.pop(ref)
                if i in load:
                    load[i] -= 1
                try:
                    results = ray.get(ref)
                except RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, Exception) and not isinstance(cause, RayTaskError):
                        raise cause from None
                    raise
                except Exception as exc:  # noqa: BLE001 - worker lost beyond Ray's retries
                    log.warning("worker lost a chunk of %d image(s): %s", len(chunk), exc)
                    if isinstance(exc, RayActorError) and len(load) > 1 and i in load and not _alive(ray, actors[i]):
                        del load[i]  # this actor is not coming back; the others take its share
                    if len(chunk) > 1:
                        pending.extendleft((c, attempt + 1) for c in ([x] for x in reversed(chunk)))
                    elif attempt < 1:
                        pending.appendleft((chunk, attempt + 1))
                    else:
                        on_lost(chunk, f"worker lost ({type(exc).__name__})")
                    continue
                on_results(chunk, results)
            submit()
    finally:
        for ref in inflight:  # Ctrl+C or an error: nothing more is computed for this run
            try:
                ray.cancel(ref, force=False)
            except Exception:  # noqa: BLE001
                pass
