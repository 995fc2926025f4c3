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
   (:func:`count`), or an interval of the paired differences (:func:`paired`): a
   percentile bootstrap only over >= 5 paired values (over 3 it is just [min, max]
   and claims a coverage it does not have), else the count rule "in every seed".
   Values that are not independent (pairs of one set of occurrences) are never
   bootstrapped as if they were: a label permutation test reads them
   (:func:`permutation_p`).
5. **Timings decide only by a clear margin**: variants are timed in interleaved
   rounds in one process, and one is "faster" only when the ratio of the *fastest*
   rounds clears a stated margin, and so does that of the second fastest
   (:func:`clearly_faster`): other processes only ever add time to a round, so the
   minimum is the statistic that load moves least.
6. **Margins.** Every verdict records how far its deciding number lies from the
   rule's threshold (:class:`Margin`); a verdict that does not rest on timings and
   whose distance is within the measured run-to-run noise is "inconclusive".

Torch-free (NumPy only): the report imports it.
"""

from __future__ import annotations

import math
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



MIN_BOOTSTRAP = 5  # fewer paired values than this: a count rule, never a percentile bootstrap


def bootstrap_interval(diffs, level: float = 0.95, draws: int = 4000, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of independent paired differences (seeded, so repeatable).

    Refuses fewer than :data:`MIN_BOOTSTRAP` values: over 3 the interval is exactly
    [min, max], whatever ``level`` says (use :func:`paired`, which falls back to a count).
    """
    d = np.asarray([float(x) for x in diffs], float)
    if d.size < MIN_BOOTSTRAP:
        raise ValueError(f"a percentile bootstrap needs >= {MIN_BOOTSTRAP} paired values, got {d.size}")
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, d.size, size=(draws, d.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


@dataclass(frozen=True)
class Paired:
    """A rule over paired differences against a threshold: which method, and its outcome.

    ``above``/``below``: the differences lie above/below ``threshold`` by the method;
    ``low``/``high``: the interval the method read ([min, max] for the count rule).
    """

    method: str
    above: bool
    below: bool
    low: float
    high: float

    def describe(self) -> str:
        return f"{self.method} {self.low:+.4g}..{self.high:+.4g}"


def paired(diffs, threshold: float = 0.0, level: float = 0.95, seed: int = 0) -> Paired:
    """Decide where paired differences lie against ``threshold``.

    With >= :data:`MIN_BOOTSTRAP` values: the percentile bootstrap interval of their mean lies
    wholly above / below. With fewer (3 seeds): the count rule "in every seed", every
    difference above / below (a variant worse in one seed cannot confirm "better").
    """
    d = [float(x) for x in diffs]
    if len(d) >= MIN_BOOTSTRAP:
        lo, hi = bootstrap_interval(d, level, seed=seed)
        method = f"bootstrap {level:.0%} interval of the mean over {len(d)} seeds"
    else:
        lo, hi = (min(d), max(d)) if d else (math.nan, math.nan)
        method = f"in every one of {len(d)} seeds (count rule; range)"
    return Paired(method, bool(d) and lo > threshold, bool(d) and hi < threshold, lo, hi)


def sign_flip_p(diffs, threshold: float = 0.0) -> float:
    """Exact one-sided paired permutation p-value that the mean of ``diffs - threshold`` is > 0.

    Every one of the 2^n sign patterns (n <= 16) is enumerated; with 3 values the smallest
    possible p is 1/8, so 3 seeds can never pass a 0.05 test (use a count rule there).
    """
    d = np.asarray([float(x) - threshold for x in diffs], float)
    if d.size == 0 or d.size > 16:
        raise ValueError(f"sign_flip_p enumerates 1..16 values, got {d.size}")
    signs = 1 - 2 * ((np.arange(2 ** d.size)[:, None] >> np.arange(d.size)) & 1)  # (2^n, n) of +-1
    means = (signs * np.abs(d)).mean(1)
    return float(np.mean(means >= d.mean() - 1e-12))


def permutation_p(statistic, labels, draws: int = 999, seed: int = 0) -> float:
    """One-sided label-permutation p-value that ``statistic(labels)`` is larger than by chance.

    For statistics of values that share pairs (so are not independent, and a bootstrap of
    them would be too narrow): the labels are shuffled ``draws`` times (seeded), and
    p = (1 + #{statistic(shuffled) >= observed}) / (1 + draws).
    """
    labels = list(labels)
    observed = statistic(labels)
    rng = np.random.default_rng(seed)
    hits = sum(statistic([labels[i] for i in rng.permutation(len(labels))]) >= observed - 1e-12
               for _ in range(draws))
    return (1 + hits) / (1 + draws)


def clearly_faster(fast: list[float], slow: list[float], margin: float) -> bool:
    """True when ``fast`` beats ``slow`` by ``margin`` in its fastest round and in its second fastest
    (so one lucky round cannot decide).

    Both are lists of seconds from interleaved rounds of one process. Other processes only add
    time to a round, so the fastest rounds are what a busy machine moves least: rounds that
    load slowed down, of either variant, cannot decide either way as long as two are spared.
    """
    if not fast or not slow:
        return False
    f, s = sorted(fast), sorted(slow)
    return all(s[i] >= margin * f[i] for i in range(min(2, len(f), len(s))))


def speed_ratio(fast: list[float], slow: list[float]) -> float:
    """How many times faster ``fast`` is than ``slow``: the ratio of their fastest rounds."""
    return min(slow) / min(fast)


@dataclass(frozen=True)
class Margin:
    """How far a verdict's deciding number lies from its rule's threshold.

    ``value`` and ``threshold`` in ``units``; ``noise``: the measured run-to-run spread of
    ``value`` in the same units (e.g. its spread over seeds); ``timing``: the number is
    a measured time (noise is then decided by the clear-margin rule instead).
    """

    name: str
    value: float
    threshold: float
    units: str
    noise: float = 0.0
    timing: bool = False

    @property
    def distance(self) -> float:
        return abs(self.value - self.threshold)

    @property
    def fraction(self) -> float | None:
        """The distance as a fraction of the threshold (None when the threshold is 0)."""
        return self.distance / abs(self.threshold) if self.threshold else None

    @property
    def within_noise(self) -> bool:
        """A decided number closer to its threshold than the noise cannot decide (NaN: not measured, no veto)."""
        return bool(_ok(self.value) and math.isfinite(self.value) and self.distance <= self.noise)

    def to_dict(self) -> dict:
        return {"name": self.name, "value": float(self.value), "threshold": float(self.threshold),
                "distance": float(self.distance), "fraction": self.fraction, "units": self.units,
                "noise": float(self.noise), "timing": self.timing, "within_noise": self.within_noise}


def spread(values) -> float:
    """Run-to-run noise of a number measured over seeds: the sample standard deviation (0 for one)."""
    v = [float(x) for x in values]
    return float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def seed_noise(values) -> float:
    """Run-to-run noise of a number read from per-seed values: the standard error of their mean
    (spread / sqrt(n)); a change of floating-point rounding perturbs a training run about as a
    change of seed does, and the deciding number moves by about this much between reruns."""
    v = [float(x) for x in values]
    return spread(v) / math.sqrt(len(v)) if v else 0.0
