"""The ledger's rules of evidence: gates, rules over seeds, timings by margin, comparable results."""

import math

import pytest

from seqlab.experiments.core import runner
from seqlab.experiments.core.base import Result, comparable, finish, new_result
from seqlab.experiments.core.rules import (
    Margin, at_least, at_most, bootstrap_interval, clearly_faster, converged, count, gates_pass, paired,
    permutation_p, seed_noise, seeds, sign_flip_p, spread,
)


def test_seeds_per_profile():
    assert seeds("quick") == (0, 1, 2) and seeds("full") == (0, 1, 2, 3, 4)


def test_floor_and_ceiling_gates_fail_on_nan():
    assert at_least("acc", 0.95, 0.9).passed and not at_least("acc", 0.85, 0.9).passed
    assert not at_least("acc", math.nan, 0.9).passed and at_least("acc", math.nan, 0.9).detail == "NaN"
    assert at_most("aer", 0.2, 0.3).passed and not at_most("aer", 0.4, 0.3).passed


def test_convergence_gate_reads_the_last_quarter():
    rising = [0.1, 0.3, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95]  # +0.15 from 3/4 (index 6) to the end
    assert not converged("trained", rising, tolerance=0.05).passed
    assert converged("trained", rising, tolerance=0.2).passed
    flat = [0.1, 0.5, 0.9, 0.95, 0.96]
    assert converged("trained", flat, tolerance=0.02).passed
    assert converged("loss", [3.0, 2.0, 1.0, 0.99, 0.985], 0.02, higher_is_better=False).passed
    dip = [0.5, 0.9, 0.95, 0.95, 0.95, 0.95, 0.85, 0.96]  # a dip at 3/4 and back: no real progress
    assert converged("dip", dip, tolerance=0.05).passed
    assert not converged("short", [0.1, 0.2], 0.5).passed  # too few evaluations to tell


def test_rules_over_seeds():
    assert count([True, False, True]) == 2
    five = [0.5, 0.6, 0.7, 0.55, 0.65]
    lo, hi = bootstrap_interval(five, seed=1)
    assert 0.5 <= lo <= hi <= 0.7 and (lo, hi) == bootstrap_interval(five, seed=1)
    lo, hi = bootstrap_interval([-1.0, 1.0, -1.0, 1.0, 0.0])
    assert lo < 0 < hi


def test_no_percentile_bootstrap_over_fewer_than_five_values():
    """Over 3 values the percentile interval is [min, max], whatever the level claims: refused."""
    with pytest.raises(ValueError, match=">= 5"):
        bootstrap_interval([0.5, 0.6, 0.7])
    rule = paired([0.5, 0.6, 0.7], threshold=0.0)
    assert rule.method.startswith("in every one of 3 seeds") and rule.above and not rule.below
    assert paired([0.5, 0.6, 0.7, 0.55, 0.65]).method.startswith("bootstrap")


def test_a_consistently_worse_variant_cannot_confirm_better():
    worse = [-0.020, -0.025, -0.028]  # worse in every seed
    assert not paired(worse, 0.0).above and paired(worse, 0.0).below
    assert not paired([0.05, -0.01, 0.04], 0.0).above  # worse in one seed of 3: no "in every seed"
    assert not paired([-0.02, -0.025, -0.028, -0.021, -0.03], 0.0).above  # five seeds: the bootstrap neither
    assert sign_flip_p(worse) == 1.0 and sign_flip_p([0.1, 0.2, 0.3]) == 1 / 8  # 3 seeds: p >= 1/8 at best


def test_sign_flip_test_is_exact():
    """p = share of the 2^n sign patterns whose mean is at least the observed one (hand-counted)."""
    assert sign_flip_p([1.0, 2.0, 3.0, 4.0, 5.0]) == 1 / 32
    assert sign_flip_p([1.0, -2.0]) == 3 / 4  # means of +-1 +-2: 1.5, -0.5, 0.5, -1.5 vs observed -0.5
    assert sign_flip_p([0.3, 0.4, 0.5], threshold=0.35) == sign_flip_p([-0.05, 0.05, 0.15])


def test_permutation_test_of_shared_pair_statistics():
    """A statistic of pairs (not independent values) read by shuffling labels: separated groups give a small p,
    one group split at random does not."""
    values = [0.0, 0.1, 0.2, 0.05, 1.0, 1.1, 0.9, 1.05]

    def gap(labels):
        a = [v for v, lab in zip(values, labels) if lab == "a"]
        b = [v for v, lab in zip(values, labels) if lab == "b"]
        return sum(b) / len(b) - sum(a) / len(a)

    assert permutation_p(gap, list("aaaabbbb"), draws=499, seed=0) < 0.05
    assert permutation_p(gap, list("abababab"), draws=499, seed=0) > 0.2
    assert permutation_p(gap, list("aaaabbbb"), seed=3) == permutation_p(gap, list("aaaabbbb"), seed=3)


def test_margins_record_distance_and_noise_makes_it_inconclusive():
    m = Margin("gap", 0.12, 0.1, "accuracy", noise=0.01)
    assert m.distance == pytest.approx(0.02) and m.fraction == pytest.approx(0.2) and not m.within_noise
    d = m.to_dict()
    assert {"value", "threshold", "distance", "fraction", "units", "noise"} <= set(d)
    assert Margin("zero", 0.5, 0.0, "x").fraction is None
    r = finish(new_result("CX", "c", "s", "quick", {}), "confirmed", "rule", "why", "h",
               margins=[Margin("gap", 0.102, 0.1, "accuracy", noise=seed_noise([0.09, 0.1, 0.11]))])
    assert seed_noise([0.09, 0.1, 0.11]) == pytest.approx(spread([0.09, 0.1, 0.11]) / 3 ** 0.5)
    assert seed_noise([0.09, 0.1, 0.11]) == pytest.approx(0.01 / 3 ** 0.5)
    assert r.verdict == "inconclusive" and r.decided_by.startswith("margin within noise (was confirmed)")
    r = finish(new_result("CX", "c", "s", "quick", {}), "confirmed", "rule", "why", "h",
               margins=[Margin("ratio", 1.51, 1.5, "x", noise=0.1, timing=True)])
    assert r.verdict == "confirmed"  # timings are decided by the clear-margin rule instead
    assert comparable(r.to_dict())["margins"] == []  # and vary between runs


def test_timings_decide_only_by_a_clear_margin():
    fast, slow = [1.0, 1.1, 1.05], [2.0, 2.2, 2.1]
    assert clearly_faster(fast, slow, margin=1.5)
    assert not clearly_faster(fast, slow, margin=2.5)  # the ratio misses the margin
    assert not clearly_faster([1.0, 2.2, 2.3, 2.4], [1.95, 2.1, 2.2, 2.3], margin=1.5)  # one lucky round cannot decide
    assert clearly_faster([1.0, 1.0, 1.05, 1.1, 9.0], [3.0, 3.1, 3.2, 3.3, 3.4], margin=1.5)  # one slowed round cannot decide
    assert not clearly_faster(slow, fast, margin=1.0)


def test_load_that_slows_rounds_does_not_move_the_timing_verdict():
    """Another process only adds time to some rounds, of either variant: the fastest rounds still decide."""
    fast, slow = [1.0] * 10, [2.0] * 10
    loaded_fast = [t * (1 + 1.5 * (i % 3 == 0)) for i, t in enumerate(fast)]  # every third round 2.5x slower
    loaded_slow = [t * (1 + 0.9 * (i % 2 == 0)) for i, t in enumerate(slow)]
    for f, s in ((fast, slow), (loaded_fast, loaded_slow), (loaded_fast, slow), (fast, loaded_slow)):
        assert clearly_faster(f, s, margin=1.5) and not clearly_faster(f, s, margin=2.5)


def test_a_failed_gate_is_named_in_the_reasons():
    r = new_result("CX", "c", "s", "quick", {}, seeds=(0, 1, 2))
    gates = [at_least("competent", 0.5, 0.9), at_least("other", 1.0, 0.5)]
    assert not gates_pass(gates)
    finish(r, "inconclusive", "rule", "numbers", "head", gates=gates)
    assert r.decided_by.startswith("gate failed: competent (0.5 < 0.9)") and r.decided_by.endswith("numbers")
    back = Result.from_dict(r.to_dict())
    assert back.seeds == [0, 1, 2] and [g["passed"] for g in back.gates] == [False, True]


def test_comparable_drops_exactly_the_timing_fields():
    r = new_result("CX", "c", "s", "quick", {})
    r.add_table("t", ["model", "accuracy", "ms"], [["a", 0.9, 1.5], ["b", 0.8, 2.5]], timing=["ms"])
    r.timing = ["headline"]
    finish(r, "confirmed", "rule", "why", "a is 1.7x faster")
    d = comparable(r.to_dict())
    assert "started" not in d and "wall_time" not in d and "headline" not in d
    assert d["tables"][0]["columns"] == ["model", "accuracy"] and d["tables"][0]["rows"] == [["a", 0.9], ["b", 0.8]]
    with pytest.raises(ValueError, match="timing columns"):
        r.add_table("t", ["a"], [[1]], timing=["b"])


def test_reproduce_prints_running_only_for_claims_it_runs(tmp_path, monkeypatch):
    import types

    def run(profile):
        return finish(new_result("CX", "c", "s", profile, {}), "inconclusive", "r", "w", "h")

    monkeypatch.setattr(runner, "load", lambda cid: types.SimpleNamespace(config=lambda p: {}, run=run))
    first, second = [], []
    runner.reproduce(["CX"], "quick", tmp_path, echo=first.append)
    runner.reproduce(["CX"], "quick", tmp_path, echo=second.append)
    assert any("running" in line for line in first)
    assert not any("running" in line for line in second) and any("skipped" in line for line in second)


def test_report_shows_rule_seeds_gates_and_timing_columns(tmp_path):
    from seqlab.report.html import render_claim

    r = new_result("CX", "c", "s", "quick", {}, seeds=(0, 1, 2))
    r.add_table("t", ["model", "ms"], [["a", 1.0]], timing=["ms"])
    finish(r, "inconclusive", "the <rule>", "why", "h", gates=[at_least("competent <b>", 0.5, 0.9)])
    html = render_claim(r, tmp_path)
    assert "Rule (fixed before the run).</b> the &lt;rule&gt;" in html
    assert "<b>Seeds.</b> 0, 1, 2" in html
    assert "competent &lt;b&gt;" in html and "<b>failed</b>" in html
    assert 'class="timing"' in html and "ms &#9201;" in html


def test_reproduce_refuses_an_empty_selection(tmp_path, capsys):
    from seqlab.cli import main

    assert main(["reproduce", "--only", " , ", "--out", str(tmp_path)]) == 2
    assert "no claim id given" in capsys.readouterr().err
