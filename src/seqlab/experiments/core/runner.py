"""Run experiments into a run folder: skip finished ones, survive failures.

Layout: ``<out>/<claim id>/result.json`` plus that claim's PNG figures. A claim is
skipped when its folder already holds a result of the same profile and config
without an error (``force`` re-runs it). An exception inside an experiment is
recorded as a Result with verdict "error" and the run goes on.

Two kinds of claim, run differently so that both stay honest and the ledger fits
in minutes on a small machine:

- **training claims** run on one torch thread each, in ``jobs`` worker processes
  side by side. One thread gives the same numbers whatever the machine's core
  count and whichever claims share it, so a result does not depend on ``jobs``.
- **timed claims** (a module with ``TIMED = True``: their verdict rests on a
  measured time) run afterwards, one at a time, in this process, alone on the
  machine, at the thread count the caller set. A timed claim that also trains
  may split that off: its ``prepare(profile)`` (the training, nothing timed) runs
  with the training claims, and ``run(profile, prepared=...)`` then only times
  and decides. Without ``prepare`` (or when it failed), ``run`` does everything.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from seqlab.experiments.core.base import RESULT_FILE, Result, check_profile, finish, new_result
from seqlab.experiments.registry import load


def default_jobs() -> int:
    """Worker processes for training claims: one per core, at most 4."""
    return max(1, min(os.cpu_count() or 1, 4))


def previous(folder: Path, profile: str, config: dict) -> Result | None:
    """The stored result in ``folder`` when it matches profile and config and has no error."""
    if not (folder / RESULT_FILE).is_file():
        return None
    try:
        old = Result.load(folder)
    except Exception:  # an unreadable result is simply re-run
        return None
    as_stored = json.loads(json.dumps(config))  # tuples become lists, as in the JSON
    same = old.profile == profile and old.config == as_stored and old.error is None
    return old if same else None


def is_timed(claim_id: str) -> bool:
    """Whether the claim's verdict rests on a measured time (it must then run alone)."""
    try:
        return bool(getattr(load(claim_id), "TIMED", False))
    except Exception:  # a module that cannot load fails again, and is recorded, when it runs
        return False


def run_claim(claim_id: str, profile: str, out: Path, force: bool = False,
              on_start: Callable[[], None] = lambda: None, prepared=None) -> tuple[Result, str]:
    """Run (or reuse) one claim's experiment; returns (result, "ran"|"skipped"|"error").

    ``on_start`` is called just before the experiment runs (not for a stored result).
    Runs at the caller's thread count; :func:`reproduce` decides that.
    """
    folder, module = out / claim_id, None
    try:
        module = load(claim_id)
        config = module.config(profile)
        old = None if force else previous(folder, profile, config)
        if old is not None:
            return old, "skipped"
        on_start()
        result = module.run(profile) if prepared is None else module.run(profile, prepared=prepared)
        status = "ran"
    except Exception as err:  # record and go on: one failure must not stop the ledger
        result = _error_result(claim_id, profile, err, getattr(module, "CLAIM", None))
        status = "error"
    result.save(folder)
    return result, status


def _error_result(claim_id: str, profile: str, err: BaseException | str, claim: str | None) -> Result:
    r = new_result(claim_id, claim or "(the experiment could not be loaded)", "", profile, {})
    r.error = err if isinstance(err, str) else traceback.format_exc(limit=-6)
    name = "WorkerDied" if isinstance(err, str) else type(err).__name__
    return finish(r, "error", "", "", f"error: {name}")


def _one_thread_worker() -> None:
    import torch

    torch.set_num_threads(1)


def _run_in_worker(claim_id: str, profile: str, out: str, force: bool) -> tuple[str, float]:
    """Pool entry point: run one training claim (the worker is on one thread); (status, seconds)."""
    t0 = time.perf_counter()
    _, status = run_claim(claim_id, profile, Path(out), force)
    return status, time.perf_counter() - t0


def _prepare(claim_id: str, profile: str) -> tuple[object, float]:
    """A timed claim's untimed part (``module.prepare``): (what it returns, seconds)."""
    t0 = time.perf_counter()
    return load(claim_id).prepare(profile), time.perf_counter() - t0


class _Progress:
    """One line per claim, numbered in the order of ``ids``; collects the Results."""

    def __init__(self, ids: list[str], echo: Callable[[str], None]) -> None:
        self.ids, self.echo, self.results = ids, echo, {}
        self.position = {claim_id: i for i, claim_id in enumerate(ids, 1)}

    def line(self, claim_id: str, text: str) -> None:
        self.echo(f"[{self.position[claim_id]:>2}/{len(self.ids)}] {claim_id:<4} {text}")

    def done(self, claim_id: str, result: Result, status: str, took: float) -> None:
        self.results[claim_id] = result
        self.line(claim_id, f"{status:<7} {result.verdict:<12} {took:6.1f} s  {result.headline}")


def reproduce(ids: list[str], profile: str, out: str | Path, force: bool = False,
              echo: Callable[[str], None] = print, jobs: int = 1) -> list[Result]:
    """Run ``ids``, printing one line per claim; returns all Results in the order of ``ids``.

    Training claims (and timed claims' ``prepare``) run first on one thread each
    (``jobs`` > 1: in that many worker processes), then timed claims one at a time
    at the current thread count.
    """
    check_profile(profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start, progress = time.perf_counter(), _Progress(ids, echo)
    timed = [c for c in ids if is_timed(c)]
    training = [c for c in ids if c not in timed]
    todo = []
    for claim_id in training:  # stored results are reported without a process
        old = None if force else _stored(claim_id, profile, out)
        if old is not None:
            progress.done(claim_id, old, "skipped", 0.0)
        else:
            todo.append(claim_id)
    preparable = [c for c in timed if hasattr(load(c), "prepare") and (force or _stored(c, profile, out) is None)]
    if jobs > 1 and len(todo) + len(preparable) > 1:
        prepared = _run_pool(todo, preparable, profile, out, force, jobs, progress)
    else:
        prepared = _run_serially(todo, preparable, profile, out, force, progress)
    for claim_id in timed:
        _run_here(claim_id, profile, out, force, progress, prepared.get(claim_id))
    echo(f"total {time.perf_counter() - start:.1f} s")
    return [progress.results[c] for c in ids]


def _run_here(claim_id: str, profile: str, out: Path, force: bool, progress: _Progress, prepared=None) -> None:
    t0 = time.perf_counter()
    result, status = run_claim(claim_id, profile, out, force, on_start=lambda: progress.line(claim_id, "running ..."),
                               prepared=prepared)
    progress.done(claim_id, result, status, time.perf_counter() - t0)


def _run_serially(todo: list[str], preparable: list[str], profile: str, out: Path, force: bool,
                  progress: _Progress) -> dict:
    """Training claims and preparations here, one after another, on one thread."""
    from seqlab.experiments.core.training import one_thread

    prepared = {}
    with one_thread():
        for claim_id in todo:
            _run_here(claim_id, profile, out, force, progress)
        for claim_id in preparable:
            try:
                prepared[claim_id], took = _prepare(claim_id, profile)
                progress.line(claim_id, f"prepared {took:6.1f} s  (its untimed training)")
            except Exception:  # run() then does everything, and records the error if it recurs
                progress.line(claim_id, "prepare failed; run will train too")
    return prepared


def _run_pool(todo: list[str], preparable: list[str], profile: str, out: Path, force: bool, jobs: int,
              progress: _Progress) -> dict:
    """Training claims and preparations in ``jobs`` spawned processes; returns the preparations."""
    jobs = min(jobs, len(todo) + len(preparable))
    progress.echo(f"running {len(todo)} training claim(s) and {len(preparable)} preparation(s) in {jobs} "
                  "processes, one torch thread each ...")
    prepared = {}
    context = multiprocessing.get_context("spawn")  # fork after torch has started threads is unsafe
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_one_thread_worker) as pool:
        futures = {pool.submit(_prepare, c, profile): (c, "prepare") for c in preparable}  # the long ones first
        futures.update({pool.submit(_run_in_worker, c, profile, str(out), force): (c, "run") for c in todo})
        for future in as_completed(futures):
            claim_id, kind = futures[future]
            if kind == "prepare":
                try:
                    prepared[claim_id], took = future.result()
                    progress.line(claim_id, f"prepared {took:6.1f} s  (its untimed training)")
                except (BrokenProcessPool, Exception):
                    progress.line(claim_id, "prepare failed; run will train too")
                continue
            try:
                status, took = future.result()
                result = Result.load(out / claim_id)
            except (BrokenProcessPool, Exception) as err:  # e.g. a worker killed for memory
                result = _error_result(claim_id, profile, f"the worker process died: {err!r}", None)
                result.save(out / claim_id)
                status, took = "error", 0.0
            progress.done(claim_id, result, status, took)
    return prepared


def _stored(claim_id: str, profile: str, out: Path) -> Result | None:
    try:
        return previous(out / claim_id, profile, load(claim_id).config(profile))
    except Exception:  # a module that cannot load is run (and its error recorded) in a worker
        return None


def summary_table(results: list[Result]) -> str:
    """A plain-text table: claim, verdict, headline number."""
    rows = [("claim", "verdict", "headline")] + [(r.claim_id, r.verdict, r.headline) for r in results]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)
