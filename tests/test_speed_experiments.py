"""The speed claims' experiments (C17, C20) on tiny overrides, and the minGRU / minLSTM archs.

C15 and C16 are in test_timing_claims.py."""

import math

import pytest
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import from_dict
from seqlab.data.tasks import AddingProblem, CopyMemory
from seqlab.errors import ConfigError
from seqlab.experiments import VERDICTS, load
from seqlab.experiments.core.base import Result
from seqlab.experiments.core.units import run_inline


def _run_tiny(module, monkeypatch, cfg) -> Result:
    monkeypatch.setitem(module.PROFILES, "quick", cfg)
    result = run_inline(module, "quick")
    assert result.verdict in VERDICTS and result.verdict != "error"
    assert result.claim_id == module.CLAIM_ID and result.headline and result.criterion and result.decided_by
    assert result.wall_time > 0 and result.tables and result.figures
    Result.from_dict(result.to_dict())  # JSON round trip of every field
    return result


def test_registry_lists_the_speed_claims():
    for claim_id, name in (("C16", "c16_parallelism"), ("C17", "c17_dilated_receptive_field"),
                           ("C20", "c20_parallel_scan")):
        assert load(claim_id).__name__.endswith(name)


@pytest.mark.parametrize("layers,kernel", [(1, 2), (3, 2), (4, 2), (2, 3)])
def test_c17_gradient_field_equals_the_formula(layers, kernel):
    c17 = load("C17")
    analytic = c17.analytic_field(layers, kernel)
    assert analytic == 1 + (kernel - 1) * (2**layers - 1)  # hand-worked: dilations 1, 2, .., 2^(L-1)
    assert c17.measured_field(layers, kernel) == (analytic, analytic)


def test_c17_layers_needed_is_log2_for_dilated_and_linear_otherwise():
    c17 = load("C17")
    assert [c17.layers_needed(n, 2, True) for n in (2, 16, 17, 1024)] == [1, 4, 5, 10]
    assert [c17.layers_needed(n, 2, False) for n in (2, 16, 1024)] == [1, 15, 1023]
    assert c17.analytic_field(3, 2, dilated=False) == 4


def test_c17_quick_path_on_a_tiny_override(monkeypatch):
    c17 = load("C17")
    r = _run_tiny(c17, monkeypatch, c17.TINY)  # depths 1, 2; d = 2; 3 steps
    fields = r.tables[0]
    assert [row[1] for row in fields.rows] == [2, 4] and [row[2] for row in fields.rows] == [2, 4]
    assert [row[4] for row in fields.rows] == [False, True]  # field 4 > d = 2 covers the dependency
    assert r.verdict == "inconclusive"  # 3 steps cannot learn the echo


def test_c20_quick_path_on_a_tiny_override(monkeypatch):
    c20 = load("C20")
    r = _run_tiny(c20, monkeypatch, c20.TINY)  # T 8, 16; (B, H) = (2, 8); 4 steps
    timing = r.tables[0]
    assert {row[0] for row in timing.rows} == {"minGRU scan", "minGRU step", "nn.GRU"}
    assert [row[4] for row in timing.rows if row[3] == 8] == [2, 2, 2]  # rounds below cap_length
    assert [row[4] for row in timing.rows if row[3] == 16] == [1, 1, 1]  # capped from cap_length = 16 on
    assert set(timing.timing) == {"median ms", "min-max ms", "x faster than its step mode", "x faster than nn.GRU"}
    quality = r.tables[1]
    assert [row[:2] for row in quality.rows] == [[s, a] for s in (0, 1, 2) for a in ("gru", "mingru")]
    assert all(len(row[4]) == c20.EVALS for row in quality.rows)  # held-out accuracy curve per run
    assert r.verdict == "inconclusive" and "GRU seed 0 competent" in r.decided_by  # 4 steps learn nothing
    assert len(r.figures) == 1 and {"headline", "decided_by"} <= set(r.timing)


def test_c20_rounds_are_capped_at_long_T():
    full = load("C20").PROFILES["full"]
    assert [load("C20").rounds_at(T, full) for T in full.lengths] == [10, 10, 3]  # T = 256, 1024, 4096


def _c20_inputs(cfg, step_factor=10.0, mingru=(0.97, 0.95, 0.96), gru=(0.98, 0.98, 0.98), gru_loss_drop=0.001,
                mingru_gain=0.01):
    """Made-up timings (scan 1 s, step mode ``step_factor`` s, nn.GRU 2 s per round) and quality."""
    times = {}
    for B, H in cfg.shapes:
        for T in cfg.lengths:
            times[(B, H, T)] = {"minGRU scan": [T * t for t in (1.0, 1.1, 0.9)],
                                "minGRU step": [T * step_factor * t for t in (1.0, 1.05, 0.95)],
                                "nn.GRU": [T * 2.0 * t for t in (1.0, 1.05, 0.95)]}
    q = {}
    for s, (g, m) in enumerate(zip(gru, mingru)):
        q[("gru", s)] = {"accuracy": g, "normalized": 0.01, "curve": [0.1, 0.5, g - 0.01, g],
                         "loss curve": [1.0, 0.1, 0.01 + gru_loss_drop, 0.01]}
        q[("mingru", s)] = {"accuracy": m, "normalized": 0.02, "curve": [0.1, 0.4, m - mingru_gain, m],
                            "loss curve": [1.0, 0.2, 0.05, 0.02]}
    return times, q


def test_c20_verdict_rule():
    c20 = load("C20")
    cfg = c20.Config(lengths=(8, 16), shapes=((1, 4), (2, 8)))
    seeds = (0, 1, 2)

    def verdict(**kw):
        times, q = _c20_inputs(cfg, **kw)
        return c20._verdict(c20.new_result("C20", "c", "s", "quick", {}), times, q, cfg, seeds).verdict

    assert verdict() == "confirmed"  # 10x its step mode; minGRU within 0.05 in every seed
    assert verdict(mingru=(0.97, 0.90, 0.96)) == "confirmed"  # outside the tolerance in one seed of three
    assert verdict(mingru=(0.97, 0.90, 0.80)) == "refuted"  # outside in two: quality lost
    assert verdict(mingru=(0.52, 0.50, 0.55)) == "refuted"  # the old ledger's 0.52 vs 0.98 now refutes
    assert verdict(gru=(0.98, 0.6, 0.98)) == "inconclusive"  # the GRU itself not competent: gate
    assert verdict(gru_loss_drop=0.05) == "inconclusive"  # the GRU still learning: gate
    # minGRU still gaining more than the tolerance: it might close the gap, so no refutation
    assert verdict(mingru=(0.97, 0.90, 0.80), mingru_gain=0.1) == "inconclusive"
    assert verdict(step_factor=1.5) == "inconclusive"  # scan faster, but not by 2x
    assert verdict(step_factor=0.3) == "refuted"  # the scan clearly slower than its step mode everywhere


@pytest.mark.parametrize("arch", ["mingru", "minlstm"])
def test_build_model_with_parallel_archs_trains_a_step(arch):
    task = CopyMemory(delay=3, num_symbols=2, alphabet=3)
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch=arch, hidden_size=8, num_layers=2, embed_dim=6), task)
    batch = task.sample(4, torch.Generator().manual_seed(0))
    logits, state = model(batch.x)  # (B, T, O), (L, B, H)
    assert logits.shape == (4, task.delay + 4, task.output_dim) and state.shape == (2, 4, 8)
    # the parallel scan and the step-by-step mode of the same parameters agree
    e = model.inp(batch.x)
    seq, _ = model.backbone.forward_sequential(e)
    par, _ = model.backbone(e)
    torch.testing.assert_close(par, seq, rtol=1e-4, atol=1e-5)
    loss = torch.nn.functional.cross_entropy(logits[batch.mask], batch.y[batch.mask])
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    opt.zero_grad()
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    opt.step()
    with torch.no_grad():
        after = torch.nn.functional.cross_entropy(model(batch.x)[0][batch.mask], batch.y[batch.mask])
    assert after < loss


def test_parallel_archs_reject_what_they_do_not_have():
    for bad in ({"bidirectional": True}, {"init": "orthogonal"}, {"init_scale": 2.0}):
        with pytest.raises(ConfigError):
            from_dict(ModelConfig, {"arch": "mingru", **bad})
    cfg = from_dict(ModelConfig, {"arch": "minlstm", "hidden_size": 4, "embed_dim": 2})
    with torch.no_grad():
        assert not math.isnan(float(build_model(cfg, AddingProblem(5))(torch.zeros(1, 5, 2))[0].sum()))
