"""C5 (gradient clipping tames exploding gradients): the count rule and gates on hand-made numbers,
the quote, and a tiny run."""

import math
from pathlib import Path

import pytest

from seqlab.experiments.core.base import new_result
from seqlab.experiments.core.units import run_inline
from seqlab.experiments.gradients import c05_clipping as c5

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)

CHANCE = math.log(4)
NAN = math.nan


def _decide(plain, clipped, sane=(0.01,) * 5, sane_peak=(10.0,) * 5, large_peak=(1e4,) * 5):
    cfg = c5.Config()
    gates = c5.gates(cfg, CHANCE, list(sane), list(sane_peak), list(large_peak))
    return c5._verdict(new_result("C5", "", "", "quick", {}), cfg, CHANCE, list(plain), list(clipped), gates)


def test_c5_rule_counts_rescued_and_untamed_seeds():
    r = c5.rule([NAN] * 5, [0.01] * 5, CHANCE, 0.25, 0.8)
    assert (r["k"], r["rescued"], r["untamed"], r["confirmed"], r["refuted"]) == (4, 5, 0, True, False)
    r = c5.rule([NAN] * 5, [NAN, NAN, 2.0, 1.5, 0.01], CHANCE, 0.25, 0.8)  # NaN or >= chance: blew up
    assert (r["untamed"], r["refuted"], r["confirmed"]) == (4, True, False)
    r = c5.rule([NAN] * 5, [0.8] * 5, CHANCE, 0.25, 0.8)  # finite, below chance, short of competence
    assert not r["confirmed"] and not r["refuted"]
    assert c5.rule([NAN] * 10, [0.01] * 7 + [NAN] * 3, CHANCE, 0.25, 0.8)["k"] == 8


def test_c5_verdicts_on_hand_made_runs():
    assert _decide([NAN] * 5, [0.01] * 5).verdict == "confirmed"
    assert _decide([NAN] * 5, [0.01, 0.01, 0.01, 0.01, NAN]).verdict == "confirmed"  # 4 of 5
    assert _decide([NAN] * 5, [0.01, 0.01, 0.01, NAN, NAN]).verdict == "inconclusive"  # 3 of 5
    assert _decide([NAN] * 5, [NAN] * 5).verdict == "refuted"  # clipping left the blow-up as it was
    assert _decide([NAN] * 5, [0.8] * 5).verdict == "inconclusive"  # clipped runs finite but not competent
    assert _decide([0.01] * 5, [0.01] * 5).verdict == "inconclusive"  # nothing to rescue
    r = _decide([NAN] * 5, [NAN] * 5, sane=(1.3,) * 5)  # the task is not learnable even at a sane init
    assert r.verdict == "inconclusive" and "learnable" in r.decided_by
    r = _decide([NAN] * 5, [0.01] * 5, large_peak=(50.0,) * 5)  # no explosion: the claim's premise is absent
    assert r.verdict == "inconclusive" and "explode" in r.decided_by
    r = _decide([NAN] * 3, [0.01] * 3, sane=(0.01,) * 3, sane_peak=(10.0,) * 3, large_peak=(1e4,) * 3)
    assert r.verdict == "inconclusive" and "paired seeds" in r.decided_by  # fewer than 5 seeds never decide
    margins = {m["name"]: m for m in _decide([NAN] * 5, [0.01] * 5).margins}
    assert margins["seeds rescued by clipping (count rule)"]["value"] == 5


def test_c5_tiny_run_is_gated_on_seeds(monkeypatch):
    monkeypatch.setitem(c5.PROFILES, "quick", c5.TINY)
    r = run_inline(c5, "quick")
    assert r.verdict == "inconclusive" and "paired seeds" in r.decided_by and r.margins
    assert len(r.tables[0].rows) == 2 * 2 * c5.TINY.seeds  # (sane, large) x (no clip, clip) x seeds


def test_c5_quotes_the_chapter():
    root = Path(__file__).resolve().parents[1]
    folders = [root / "shared" / "seed", root.parent / "shared" / "seed"]  # in the checkout, or beside it
    texts = [p.read_text() for folder in folders if folder.is_dir() for p in folder.glob("*.txt")]
    if not texts:
        pytest.skip("the chapter text is not in this checkout")
    quote = c5.CLAIM.split(': "', 1)[1].split('" (tested', 1)[0]
    assert all(any(part.strip(" ,") in t for t in texts) for part in quote.split("[...]"))
