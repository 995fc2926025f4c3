"""C31-C36: each rule on hand-made numbers (confirm, refute, inconclusive paths), and a tiny run end to end."""

import pytest

from seqlab.experiments import REGISTRY
from seqlab.experiments.core.units import run_inline
from seqlab.experiments.bottleneck import c32_cliff_position as c32
from seqlab.experiments.gates import c31_gru_comparable as c31
from seqlab.experiments.transformer import c34_hardware as c34

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


def _tiny(module, monkeypatch):
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    return run_inline(module, "quick")


# ---------------------------------------------------------------- C31 GRU vs LSTM

def test_c31_rule_paths():
    cfg = c31.Config(tol=0.1, route_ratio=1.25)
    close = {"lstm": [2.50, 2.60, 2.55], "gru": [2.52, 2.58, 2.57]}
    lstm_route = {"lstm": [200, 300, 250], "gru": [400, 601, 260]}  # GRU needs >= 1.25x in seeds 0 and 1
    r = c31.rule(close, lstm_route, cfg)
    assert r["comparable"] and r["guidance"] and r["confirmed"] and not r["refuted"]
    assert r["margin"] == pytest.approx(0.1 - 0.02, abs=1e-9) and r["margin_fraction"] > 0
    apart = {"lstm": [2.5, 2.6, 2.55], "gru": [2.8, 2.9, 2.85]}  # GRU 0.3 bpc worse in every seed
    assert c31.rule(apart, lstm_route, cfg)["refuted"]
    gru_route = {"lstm": [400, 601, 500], "gru": [200, 300, 250]}
    r = c31.rule(close, gru_route, cfg)
    assert r["refuted"] and not r["confirmed"]
    even_route = {"lstm": [200, 300, 250], "gru": [210, 290, 260]}  # comparable, but no LSTM advantage: undecided
    r = c31.rule(close, even_route, cfg)
    assert not r["confirmed"] and not r["refuted"]


def test_c31_matches_parameters():
    from seqlab.bench.models import count_params
    from seqlab.build import build_model
    from seqlab.data.tasks import CopyMemory

    task = CopyMemory(20, 1, 8)
    specs = c31.matched(task, 32, 16)
    n = {a: count_params(build_model(s, task)) for a, s in specs.items()}
    assert specs["gru"].hidden_size > 32 and abs(n["gru"] - n["lstm"]) / n["lstm"] < 0.03


def test_c31_tiny_run(monkeypatch):
    r = _tiny(c31, monkeypatch)
    assert "C31" in REGISTRY and r.verdict in ("confirmed", "refuted", "inconclusive")
    assert r.seeds == [0, 1, 2] and len(r.tables[0].rows) == 3 and r.tables[-1].columns[3] == "margin"
    assert "\"Often comparable performance\"" in r.claim


# ---------------------------------------------------------------- C32 the cliff by capacity

def test_c32_cliff_and_rule():
    assert c32.cliff([0.9, 0.85, 0.6, 0.3], [4, 12, 20, 28], 0.75, 29) == 20  # 0.6 < 0.675
    assert c32.cliff([0.9, 0.9, 0.9], [4, 12, 20], 0.75, 21) == 21  # no cliff in range
    r = c32.rule([[12, 20, 28], [12, 20, 20], [20, 28, 29]])
    assert r["confirmed"] and r["margin"] == 8
    assert c32.rule([[20, 20, 20]] * 3)["refuted"]
    mixed = c32.rule([[12, 20, 28], [20, 20, 20], [28, 20, 12]])
    assert not mixed["confirmed"] and not mixed["refuted"]


def test_c32_bands_and_tiny_run(monkeypatch):
    assert c32.bands(c32.Config()) == [(4, 7), (10, 13), (16, 19)]
    assert c32.bands(c32.Config(max_len=35, step=8)) == [(4, 7), (12, 15), (20, 23), (28, 31)]
    r = _tiny(c32, monkeypatch)
    assert r.verdict in ("confirmed", "refuted", "inconclusive") and r.seeds == [0, 1, 2]
    assert len(r.tables[0].rows) == 9 and r.tables[0].timing == ["training s"]
    assert any("20-30" in n for n in r.notes)


# ---------------------------------------------------------------- C34 hardware, per device

def test_c34_power_law_gate_sees_a_cache_step():
    lengths = (64, 128, 256, 512)
    assert c34.fit_residual(lengths, [1.0, 2.0, 4.0, 8.0]) == pytest.approx(1.0)  # exactly linear
    assert c34.fit_residual(lengths, [1.0, 4.0, 16.0, 64.0]) == pytest.approx(1.0)  # a clean power law
    step = c34.fit_residual(lengths, [13.1, 19.6, 230.8, 281.8])  # measured: a 10x step between 128 and 256
    assert step > 1.5 * c34.MAX_FIT_FACTOR
    assert c34.fit_residual(lengths, [1.0, 2.1, 3.9, 8.2]) < c34.MAX_FIT_FACTOR  # noise is not a step


def test_c34_rule_on_a_cpu_judges_only_linear_time():
    cpu = {"accelerator": False, "rnn_exponents": [1.02, 0.95, 1.1, 1.0, 0.98]}
    r = c34.rule(cpu)
    assert r["confirmed"] and r["util_part"] == "not measured on this device"
    assert r["margin"] == pytest.approx(0.25 - 0.1)
    assert c34.rule({**cpu, "rnn_exponents": [0.4, 0.3, 0.45, 0.42, 0.41]})["refuted"]  # far from linear
    mid = c34.rule({**cpu, "rnn_exponents": [0.7, 0.72, 0.68, 0.7, 0.71]})
    assert not mid["confirmed"] and not mid["refuted"]


def test_c34_rule_on_an_accelerator_also_judges_utilization():
    gpu = {"accelerator": True, "rnn_exponents": [1.0] * 5, "util": (0.1, 0.5), "tokens": (8e3, 5e4)}
    r = c34.rule(gpu)
    assert r["confirmed"] and r["util_part"] == "holds" and r["util_ratio"] == pytest.approx(5.0)
    assert c34.rule({**gpu, "util": (0.5, 0.2)})["refuted"]
    assert not c34.rule({**gpu, "util": (0.3, 0.45)})["confirmed"]  # 1.5x: between the two


def test_c34_tiny_run_says_which_device_decided(monkeypatch):
    r = _tiny(c34, monkeypatch)
    assert c34.TIMED and r.verdict in ("confirmed", "refuted", "inconclusive")
    assert "not measured on this device" in r.notes[-1] and "cpu" in r.headline
    assert r.tables[0].timing and "fastest ms" in r.tables[0].columns


# ---------------------------------------------------------------- C33 quality by sentence length

def test_c33_rule_paths():
    from seqlab.experiments.bottleneck import c33_bleu_by_length as c33

    cfg = c33.Config()
    table = [38.0, 30.0, 22.0, 18.0, 12.0]  # the chapter's shape: ratio 0.32
    flat = [60.0, 59.0, 58.0, 57.0, 56.0]  # ratio 0.93
    r = c33.rule([table] * 3, [flat] * 3, cfg)
    assert r["confirmed"] and not r["refuted"] and r["margin"] == pytest.approx(0.6 - 12 / 38)
    assert c33.rule([flat] * 3, [flat] * 3, cfg)["refuted"]  # no fall at all
    assert c33.rule([table] * 3, [table] * 3, cfg)["refuted"]  # attention no flatter
    bumpy = [38.0, 30.0, 35.0, 18.0, 12.0]  # rises by 5 > 2 between bands in one seed
    r = c33.rule([table, bumpy, table], [flat] * 3, cfg)
    assert not r["confirmed"] and not r["refuted"]


def test_c33_tiny_run(monkeypatch):
    from seqlab.experiments.bottleneck import c33_bleu_by_length as c33

    r = _tiny(c33, monkeypatch)
    assert r.verdict == "inconclusive" and r.decided_by.startswith("gate failed")  # 4 updates: not competent
    assert r.seeds == [0, 1, 2] and len(r.tables[0].rows) == 6 and r.tables[0].timing == ["training s"]


# ---------------------------------------------------------------- C35 quality against length

def test_c35_task_reaches_the_length_and_the_rule():
    from seqlab.experiments.transformer import c35_length_scaling as c35

    cfg = c35.Config()
    t = c35.task(cfg, 256)
    assert t.length == 256 and t.distances == (32, 128, 252)
    assert c35.rule([0.95, 0.97, 0.92], [0.3, 0.26, 0.4], cfg)["confirmed"]
    r = c35.rule([0.95, 0.97, 0.92], [0.3, 0.26, 0.4], cfg)
    assert r["margin"] == pytest.approx(0.02) and not r["refuted"]
    assert c35.rule([0.95, 0.97, 0.92], [0.91, 0.95, 0.99], cfg)["refuted"]  # an RNN handles it too
    assert c35.rule([0.25, 0.3, 0.26], [0.9, 0.85, 0.8], cfg)["refuted"]  # the RNN beats it by >= 0.4
    mixed = c35.rule([0.95, 0.6, 0.92], [0.3, 0.26, 0.4], cfg)
    assert not mixed["confirmed"] and not mixed["refuted"]


def test_c35_tiny_run_measures_memory_and_time(monkeypatch):
    from seqlab.experiments.transformer import c35_length_scaling as c35

    r = _tiny(c35, monkeypatch)
    assert r.verdict in ("confirmed", "refuted", "inconclusive") and r.seeds == [0, 1, 2]
    rows = r.tables[0].rows
    assert len(rows) == 3 * 2 * 3 and all(row[5] > 0 for row in rows) and r.tables[0].timing == ["ms per step"]


# ---------------------------------------------------------------- C36 Transformer vs attention RNNs

def test_c36_equal_flops_and_rule():
    from seqlab.experiments.transformer import c36_transformer_vs_rnn_mt as c36

    cfg = c36.Config()
    steps = c36.equal_flop_steps(cfg)
    data = dict(cfg.data)
    spent = {a: steps[a] * c36.per_update(c36.specs(cfg)[a], data, cfg.max_tokens) for a in c36.ARCHS}
    assert steps["transformer"] == cfg.steps
    assert all(abs(v / spent["transformer"] - 1) < 0.01 for v in spent.values())  # equal FLOPs within rounding
    assert c36.rule([60, 62, 61], [55, 57, 58], 2.0)["confirmed"]
    assert c36.rule([50, 52, 51], [55, 57, 58], 2.0)["refuted"]
    r = c36.rule([60, 56, 61], [55, 57, 58], 2.0)
    assert not r["confirmed"] and not r["refuted"] and r["margin"] == pytest.approx(-3.0)


def test_c36_tiny_run(monkeypatch):
    from seqlab.experiments.transformer import c36_transformer_vs_rnn_mt as c36

    r = _tiny(c36, monkeypatch)
    assert r.verdict == "inconclusive" and r.decided_by.startswith("gate failed")
    assert len(r.tables[0].rows) == 9 and r.tables[0].timing == ["training s"]


# ---------------------------------------------------------------- margins recorded by the verdicts

def test_margins_decide_within_noise_only_on_measured_spread():
    """A count of seeds or an integer shift sits half a unit from its boundary (a clean refutation stays
    refuted); a worst-seed difference closer to its threshold than the seeds' noise turns inconclusive."""
    from seqlab.experiments.core.base import new_result
    from seqlab.experiments.transformer import c36_transformer_vs_rnn_mt as c36

    cfg = c32.Config()
    seeds = [0, 1, 2]
    cliffs = {(h, s): 20 for h in cfg.hidden for s in seeds}  # the same cliff at every size
    result = new_result("C32", c32.CLAIM, "hand-made", "quick", {}, seeds=seeds)
    r = c32._verdict(result, c32.rule([[20] * len(cfg.hidden)] * 3), cfg, cliffs, seeds, [])
    assert r.verdict == "refuted" and [m["threshold"] for m in r.margins] == [0.5, 2.5]
    assert not any(m["within_noise"] for m in r.margins)
    diffs = c36.rule([57.5, 70.0, 70.0], [55.0, 55.0, 55.0], 2.0)  # confirmed, worst seed 0.5 above 2.0
    result = new_result("C36", c36.CLAIM, "hand-made", "quick", {}, seeds=seeds)
    r = c36._verdict(result, diffs, c36.Config(), [])
    (m,) = r.margins
    assert m["value"] == pytest.approx(2.5) and m["threshold"] == 2.0 and m["noise"] > m["distance"]
    assert r.verdict == "inconclusive" and r.decided_by.startswith("margin within noise (was confirmed)")
