"""Where units run: here, in a local process pool, or as Ray tasks on a cluster.

Every executor runs the same plain function, :func:`run_unit` (a claim id and a unit
in, the unit's wrapped result out), so the numbers do not depend on which one ran it.
``submit`` returns a ``concurrent.futures.Future`` for an untimed unit; ``run_timed``
runs a timed unit to completion while nothing else runs (the runner calls it only
when the pool is idle).

- :class:`Inline`: one unit after another in this process (``--jobs 1``, the tests).
- :class:`LocalPool`: ``jobs`` spawned worker processes, one torch thread each; timed
  units run here, at the caller's thread count.
- :class:`RayCluster`: Ray tasks. ``address`` joins a running cluster ("auto" finds the
  local one, Ray's own convention); none starts a local Ray instance. An untimed unit
  asks for one CPU, a timed one for ``threads`` CPUs, and in the full profile every unit
  that can use a GPU asks for one where the cluster has GPUs, so a node with 8 GPUs runs
  8 units at once. A task whose worker or node dies is retried (Ray's ``max_retries``).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from types import ModuleType

from seqlab.errors import SeqlabError
from seqlab.experiments.core.units import Unit, execute

RETRIES = 3  # Ray re-runs a task this many times when its worker or node dies


def run_unit(claim_id: str, unit: dict, threads: int | None = None) -> dict:
    """The task every executor runs: load the claim's module, run one unit (see ``units.execute``).

    On a Ray worker the result names the node that ran it (``node``).
    """
    from seqlab.experiments.registry import load

    out = execute(load(claim_id), Unit.from_dict(unit), threads)
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        out["node"] = ray.get_runtime_context().get_node_id()
    return out


class Inline:
    """Units one after another in this process; ``load`` maps a claim id to its module."""

    name = "this process"

    def __init__(self, load: Callable[[str], ModuleType]) -> None:
        self.load, self.slots = load, 1

    def submit(self, claim_id: str, unit: Unit) -> Future:
        future: Future = Future()
        future.set_result(execute(self.load(claim_id), unit))
        return future

    def run_timed(self, claim_id: str, unit: Unit, threads: int | None) -> dict:
        return execute(self.load(claim_id), unit, threads)

    def restart(self) -> None:
        pass

    def close(self) -> None:
        pass


def _one_thread_worker() -> None:
    import torch

    torch.set_num_threads(1)


class LocalPool(Inline):
    """``jobs`` spawned processes on one torch thread each; timed units in this process."""

    def __init__(self, load: Callable[[str], ModuleType], jobs: int) -> None:
        super().__init__(load)
        self.slots, self.name = jobs, f"{jobs} processes, one torch thread each"
        self.pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")  # fork after torch has started threads is unsafe
        return ProcessPoolExecutor(self.slots, mp_context=context, initializer=_one_thread_worker)

    def submit(self, claim_id: str, unit: Unit) -> Future:
        return self.pool.submit(run_unit, claim_id, unit.to_dict())

    def restart(self) -> None:
        """A new pool after a worker died (the old one is broken and fails every future)."""
        self.pool.shutdown(wait=False, cancel_futures=True)
        self.pool = self._new_pool()

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)


class RayCluster:
    """Units as Ray tasks, on a cluster at ``address`` or a local Ray instance."""

    def __init__(self, address: str | None, jobs: int | None, gpus: bool) -> None:
        try:
            import ray
        except ImportError:
            raise SeqlabError("--executor ray needs Ray: pip install -e '.[ray]' (or pip install ray)") from None
        self.ray = ray
        if address:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        else:
            ray.init(num_cpus=jobs, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
        resources = ray.cluster_resources()
        self.gpus = gpus and resources.get("GPU", 0) > 0
        self.slots = max(1, int(resources.get("GPU" if self.gpus else "CPU", 1)))
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        self.name = (f"{where}: {len(ray.nodes())} node(s), {int(resources.get('CPU', 0))} CPUs, "
                     f"{int(resources.get('GPU', 0))} GPUs")
        self.task = ray.remote(run_unit)

    def _options(self, unit: Unit, cpus: int) -> dict:
        return {"num_cpus": cpus, "num_gpus": 1 if self.gpus and unit.gpu else 0, "max_retries": RETRIES,
                "retry_exceptions": False}

    def submit(self, claim_id: str, unit: Unit) -> Future:
        return self.task.options(**self._options(unit, 1)).remote(claim_id, unit.to_dict()).future()

    def run_timed(self, claim_id: str, unit: Unit, threads: int | None) -> dict:
        cpus = threads or 1
        return self.ray.get(self.task.options(**self._options(unit, cpus)).remote(claim_id, unit.to_dict(), cpus))

    def restart(self) -> None:
        pass

    def close(self) -> None:
        self.ray.shutdown()


def make_executor(kind: str, load: Callable[[str], ModuleType], jobs: int, address: str | None = None,
                  gpus: bool = False):
    """The executor ``kind`` ("local" or "ray"); ``jobs`` 1 runs locally in this process."""
    if kind == "ray":
        return RayCluster(address, jobs if address is None else None, gpus)
    if kind != "local":
        raise SeqlabError(f"unknown executor '{kind}'; choose local or ray")
    if address:
        raise SeqlabError("--address joins a Ray cluster: use it with --executor ray")
    return LocalPool(load, jobs) if jobs > 1 else Inline(load)


def default_jobs() -> int:
    """Worker processes of the local pool: one per core, at most 4."""
    return max(1, min(os.cpu_count() or 1, 4))
