"""Run the ledger: every claim's units in one pool, each claim decided when its units are done.

Layout of a run folder::

    <out>/<claim id>/result.json        the claim's Result (and its PNG figures beside it)
    <out>/<claim id>/units/<key>.json   one unit's result: numbers, digest of its fn + args,
                                        seed, estimated FLOPs, wall time, machine, versions

Resuming. A claim whose ``result.json`` matches the profile and config (and holds no
error) is skipped (``force`` re-runs it). Otherwise each of its units whose stored
result has the same digest is reused, so a killed run picks up where it stopped and
a changed config re-runs only the units whose arguments it changes; ``force`` re-runs
every unit. A unit that raises fails its claim (verdict "error") and the ledger goes on.

Order. Untimed units of all claims form one pool, largest estimated FLOPs first, on
one torch thread each: one thread gives the same numbers whatever the core count and
whichever units share the machine. A claim that lists more units once some are done
(see :mod:`seqlab.experiments.core.units`) has them queued as they appear. Timed units
(a result that includes a measured time) run afterwards, one at a time, alone, at the
caller's thread count, in the order of the claims.
"""

from __future__ import annotations

import datetime as _dt
import heapq
import itertools
import json
import os
import time
import traceback
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from seqlab.experiments.core.base import RESULT_FILE, Result, check_profile, finish, new_result
from seqlab.experiments.core.executors import make_executor
from seqlab.experiments.core.units import Unit, conclude, plan
from seqlab.experiments.registry import load

UNITS = "units"  # the folder of a claim's unit results


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


def unit_path(out: Path, claim_id: str, key: str) -> Path:
    return out / claim_id / UNITS / f"{key}.json"


def stored_unit(path: Path, unit: Unit) -> dict | None:
    """The stored record of ``unit`` at ``path`` when its digest matches (else None: run it)."""
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if rec.get("digest") == unit.digest() and rec.get("error") is None and "value" in rec else None


def save_unit(path: Path, claim_id: str, profile: str, unit: Unit, out: dict, executor: str) -> dict:
    """Write one unit's record atomically; returns it."""
    started = _dt.datetime.fromtimestamp(out["started"], _dt.timezone.utc).isoformat(timespec="seconds")
    rec = {"claim_id": claim_id, "profile": profile, **unit.to_dict(), "digest": unit.digest(),
           "value": out["value"], "error": out["error"], "started": started, "wall_time": out["wall_time"],
           "threads": out["threads"], "executor": executor, "node": out.get("node"), "machine": out["machine"],
           "versions": out["versions"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rec, indent=1, allow_nan=True))
    os.replace(tmp, path)
    return rec


class _Claim:
    """One claim's progress: its module, the units done (key -> result) and their records."""

    def __init__(self, claim_id: str, position: int) -> None:
        self.claim_id, self.position = claim_id, position
        self.module = None
        self.done: dict = {}
        self.records: dict = {}
        self.queued: set[str] = set()
        self.result: Result | None = None
        self.ran = 0  # units run (not reused) in this run


class _Ledger:
    """The claims of one ``reproduce`` call and the queue of their units."""

    def __init__(self, ids, profile: str, out: Path, force: bool, echo: Callable[[str], None]) -> None:
        self.profile, self.out, self.force, self.echo = profile, out, force, echo
        self.claims = {c: _Claim(c, i) for i, c in enumerate(ids, 1)}
        self.total = len(ids)
        self.untimed: list = []  # heap of (-flops, order, claim id, unit)
        self.timed: list[tuple[str, Unit]] = []
        self.order = itertools.count()
        self.units_done = 0

    def line(self, claim: _Claim, text: str) -> None:
        self.echo(f"[{claim.position:>2}/{self.total}] {claim.claim_id:<4} {text}")

    def start(self, claim: _Claim) -> None:
        """Load the claim, reuse its stored result, or queue the units it needs."""
        try:
            claim.module = load(claim.claim_id)
            old = None if self.force else previous(self.out / claim.claim_id, self.profile,
                                                   claim.module.config(self.profile))
        except Exception as err:  # a claim that cannot load is recorded as an error
            return self.fail(claim, err)
        if old is not None:
            claim.result = old
            return self.line(claim, f"{'skipped':<7} {old.verdict:<12} {0.0:6.1f} s  {old.headline}")
        self.refresh(claim)

    def refresh(self, claim: _Claim) -> None:
        """Plan again with what is done: reuse stored units, queue new ones, decide when complete."""
        while claim.result is None:
            try:
                units = plan(claim.module, self.profile, claim.done)
            except Exception as err:
                return self.fail(claim, err)
            reused = False
            for unit in units:
                if unit.key in claim.done or unit.key in claim.queued:
                    continue
                rec = None if self.force else stored_unit(unit_path(self.out, claim.claim_id, unit.key), unit)
                if rec is not None:
                    claim.done[unit.key], claim.records[unit.key], reused = rec["value"], rec, True
                    continue
                claim.queued.add(unit.key)
                if unit.timed:
                    self.timed.append((claim.claim_id, unit))
                else:
                    heapq.heappush(self.untimed, (-unit.flops, next(self.order), claim.claim_id, unit))
            if not reused:
                break
        if claim.result is None and all(u.key in claim.done for u in units):
            self.decide(claim)

    def finished(self, claim_id: str, unit: Unit, out: dict, executor: str) -> None:
        """A unit came back: store it, report it, and move its claim on."""
        claim = self.claims[claim_id]
        claim.queued.discard(unit.key)
        self.units_done += 1
        if claim.result is not None:  # its claim already failed
            return
        rec = save_unit(unit_path(self.out, claim_id, unit.key), claim_id, self.profile, unit, out, executor)
        self.line(claim, f"unit {unit.key:<24} {'error' if out['error'] else 'done':<5} {out['wall_time']:7.1f} s"
                         f"  ({self.units_done} units done)")
        if out["error"]:
            return self.fail(claim, f"unit {unit.key} failed:\n{out['error']}")
        claim.done[unit.key], claim.records[unit.key] = out["value"], rec
        claim.ran += 1
        self.refresh(claim)

    def decide(self, claim: _Claim) -> None:
        t0 = time.perf_counter()
        try:
            result = conclude(claim.module, self.profile, claim.done)
        except Exception as err:
            return self.fail(claim, err)
        records = list(claim.records.values())
        if records and hasattr(claim.module, "units"):
            result.wall_time = sum(r["wall_time"] for r in records) + time.perf_counter() - t0
            result.started = min(r["started"] for r in records)
        self.store(claim, result, "ran" if claim.ran else "reused")

    def fail(self, claim: _Claim, err: BaseException | str) -> None:
        r = new_result(claim.claim_id, getattr(claim.module, "CLAIM", None) or "(the experiment could not be loaded)",
                       "", self.profile, {})
        r.error = err if isinstance(err, str) else traceback.format_exc(limit=-6)
        name = "UnitFailed" if isinstance(err, str) else type(err).__name__
        self.store(claim, finish(r, "error", "", "", f"error: {name}"), "error")

    def store(self, claim: _Claim, result: Result, status: str) -> None:
        claim.result = result
        result.save(self.out / claim.claim_id)
        self.line(claim, f"{status:<7} {result.verdict:<12} {result.wall_time:6.1f} s  {result.headline}")


def reproduce(ids: list[str], profile: str, out: str | Path, force: bool = False,
              echo: Callable[[str], None] = print, jobs: int = 1, executor: str = "local",
              address: str | None = None, threads: int | None = None) -> list[Result]:
    """Run ``ids``, printing a line per unit and per claim; returns the Results in the order of ``ids``.

    ``executor`` "local" runs untimed units in ``jobs`` processes (1: in this process),
    "ray" as Ray tasks (``address``: join that cluster). Timed units run at ``threads``
    torch threads (None: as the caller set).
    """
    check_profile(profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    ledger = _Ledger(ids, profile, out, force, echo)
    for claim in ledger.claims.values():
        ledger.start(claim)
    if ledger.untimed or ledger.timed:
        _run(ledger, executor, jobs, address, threads)
    echo(f"total {time.perf_counter() - start:.1f} s")
    return [ledger.claims[c].result for c in ids]


def _run(ledger: _Ledger, kind: str, jobs: int, address: str | None, threads: int | None) -> None:
    n = len(ledger.untimed)
    pool = make_executor(kind, load, jobs if n > 1 or kind == "ray" else 1, address,
                         gpus=ledger.profile == "full")
    try:
        ledger.echo(f"running {n} unit(s) in {pool.name}, then {len(ledger.timed)} timed unit(s) alone ...")
        while ledger.untimed or ledger.timed:
            _drain(ledger, pool)
            while ledger.timed and not ledger.untimed:  # alone: nothing else runs now
                claim_id, unit = ledger.timed.pop(0)
                ledger.line(ledger.claims[claim_id], f"unit {unit.key:<24} timed, running alone ...")
                ledger.finished(claim_id, unit, pool.run_timed(claim_id, unit, threads), pool.name)
    finally:
        pool.close()


def _drain(ledger: _Ledger, pool) -> None:
    """Run the untimed units, at most ``pool.slots`` at once, largest first; retry after a dead worker."""
    running: dict = {}
    tries: dict = {}
    while ledger.untimed or running:
        while ledger.untimed and len(running) < pool.slots:
            _, _, claim_id, unit = heapq.heappop(ledger.untimed)
            running[pool.submit(claim_id, unit)] = (claim_id, unit)
        finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
        broken = []
        for future in finished:
            claim_id, unit = running.pop(future)
            try:
                out = future.result()
            except BrokenProcessPool:  # a worker died (e.g. killed for memory): retry on a new pool
                broken.append((claim_id, unit))
                continue
            except Exception as err:  # e.g. a Ray task that failed on every retry
                out = _lost(f"the unit's worker failed: {err!r}")
            ledger.finished(claim_id, unit, out, pool.name)
        if broken:
            broken += list(running.values())
            running.clear()
            pool.restart()
            for claim_id, unit in broken:
                tries[claim_id, unit.key] = tries.get((claim_id, unit.key), 0) + 1
                if tries[claim_id, unit.key] > 2:
                    ledger.finished(claim_id, unit, _lost("its worker process died twice"), pool.name)
                else:
                    heapq.heappush(ledger.untimed, (-unit.flops, next(ledger.order), claim_id, unit))


def _lost(why: str) -> dict:
    return {"value": None, "error": why, "started": time.time(), "wall_time": 0.0, "threads": 1,
            "machine": {}, "versions": {}}


def summary_table(results: list[Result]) -> str:
    """A plain-text table: claim, verdict, headline number."""
    rows = [("claim", "verdict", "headline")] + [(r.claim_id, r.verdict, r.headline) for r in results]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)
