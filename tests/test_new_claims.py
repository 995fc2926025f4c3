"""Issue 13's cheap new claims (no training): C21 attention arithmetic, C22 the 1/sqrt(d_k)
scale, C23 residual connections, C24 Xavier vs orthogonal W_hh. Known values by hand, the
verdict rules on hand-made inputs, and tiny runs."""

import math

import pytest
import torch

from seqlab.experiments import REGISTRY


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _tiny(module, monkeypatch):
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    return module.run("quick")


# ---------------------------------------------------------------- C21 attention arithmetic

def test_c21_softmax_by_hand():
    from seqlab.experiments import c21_attention_arithmetic as c21

    e = [math.exp(2.1), math.exp(0.2), math.exp(0.1)]  # 8.1662, 1.2214, 1.1052
    assert sum(e) == pytest.approx(10.4928, abs=1e-4)
    exact = c21.softmax([2.1, 0.2, 0.1])
    assert list(exact) == pytest.approx([0.77827, 0.11640, 0.10533], abs=1e-5)
    assert c21.softmax_by_hand([2.1, 0.2, 0.1]) == pytest.approx(list(exact), abs=1e-15)
    assert [round(w, 2) for w in exact] == [0.78, 0.12, 0.11]  # not the printed [0.82, 0.09, 0.09]


def test_c21_rounding_rule():
    from seqlab.experiments.c21_attention_arithmetic import agrees, wrong

    assert agrees(0.78, 0.7783, 2) and agrees(0.78, 0.775, 2) and not agrees(0.78, 0.7749, 2)
    assert not wrong(0.78, 0.7749, 2) and wrong(0.82, 0.7783, 2) and wrong(0.09, 0.1164, 2)


def test_c21_verdicts(monkeypatch):
    from seqlab.experiments import c21_attention_arithmetic as c21

    assert "C21" in REGISTRY
    r = c21.run("quick")
    assert r.verdict == "refuted" and "do not match" in r.notes[0]
    assert "0.78*h_river + 0.12*h_flowing + 0.11*h_fast" in r.notes[0]
    assert r.tables[2].rows[0][1] == 0  # no temperature reproduces the printed weights
    # printed values that are the exact ones rounded confirm; one a unit off is in between
    monkeypatch.setitem(c21.PROFILES, "quick", c21.Config(printed=(0.78, 0.12, 0.11), tau_step=0.1))
    assert c21.run("quick").verdict == "confirmed"
    monkeypatch.setitem(c21.PROFILES, "quick", c21.Config(printed=(0.78, 0.12, 0.10), tau_step=0.1))
    assert c21.run("quick").verdict == "inconclusive"
