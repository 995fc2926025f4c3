"""The ledger's rules of evidence: paired seeds, gates, rules over seeds, timings by margin.

Every verdict that rests on training follows one pattern, fixed before the run:

1. **Budgets in updates.** Each model trains a fixed number of optimizer steps;
   wall-clock time is measured and reported, never used to stop.
2. **Paired seeds.** Every compared variant trains once per seed of :func:`seeds`
   (3 in quick, 5 in full); seed ``s`` gives each variant the same batches.
3. **Gates.** A comparison may decide only when its models are competent (a score
   floor set from the task) and trained (little left to gain over the last quarter
   of the budget). A failed :class:`Gate` makes the verdict "inconclusive" and the
   report prints which gate failed and why.
4. **A rule over seeds**, e.g. "in every seed" or "in at least 4 of 5"
   (:func:`count`), or a bootstrap interval of the paired differences.
5. **Timings decide only by a clear margin**: variants are timed in interleaved
   rounds in one process, and one is "faster" only when the ratio of medians clears
   a stated margin and the rounds are apart (:func:`clearly_faster`).

Torch-free (NumPy only): the report imports it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import asdict, dataclass

import numpy as np

SEEDS = {"quick": 3, "full": 5}


def seeds(profile: str) -> tuple[int, ...]:
    """The paired seeds of a profile: (0, 1, 2) in quick, (0, ..., 4) in full."""
    return tuple(range(SEEDS[profile]))


@dataclass(frozen=True)
class Gate:
    """One precondition of a verdict: its name, whether it passed, and the numbers."""

    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def _ok(value: float) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def at_least(name: str, value: float, floor: float) -> Gate:
    """Passes when ``value >= floor`` (NaN fails)."""
    passed = _ok(value) and value >= floor
    return Gate(name, bool(passed), f"{value:.4g} {'>=' if passed else '<'} {floor:g}" if _ok(value) else "NaN")


def at_most(name: str, value: float, ceiling: float) -> Gate:
    """Passes when ``value <= ceiling`` (NaN fails)."""
    passed = _ok(value) and value <= ceiling
    return Gate(name, bool(passed), f"{value:.4g} {'<=' if passed else '>'} {ceiling:g}" if _ok(value) else "NaN")


def converged(name: str, curve: list[float], tolerance: float, higher_is_better: bool = True) -> Gate:
    """Trained to a plateau: the last quarter improved on the best before it by at most ``tolerance``.

    ``curve`` holds the metric at evenly spaced evaluations (at least 4), last = the end
    of the budget. The gain is the last value minus the best value up to three quarters
    of the budget (a dip and recovery inside the budget is not progress).
    """
    if len(curve) < 4 or not all(_ok(v) for v in curve):
        return Gate(name, False, f"needs >= 4 finite evaluations, got {len(curve)}")
    before = curve[: (3 * (len(curve) - 1)) // 4 + 1]
    start = max(before) if higher_is_better else min(before)
    gain = (curve[-1] - start) if higher_is_better else (start - curve[-1])
    passed = gain <= tolerance
    return Gate(name, passed, f"gained {gain:+.4g} over the last quarter ({'<=' if passed else '>'} {tolerance:g})")


def gates_pass(gates: list[Gate]) -> bool:
    return all(g.passed for g in gates)


def count(flags) -> int:
    """How many of ``flags`` are true (a rule "in at least k of n seeds" compares this with k)."""
    return sum(bool(f) for f in flags)



def bootstrap_interval(diffs, level: float = 0.95, draws: int = 4000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of paired differences (seeded, so repeatable)."""
    d = np.asarray([float(x) for x in diffs], float)
    if d.size == 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(draws, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def clearly_faster(fast: list[float], slow: list[float], margin: float) -> bool:
    """True when ``fast`` beats ``slow`` by ``margin`` in medians and the rounds are apart: the
    upper quartile of ``fast`` lies below the lower quartile of ``slow`` (so one round that a
    busy machine slowed down cannot decide, either way).

    Both are lists of seconds from interleaved rounds of one process.
    """
    if not fast or not slow:
        return False
    apart = _quantile(fast, 0.75) < _quantile(slow, 0.25)
    return statistics.median(slow) >= margin * statistics.median(fast) and apart


def _quantile(values: list[float], q: float) -> float:
    return float(np.quantile(np.asarray(values, float), q))
