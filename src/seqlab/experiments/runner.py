"""Run experiments into a run folder: skip finished ones, survive failures.

Layout: ``<out>/<claim id>/result.json`` plus that claim's PNG figures. A claim is
skipped when its folder already holds a result of the same profile and config
without an error (``force`` re-runs it). An exception inside an experiment is
recorded as a Result with verdict "error" and the run goes on.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from seqlab.experiments.base import RESULT_FILE, Result, check_profile, finish, new_result
from seqlab.experiments.registry import load


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


def run_claim(claim_id: str, profile: str, out: Path, force: bool = False,
              on_start: Callable[[], None] = lambda: None) -> tuple[Result, str]:
    """Run (or reuse) one claim's experiment; returns (result, "ran"|"skipped"|"error").

    ``on_start`` is called just before the experiment runs (not for a stored result).
    """
    folder, module = out / claim_id, None
    try:
        module = load(claim_id)
        config = module.config(profile)
        old = None if force else previous(folder, profile, config)
        if old is not None:
            return old, "skipped"
        on_start()
        result = module.run(profile)
        status = "ran"
    except Exception as err:  # record and go on: one failure must not stop the ledger
        result = _error_result(claim_id, profile, err, getattr(module, "CLAIM", None))
        status = "error"
    result.save(folder)
    return result, status


def _error_result(claim_id: str, profile: str, err: Exception, claim: str | None) -> Result:
    r = new_result(claim_id, claim or "(the experiment could not be loaded)", "", profile, {})
    r.error = traceback.format_exc(limit=-6)
    return finish(r, "error", "", "", f"error: {type(err).__name__}")


def reproduce(ids: list[str], profile: str, out: str | Path, force: bool = False,
              echo: Callable[[str], None] = print) -> list[Result]:
    """Run ``ids`` in order, printing one progress line per claim; returns all Results."""
    check_profile(profile)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results, start = [], time.perf_counter()
    for i, claim_id in enumerate(ids, 1):
        t0 = time.perf_counter()
        result, status = run_claim(claim_id, profile, out, force,
                                   on_start=lambda: echo(f"[{i:>2}/{len(ids)}] {claim_id:<4} running ..."))
        took = time.perf_counter() - t0
        echo(f"[{i:>2}/{len(ids)}] {claim_id:<4} {status:<7} {result.verdict:<12} {took:6.1f} s  {result.headline}")
        results.append(result)
    echo(f"total {time.perf_counter() - start:.1f} s")
    return results


def summary_table(results: list[Result]) -> str:
    """A plain-text table: claim, verdict, headline number."""
    rows = [("claim", "verdict", "headline")] + [(r.claim_id, r.verdict, r.headline) for r in results]
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    lines.insert(1, "-" * max(len(line) for line in lines))
    return "\n".join(lines)
