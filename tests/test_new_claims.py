"""Issue 13's cheap new claims (no training): C21 attention arithmetic, C22 the 1/sqrt(d_k)
scale, C23 residual connections, C24 Xavier vs orthogonal W_hh. Known values by hand, the
verdict rules on hand-made inputs, and tiny runs."""

import math

import pytest
import torch

from seqlab.experiments import REGISTRY
from seqlab.experiments.core.units import run_inline


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


def _tiny(module, monkeypatch):
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    return run_inline(module, "quick")


# ---------------------------------------------------------------- C21 attention arithmetic

def test_c21_softmax_by_hand():
    from seqlab.experiments.attention import c21_attention_arithmetic as c21

    e = [math.exp(2.1), math.exp(0.2), math.exp(0.1)]  # 8.1662, 1.2214, 1.1052
    assert sum(e) == pytest.approx(10.4928, abs=1e-4)
    exact = c21.softmax([2.1, 0.2, 0.1])
    assert list(exact) == pytest.approx([0.77827, 0.11640, 0.10533], abs=1e-5)
    assert c21.softmax_by_hand([2.1, 0.2, 0.1]) == pytest.approx(list(exact), abs=1e-15)
    assert [round(w, 2) for w in exact] == [0.78, 0.12, 0.11]  # not the printed [0.82, 0.09, 0.09]


def test_c21_rounding_rule():
    from seqlab.experiments.attention.c21_attention_arithmetic import agrees, wrong

    assert agrees(0.78, 0.7783, 2) and agrees(0.78, 0.775, 2) and not agrees(0.78, 0.7749, 2)
    assert not wrong(0.78, 0.7749, 2) and wrong(0.82, 0.7783, 2) and wrong(0.09, 0.1164, 2)


def test_c21_verdicts(monkeypatch):
    from seqlab.experiments.attention import c21_attention_arithmetic as c21

    assert "C21" in REGISTRY
    r = run_inline(c21, "quick")
    assert r.verdict == "refuted" and "do not match" in r.notes[0]
    assert "0.78*h_river + 0.12*h_flowing + 0.11*h_fast" in r.notes[0]
    assert r.tables[2].rows[0][1] == 0  # no temperature reproduces the printed weights
    # printed values that are the exact ones rounded confirm; one a unit off is in between
    monkeypatch.setitem(c21.PROFILES, "quick", c21.Config(printed=(0.78, 0.12, 0.11), tau_step=0.1))
    assert run_inline(c21, "quick").verdict == "confirmed"
    monkeypatch.setitem(c21.PROFILES, "quick", c21.Config(printed=(0.78, 0.12, 0.10), tau_step=0.1))
    assert run_inline(c21, "quick").verdict == "inconclusive"


# ---------------------------------------------------------------- C22 1/sqrt(d_k)

def _c22_point(un_w, un_e, un_g, sc_w, sc_e, sc_g):
    return {"unscaled": {"max weight": un_w, "entropy": un_e, "grad logits": 0.0, "grad q": un_g},
            "scaled": {"max weight": sc_w, "entropy": sc_e, "grad logits": 0.0, "grad q": sc_g}}


def test_c22_rule_on_hand_made_numbers():
    from seqlab.experiments.attention.c22_scaled_dot_product import Config, seed_checks

    cfg = Config()
    good = {16: _c22_point(0.6, 0.3, 0.7, 0.17, 0.87, 0.20), 1024: _c22_point(0.96, 0.03, 0.001, 0.16, 0.87, 0.22)}
    assert all(seed_checks(good, cfg).values())
    no_saturation = {16: good[16], 1024: _c22_point(0.7, 0.25, 0.001, 0.16, 0.87, 0.22)}
    assert seed_checks(no_saturation, cfg) == {"unscaled saturates": False, "unscaled gradient shrinks": True,
                                               "scaled stays flat": True}
    scaled_drifts = {16: good[16], 1024: _c22_point(0.96, 0.03, 0.001, 0.16, 0.87, 0.05)}  # gradient / 4
    assert not seed_checks(scaled_drifts, cfg)["scaled stays flat"]
    no_shrink = {16: good[16], 1024: _c22_point(0.96, 0.03, 0.2, 0.16, 0.87, 0.22)}
    assert not seed_checks(no_shrink, cfg)["unscaled gradient shrinks"]


def test_c22_logit_variance_and_tiny_run(monkeypatch):
    from seqlab.experiments.attention import c22_scaled_dot_product as c22

    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(4000, 256, generator=g), torch.randn(4000, 256, generator=g)
    assert (q * k).sum(-1).var().item() == pytest.approx(256, rel=0.1)  # unscaled logits: variance d_k
    assert ((q * k).sum(-1) / 16).var().item() == pytest.approx(1, rel=0.1)  # scaled: 1
    m = c22.measure(8, 4, 6, torch.Generator().manual_seed(0))
    assert set(m) == {"unscaled", "scaled"} and 0.25 <= m["scaled"]["max weight"] <= 1
    r = _tiny(c22, monkeypatch)
    assert r.verdict in ("confirmed", "refuted", "inconclusive") and r.gates[0]["passed"]  # 4..64 spans 16x
    assert len(r.tables[0].rows) == 3 * 3 * 2 and len(r.figures) == 2  # seeds x d_k x variants


# ---------------------------------------------------------------- C23 residual connections

def test_c23_reach_by_hand():
    from seqlab.experiments.gradients.c23_residual_reach import reach

    # one tanh layer with W = 0.5 I, b = 0 at x = 0: dL/dx = 0.5 u plain, 1.5 u residual
    W, b = 0.5 * torch.eye(3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
    x, u = torch.zeros(2, 3, dtype=torch.float64), torch.ones(2, 3, dtype=torch.float64)
    assert reach([(W, b)], "tanh", False, x, u) == pytest.approx(0.5)
    assert reach([(W, b)], "tanh", True, x, u) == pytest.approx(1.5)
    assert reach([(W, b)] * 3, "tanh", False, x, u) == pytest.approx(0.5 ** 3)  # tanh(0) = 0 stays at 0
    assert reach([(W, b)], "sigmoid", False, x, u) == pytest.approx(0.125)  # sigmoid'(0) = 1/4


def test_c23_orthogonal_layers_are_orthogonal():
    from seqlab.experiments.gradients.c23_residual_reach import layers

    (W, b), = layers(1, 6, torch.Generator().manual_seed(0), "orthogonal")
    assert torch.allclose(W.T @ W, torch.eye(6, dtype=torch.float64)) and not b.any()
    (W, b), = layers(1, 6, torch.Generator().manual_seed(0))
    assert W.abs().max() <= 6 ** -0.5 and b.any()  # torch's default Linear init


def test_c23_rule_on_hand_made_numbers():
    from seqlab.experiments.gradients.c23_residual_reach import Config, seed_checks

    cfg = Config(activations=("tanh", "sigmoid"), inits=("orthogonal",))
    measured = {("tanh", "orthogonal", True): [2.9, 16.5, 75.2], ("tanh", "orthogonal", False): [0.3, 0.15, 0.105],
                ("sigmoid", "orthogonal", True): [1.1, 1.2, 1.3],
                ("sigmoid", "orthogonal", False): [1e-5, 1e-20, 1e-40]}
    ok = seed_checks(measured, cfg)["orthogonal"]  # tanh keeps a tenth, but the sigmoid stack vanishes
    assert ok == {"residual in band": True, "a plain stack vanished": True, "no plain stack decays": False}
    blown = seed_checks({**measured, ("tanh", "orthogonal", True): [5.3, 65.7, 576.0]}, cfg)["orthogonal"]
    assert not blown["residual in band"]  # gain 5/3: the residual tanh stack explodes
    flat = seed_checks({**measured, ("sigmoid", "orthogonal", False): [0.9, 0.8, 0.5]}, cfg)["orthogonal"]
    assert flat["no plain stack decays"] and not flat["a plain stack vanished"]


def test_c23_tiny_run(monkeypatch):
    from seqlab.experiments.gradients import c23_residual_reach as c23

    r = _tiny(c23, monkeypatch)
    assert r.gates[0]["passed"] and len(r.tables[0].rows) == 3 * 2 * 2 * 2 * 2  # seeds x inits x acts x stacks x depths
    assert r.verdict == "inconclusive"  # 4 layers: the plain sigmoid stack has not yet lost 3 decades


# ---------------------------------------------------------------- C24 Xavier vs orthogonal W_hh

def test_c24_twins_differ_only_in_w_hh():
    from seqlab.experiments.gradients.c24_xavier_vs_orthogonal import TINY, spectrum, twins

    a, b = twins(TINY, 0), twins(TINY, 0)
    assert torch.equal(a["xavier"].weight_hh_l0, b["xavier"].weight_hh_l0)  # seeded
    x, o = a["xavier"], a["orthogonal"]
    assert torch.equal(x.weight_ih_l0, o.weight_ih_l0) and not torch.equal(x.weight_hh_l0, o.weight_hh_l0)
    assert float(x.bias_hh_l0.detach().abs().max()) == 0.0
    bound = math.sqrt(6 / (2 * TINY.hidden))  # Xavier-uniform, square H x H
    assert float(x.weight_hh_l0.detach().abs().max()) <= bound
    top, bottom, radius = spectrum(o.weight_hh_l0.detach())
    assert top == pytest.approx(1.0) and bottom == pytest.approx(1.0) and radius == pytest.approx(1.0)


def test_c24_reach_and_rule_by_hand():
    import numpy as np

    from seqlab.experiments.gradients.c24_xavier_vs_orthogonal import Config, reach_decades, rule

    assert reach_decades(np.array([1e-3, 0.1, 1.0])) == pytest.approx(-3.0)
    cfg = Config()
    assert rule([3.3, 5.5, 4.8], cfg) == (True, False)
    assert rule([3.3, 0.5, 4.8], cfg) == (False, False)  # one seed short of a decade
    assert rule([0.1, -2.0, 0.25], cfg) == (False, True)


def test_c24_model_twins_differ_only_in_w_hh():
    from seqlab.experiments.gradients.c24_xavier_vs_orthogonal import TINY, model_twins, spectrum
    from seqlab.experiments.core.probe_tasks import DecisiveToken

    pair = model_twins(TINY, DecisiveToken(TINY.train_length), 0)
    x, o = (dict(m.named_parameters()) for m in (pair["xavier"], pair["orthogonal"]))
    differ = [n for n in x if not torch.equal(x[n], o[n])]
    assert differ == ["backbone.weight_hh_l0"]  # embedding, W_ih, biases and head shared
    top, bottom, _ = spectrum(o["backbone.weight_hh_l0"].detach())
    assert top == pytest.approx(1.0, abs=1e-5) and bottom == pytest.approx(1.0, abs=1e-5)
    assert float(x["backbone.bias_hh_l0"].detach().abs().max()) == 0.0  # Xavier: zero biases


def test_c24_training_rule_by_hand():
    import math

    from seqlab.experiments.gradients.c24_xavier_vs_orthogonal import Config, training_rule

    cfg = Config()  # 200 updates, evaluated every 10: never competent counts as 210

    def judge(*pairs):  # (orthogonal, Xavier) competent-from updates per seed
        return training_rule({s: {"orthogonal": o, "xavier": x} for s, (o, x) in enumerate(pairs)}, cfg)

    r = judge((50, 100), (60, None), (90, 100), (40, 80), (70, 120))  # faster in every seed of five
    assert r["log2 ratio"][0] == -1.0 and r["log2 ratio"][1] == pytest.approx(math.log2(60 / 210))
    assert r["confirmed"] and not r["refuted"] and r["rule"].method.startswith("bootstrap")
    r = judge((50, 70), (110, 70), (90, 120), (80, 80), (60, 50))  # ratios 0.71, 1.57, 0.75, 1, 1.2: mixed
    assert not r["confirmed"] and not r["refuted"]  # undecided, and part 2 never refutes
    r = judge((150, 100), (110, 70), (90, 60), (None, 80), (100, 50))  # orthogonal slower in every seed
    assert not r["confirmed"] and not r["refuted"]


def test_c24_a_weak_training_part_makes_it_inconclusive_never_refuted():
    from seqlab.experiments.core.base import new_result
    from seqlab.experiments.core.rules import Gate
    from seqlab.experiments.gradients.c24_xavier_vs_orthogonal import Config, decide_parts, training_rule

    cfg = Config()
    ok = Gate("g", True, "")
    init = {"confirmed": True, "refuted": False, "gate": ok, "advantages": [3.3, 5.5, 4.8],
            "median": {"xavier": -5.0, "orthogonal": -0.3}}

    def verdict(init, *pairs):
        trained = {**training_rule({s: {"orthogonal": o, "xavier": x} for s, (o, x) in enumerate(pairs)}, cfg),
                   "gate": ok}
        return decide_parts(new_result("C24", "c", "s", "quick", {}), init, trained, cfg)

    faster = [(50, 100), (60, 110), (90, 150), (40, 80), (70, 120)]
    slower = [(150, 100), (110, 70), (90, 60), (100, 80), (100, 50)]
    assert verdict(init, *faster).verdict == "confirmed"
    r = verdict(init, *slower)
    assert r.verdict == "inconclusive" and r.tables[-1].rows[1][-1] == "undecided"
    assert len(r.margins) == 2 and r.margins[0]["distance"] == pytest.approx(2.3)
    no_reach = {**init, "confirmed": False, "refuted": True, "advantages": [0.1, -2.0, 0.2]}
    assert verdict(no_reach, *faster).verdict == "refuted"


def test_c24_tiny_run(monkeypatch):
    from seqlab.experiments.gradients import c24_xavier_vs_orthogonal as c24

    r = _tiny(c24, monkeypatch)
    assert len(r.tables[0].rows) == 3 * 2 * 2  # seeds x lengths x scales
    assert len(r.tables[2].rows) == 5 * 2  # five paired seeds x twins, trained
    assert [g["passed"] for g in r.gates][:1] == [True] and len(r.gates) == 2
