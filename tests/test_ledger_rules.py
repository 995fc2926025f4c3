"""The ledger's rules of evidence: gates, rules over seeds, timings by margin, comparable results."""

import math

import pytest

from seqlab.experiments.core import runner
from seqlab.experiments.core.base import Result, comparable, finish, new_result
from seqlab.experiments.core.rules import (
    at_least, at_most, bootstrap_interval, clearly_faster, converged, count, gates_pass, seeds,
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
    lo, hi = bootstrap_interval([0.5, 0.6, 0.7], seed=1)
    assert 0.5 <= lo <= hi <= 0.7 and (lo, hi) == bootstrap_interval([0.5, 0.6, 0.7], seed=1)
    lo, hi = bootstrap_interval([-1.0, 1.0, -1.0, 1.0])
    assert lo < 0 < hi


def test_timings_decide_only_by_a_clear_margin():
    fast, slow = [1.0, 1.1, 1.05], [2.0, 2.2, 2.1]
    assert clearly_faster(fast, slow, margin=1.5)
    assert not clearly_faster(fast, slow, margin=2.5)  # the ratio misses the margin
    assert not clearly_faster([1.0, 1.0, 1.9, 2.0], [1.95, 2.1, 2.2, 2.3], margin=1.5)  # quartiles overlap
    assert clearly_faster([1.0, 1.0, 1.05, 1.1, 9.0], [3.0, 3.1, 3.2, 3.3, 3.4], margin=1.5)  # one slowed round cannot decide
    assert not clearly_faster(slow, fast, margin=1.0)


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
