"""C3 saturation, C6 orthogonal / identity init, C26 gradient symptoms, and their shared
helpers (``experiments.init_runs``): values by hand, the rules on hand-made numbers,
monotone properties of constructed inputs, and tiny runs."""

import math

import numpy as np
import pytest
import torch
from torch import nn
from seqlab.experiments.core.units import run_inline

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


def _tiny(module, monkeypatch):
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    return run_inline(module, "quick")


# ---------------------------------------------------------------- init_runs helpers

def test_weight_norm_by_hand():
    from seqlab.experiments.gradients.init_runs import weight_norm

    lin = nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 0.0]]))
        lin.bias.fill_(4.0)
    assert weight_norm(lin) == pytest.approx(5.0)
    with torch.no_grad():
        lin.bias.fill_(float("nan"))
    assert weight_norm(lin) == math.inf


def test_score_curve_first_and_kept():
    from seqlab.experiments.gradients.init_runs import ScoreCurve

    c = ScoreCurve(task=None, every=10)
    c.steps, c.accuracy = [0, 10, 20, 30, 40], [0.5, 0.95, 0.7, 0.92, 0.99]
    assert c.first_step(0.9) == 10 and c.kept_from(0.9) == 30  # the dip at 20 resets "kept"
    c.accuracy = [0.5, 0.95, 0.96, 0.97, 0.5]
    assert c.first_step(0.9) == 10 and c.kept_from(0.9) is None  # broke at the end
    assert c.first_step(0.999) is None


def test_monitor_log_refuses_clipped_runs():
    from seqlab.build import ModelConfig, build_model
    from seqlab.experiments.gradients.c26_gradient_symptoms import RecallFirst
    from seqlab.experiments.gradients.init_runs import MonitorLog, train_built

    task = RecallFirst(length=4, input_dim=2)
    model = build_model(ModelConfig(arch="rnn_tanh", hidden_size=4, embed_dim=2), task)
    with pytest.raises(ValueError, match="without clipping"):
        train_built(model, task, 1, lr=0.01, seed=0, clip_norm=1.0, callbacks=(MonitorLog(),))


# ---------------------------------------------------------------- C3 saturation

def test_c3_rank_correlation_with_ties():
    from seqlab.experiments.gradients.c03_saturation import rank_correlation

    assert rank_correlation([0.1, 0.2, 0.5, 0.9], [3.0, 1.0, -2.0, -9.0]) == pytest.approx(-1.0)
    # ties share their mean rank: ranks (1.5, 1.5, 3, 4) against (4, 3, 2, 1)
    ra, rb = np.array([1.5, 1.5, 3, 4]), np.array([4.0, 3, 2, 1])
    assert rank_correlation([0, 0, 1, 2], [3, 2, 1, 0]) == pytest.approx(float(np.corrcoef(ra, rb)[0, 1]))
    assert math.isnan(rank_correlation([1, 1, 1], [1, 2, 3]))  # no ordering to correlate


def test_c3_rule_on_hand_made_numbers():
    from seqlab.experiments.gradients.c03_saturation import Config, seed_rule

    cfg = Config()
    r = seed_rule([0.0, 0.2, 0.8], [-1.0, -5.0, -20.0], cfg)
    assert r["spread"] == pytest.approx(0.8) and r["lost"] == pytest.approx(19.0)
    assert r["confirms"] and not r["refutes"]
    flat = seed_rule([0.0, 0.2, 0.8], [-3.0, -3.0, -3.0], cfg)  # saturation costs nothing
    assert not flat["confirms"] and flat["refutes"]
    small = seed_rule([0.0, 0.2, 0.8], [-1.0, -1.2, -1.5], cfg)  # right direction, < 1 decade lost
    assert not small["confirms"] and not small["refutes"]


def test_c3_gain_drives_saturation_and_cuts_reach():
    from seqlab.experiments.gradients.c03_saturation import TINY, measure, network

    net = network(TINY, 0)
    x = torch.randn(4, 20, TINY.inputs, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    quiet, loud = measure(net, 0.01 * x, 0.95), measure(net, 50.0 * x, 0.95)
    assert quiet["saturated"] == 0.0 and quiet["derivative"] > 0.5  # the biases alone keep some units off 0
    assert loud["saturated"] > 0.5 and loud["derivative"] < 0.3
    assert loud["reach"] < quiet["reach"] - 3  # more saturation, less gradient back to h_1
    assert torch.allclose(net.weight_hh_l0.T @ net.weight_hh_l0, torch.eye(TINY.hidden, dtype=torch.float64))


def test_c3_tiny_run(monkeypatch):
    from seqlab.experiments.gradients import c03_saturation as c3

    r = _tiny(c3, monkeypatch)
    assert len(r.tables[1].rows) == 3 * len(c3.TINY.gains)  # seeds x gains
    assert r.gates[0]["passed"] and r.verdict in ("confirmed", "refuted", "inconclusive")


def test_c3_narrow_range_cannot_decide(monkeypatch):
    from seqlab.experiments.gradients import c03_saturation as c3

    narrow = c3.Config(length=12, hidden=8, inputs=3, batch=4, gains=(1.0, 1.05, 1.1))
    monkeypatch.setitem(c3.PROFILES, "quick", narrow)
    r = run_inline(c3, "quick")
    assert not r.gates[0]["passed"] and r.verdict == "inconclusive"


# ---------------------------------------------------------------- C6 orthogonal / identity init

def test_c6_advantage_and_rule_by_hand():
    from seqlab.experiments.gradients.c06_orthogonal_init import Config, advantage, seed_rule

    assert advantage(-5.0, -1.0) == pytest.approx(4.0)
    assert advantage(-5.0, 2.0) == pytest.approx(3.0)  # growing counts as distortion too
    cfg = Config()
    j = seed_rule(-13.4, -5.6, -7.2, 0.0, 4.0, cfg)  # measured: orthogonal, T = 50
    assert j["helped"] and j["growth"] == pytest.approx(1.6) and j["returned"] and j["holds"]
    assert seed_rule(-13.4, -0.5, 4.4, 0.0, 2.1, cfg)["holds"]  # the IRNN: it returns as growth going back
    assert not seed_rule(-13.4, -0.5, 4.4, 2.0, 2.0, cfg)["returned"]  # no drift: not the chapter's mechanism
    assert not seed_rule(-13.4, -2.1, -2.5, 0.0, 3.0, cfg)["returned"]  # 0.4 decades is not a return
    kept = seed_rule(-5.4, -2.1, 0.0, 0.0, 3.2, cfg)  # measured at T = 20: the reach improved in training
    assert kept["helped"] and kept["kept"] and not kept["holds"]
    assert not seed_rule(-1.0, -0.5, 3.0, 0.0, 1.0, cfg)["helped"]  # half a decade is no help at the start


def test_c6_reach_shrinks_with_the_recurrent_scale():
    from seqlab.build import ModelConfig, build_model
    from seqlab.experiments.gradients.init_runs import reach
    from seqlab.experiments.core.probe_tasks import DecisiveToken

    task = DecisiveToken(12)
    x = task.sample(8, torch.Generator().manual_seed(0)).x

    def at(scale):
        torch.manual_seed(0)
        return reach(build_model(ModelConfig(arch="rnn_tanh", hidden_size=8, init="orthogonal", init_scale=scale,
                                             embed_dim=4), task), x)

    assert at(0.1) < at(0.5) < at(1.0)
    assert at(0.1) < -8  # 11 steps of a 0.1-contraction: more than 11 decades


def test_c6_tiny_run(monkeypatch):
    from seqlab.experiments.gradients import c06_orthogonal_init as c6

    r = _tiny(c6, monkeypatch)
    assert len(r.tables[0].rows) == 3 * 3 and len(r.tables[1].rows) == 2 * 3  # inits x seeds
    assert len(r.gates) == 2 + 2 * 3  # competence per trained init, convergence per trained init and seed
    assert r.tables[0].rows[0][3] == "not trained"  # the default init is the yardstick at initialisation
    assert r.verdict in ("confirmed", "refuted", "inconclusive")


# ---------------------------------------------------------------- C26 gradient symptoms

def test_c26_task_by_hand():
    from seqlab.experiments.gradients.c26_gradient_symptoms import RecallFirst

    b = RecallFirst(length=5, input_dim=3).sample(4, torch.Generator().manual_seed(0))
    assert b.x.shape == (4, 5, 3) and float(b.x[:, 1:].abs().sum()) == 0.0
    assert torch.equal(b.y[:, -1, 0], b.x[:, 0, 0]) and b.mask[:, -1].all() and not b.mask[:, :-1].any()
    dense = RecallFirst(length=5, input_dim=3, dense=True).sample(4, torch.Generator().manual_seed(0))
    assert float(dense.x[:, 1:].abs().min()) > 0


def test_c26_monitor_flags_the_first_update():
    """Scale 0.5 over 30 steps starves W_ih (fed by x_1 only); scale 3 blows the gradient up."""
    from seqlab.experiments.gradients.c26_gradient_symptoms import Config, RecallFirst, network
    from seqlab.experiments.gradients.init_runs import MonitorLog, train_built

    cfg, task = Config(), RecallFirst(30, 8)
    logs = {}
    for scale in (0.5, 1.0, 3.0):
        logs[scale] = MonitorLog()
        train_built(network(cfg, task, scale, 0), task, 1, lr=0.01, seed=0, optimizer="sgd",
                    callbacks=(logs[scale],))
    assert logs[0.5].vanishing[0] == ["backbone.weight_ih_l0"] and not logs[0.5].exploding[0]
    assert logs[3.0].exploding[0] and logs[3.0].largest[0] > 1e3
    assert not logs[1.0].vanishing[0] and not logs[1.0].exploding[0]


def test_c26_checks_on_hand_made_runs():
    from seqlab.experiments.gradients.c26_gradient_symptoms import Config, checks

    cfg = Config()
    healthy = {"vanishing": [], "exploding": [], "loss0": 1.0, "loss_end": 0.2, "diverged": None, "w0": 10.0,
               "w_max": 12.0}
    assert all(checks(healthy, "healthy", cfg).values())
    assert not checks({**healthy, "exploding": [7]}, "healthy", cfg)["never flagged"]
    vanishing = {"vanishing": [1, 2, 3], "exploding": [], "loss0": 1.0, "loss_end": 0.95, "diverged": None,
                 "reach": -9.0}
    assert all(checks(vanishing, "vanishing", cfg).values())
    assert not checks({**vanishing, "vanishing": [5]}, "vanishing", cfg)["flagged vanishing from update 1"]
    assert not checks({**vanishing, "loss_end": 0.5}, "vanishing", cfg)["loss stuck"]
    exploding = {"exploding": [1], "diverged": 40, "w0": 10.0, "w_max": 1e9}
    assert all(checks(exploding, "exploding", cfg).values())
    assert not checks({**exploding, "w_max": 50.0}, "exploding", cfg)["weights enormous"]


def test_c26_rule_judges_the_monitor_where_nothing_is_arranged():
    from seqlab.experiments.gradients.c26_gradient_symptoms import RUNS, rule

    seeds = (0, 1, 2)
    every = {(n, s): {"a symptom": True, "never flagged": True, "flagged vanishing from update 1": True,
                      "flagged exploding": True} for n in RUNS for s in seeds}
    caught = [{"reach": -9.0, "flagged": True}] * 3
    missed = [{"reach": -9.0, "flagged": False}] * 3
    assert rule(every, caught, seeds, -7.0) == (True, False)
    assert rule(every, missed, seeds, -7.0) == (False, True)  # silent on a gradient 9 decades gone
    not_gone = [{"reach": -3.0, "flagged": False}] * 3
    assert rule(every, not_gone, seeds, -7.0) == (False, False)  # nothing vanished there: no miss to count
    symptom_off = {**every, ("healthy", 0): {**every["healthy", 0], "a symptom": False}}
    assert rule(symptom_off, caught, seeds, -7.0) == (False, False)
    flagged_healthy = {**every, **{("healthy", s): {**every["healthy", s], "never flagged": False} for s in seeds}}
    assert rule(flagged_healthy, caught, seeds, -7.0) == (False, True)


def test_c26_tiny_run(monkeypatch):
    from seqlab.experiments.gradients import c26_gradient_symptoms as c26

    r = _tiny(c26, monkeypatch)
    assert len(r.tables[0].rows) == 3 * 3 and len(r.tables[1].rows) == 3 * 3  # seeds x runs
    assert r.verdict in ("confirmed", "refuted", "inconclusive")
