"""The timing claims C15 (local attention's cost) and C16 (parallelism): tiny runs and their rules.

The runs use each claim's ``TINY`` config, too small to decide (their gates say so), and
check what is counted, not what is timed. The verdict rules are checked on hand-made
times and rates, so no test depends on how fast this machine is.
"""

import statistics

import pytest
import torch

from seqlab.bench import models
from seqlab.bench.measure import fit_exponent
from seqlab.experiments import load
from seqlab.experiments.core.base import Result, comparable, new_result
from seqlab.experiments.core.units import run_inline

C15, C16 = load("C15"), load("C16")


def _tiny(module, monkeypatch) -> Result:
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    r = run_inline(module, "quick")
    assert r.verdict == "inconclusive" and r.decided_by.startswith("gate failed")  # too small to decide
    assert r.claim_id == module.CLAIM_ID and r.headline and r.criterion and r.figures and r.seeds == [0]
    assert {"decided_by", "headline"} <= set(r.timing)
    assert all(t.timing for t in r.tables)  # every table marks its measured columns
    back = Result.from_dict(r.to_dict())  # JSON round trip
    assert comparable(back.to_dict()) == comparable(r.to_dict())
    return r


def _blank(claim_id):
    return new_result(claim_id, "c", "s", "quick", {})


# --- C15: local attention ------------------------------------------------------------------------

def test_c15_tiny_run_counts_positions_and_marks_times(monkeypatch):
    r = _tiny(C15, monkeypatch)
    cfg = C15.TINY
    for part, table in zip(C15.PARTS, r.tables[:2]):
        assert part in table.title
        assert [row[:3] for row in table.rows] == [[S, S, 2 * cfg.half_width + 1] for S in cfg.lengths]
        assert set(table.timing) == set(table.columns) - {"S", "positions scored: global", "positions scored: local"}
    scaling = {row[0]: row for row in r.tables[2].rows}
    assert scaling["global"][1] == pytest.approx(1.0) and scaling["local-p"][1] == pytest.approx(0.0)
    assert "gather" in r.notes[0]


@pytest.mark.parametrize("mode", C15.MODES)
def test_c15_timed_call_reaches_queries_and_memory(mode):
    cfg = C15.Config(batch=2, hidden=4, half_width=1, target_steps=3, lengths=(16,))
    nets = C15.models(cfg)
    model, (outputs, keys) = nets[mode], C15.source(16, cfg, nets["global"].score, torch.device("cpu"))
    grads = C15.attention_call(model, outputs, keys, cfg, True)()
    queries, memory = grads[:3], grads[-2:]  # outputs, keys
    assert all(g.shape == (2, 4) and g.abs().sum() > 0 for g in queries)
    assert all(g.shape == (2, 16, 4) for g in memory)
    touched = memory[0].abs().sum((0, 2)) > 0  # source positions that received a gradient
    if mode == "local-m":  # p_t = t for t = 0, 1, 2, window +-1: positions 0..3 only
        assert touched.tolist() == [True] * 4 + [False] * 12
    if mode == "global":
        assert touched.all()
    no_memory = C15.attention_call(model, outputs, keys, cfg, False)()
    assert len(no_memory) == len(grads) - 2


def _c15_times(exponent: dict, ratio_training: float = 3.0, lengths=(32, 64, 128, 256, 512, 1024, 2048)):
    """Seconds per target step ~ S^p per mode (three identical rounds); global 1 ms at S = 32."""
    times = {}
    for part in C15.PARTS:
        for S in lengths:
            g = 1e-3 * (S / 32) ** exponent["global"]
            times[part, "global", S] = [g] * 3
            for m in C15.LOCAL:
                local = 1e-3 * (S / 32) ** exponent[m]
                if part == C15.TRAINING:
                    local = max(local, g / ratio_training)
                times[part, m, S] = [local] * 3
    return times


def _c15_verdict(times, cfg=None):
    cfg = cfg or C15.Config()
    exps = {(p, m): fit_exponent(list(cfg.lengths), [statistics.median(times[p, m, S]) for S in cfg.lengths])
            for p in C15.PARTS for m in C15.MODES}
    return C15._verdict(_blank("C15"), times, exps, cfg)


def test_c15_rule_confirms_refutes_and_abstains():
    flat = {"global": 1.0, "local-m": 0.0, "local-p": 0.05}
    assert _c15_verdict(_c15_times(flat)).verdict == "confirmed"
    # local grows like global
    assert _c15_verdict(_c15_times({**flat, "local-p": 0.8})).verdict == "refuted"
    # local flat but slower than global at the longest S (global barely grows)
    slow = _c15_times({"global": 0.05, "local-m": 0.0, "local-p": 0.0})
    for m in C15.LOCAL:
        for p in C15.PARTS:
            slow[p, m, 2048] = [2 * x for x in slow[p, "global", 2048]]
    assert _c15_verdict(slow).verdict == "refuted"
    # between the thresholds: local grows, but slower than global
    assert _c15_verdict(_c15_times({**flat, "local-m": 0.4})).verdict == "inconclusive"
    # clearly faster for the attention, only 1.2x with the memory gradient: not enough to confirm
    assert _c15_verdict(_c15_times(flat, ratio_training=1.2)).verdict == "inconclusive"


def test_c15_rule_needs_overlap_free_rounds_and_its_gates():
    times = _c15_times({"global": 1.0, "local-m": 0.0, "local-p": 0.0})
    g = times[C15.ATTENTION, "global", 2048][0]
    times[C15.ATTENTION, "local-m", 2048] = [g / 10] * 3 + [1.1 * g] * 2  # fast median, rounds not apart
    r = _c15_verdict(times)
    assert r.verdict == "inconclusive"
    short = C15.Config(lengths=(32, 64, 128, 256))  # 256 / 21 < 16 windows
    r = _c15_verdict(_c15_times({"global": 1.0, "local-m": 0.0, "local-p": 0.0}, lengths=short.lengths), short)
    assert r.verdict == "inconclusive" and "windows in the longest source" in r.decided_by


def test_c15_crossover_is_where_local_stays_faster():
    lengths = (32, 64, 128, 256)
    times = {(C15.ATTENTION, "global", S): [t] for S, t in zip(lengths, (1.0, 2.0, 4.0, 8.0))}
    times |= {(C15.ATTENTION, "local-m", S): [t] for S, t in zip(lengths, (0.5, 3.0, 3.0, 3.0))}
    assert C15.crossover(times, C15.ATTENTION, "local-m", lengths) == 128  # faster at 32, not at 64
    times[C15.ATTENTION, "local-m", 256] = [9.0]
    assert C15.crossover(times, C15.ATTENTION, "local-m", lengths) is None


# --- C16: parallelism ----------------------------------------------------------------------------

def test_c16_tiny_run_counts_depth_and_flops(monkeypatch):
    r = _tiny(C16, monkeypatch)
    table = r.tables[0]
    rows = {(row[0], row[2]): dict(zip(table.columns, row)) for row in table.rows}
    Ts = C16.TINY.work_lengths
    assert {m for m, _ in rows} == {"lstm seq2seq", "transformer"}
    # LSTM seq2seq, 2 + 2 layers: (T + 1) per side; Transformer 3 + 3 layers
    assert [rows["lstm seq2seq", T]["sequential depth"] for T in Ts] == [2 * (T + 1) for T in Ts]
    assert [rows["transformer", T]["sequential depth"] for T in Ts] == [6] * len(Ts)
    assert [rows["lstm seq2seq", T]["B"] for T in Ts] == [C16.TINY.tokens // T for T in Ts]
    assert all(row["GFLOP per step"] > 0 for row in rows.values())
    assert [row[0] for row in r.tables[2].rows] == ["all T", *(f"without T={T}" for T in Ts)]
    assert "notes" in r.timing  # the notes quote the measured GEMM peak


def test_c16_accelerator_branch_runs(monkeypatch):
    """The fixed-batch measurement of an accelerator, run on the CPU at the tiny size."""
    monkeypatch.setattr(C16, "is_accelerator", lambda device: True)
    monkeypatch.setitem(C16.PROFILES, "quick", C16.TINY)
    r = run_inline(C16, "quick")
    assert r.verdict == "inconclusive" and "lengths in the fixed-batch grid" in r.decided_by
    assert "gates" in r.timing  # its idle-width gate is measured
    titles = [t.title for t in r.tables]
    assert "training step by architecture (fixed batch)" in titles and len(r.figures) == 2
    fixed_batch = r.tables[titles.index("training step by architecture (fixed batch)")]
    depth = {(row[0], row[2]): row[3] for row in fixed_batch.rows}
    assert depth["convs2s", 8] == 8 and depth["transformer", 8] == 6 and depth["lstm seq2seq", 8] == 18


def test_c16_counts_attention_flops_on_a_cpu():
    """At fixed B x T the Transformer's attention work grows with T; the count must see it."""
    torch.manual_seed(0)
    build = models.builders(16, 32)["transformer"]
    model = build(16)
    weights = list(model.parameters())
    flops = {}
    for T in (4, 32):
        step = models.teacher_forced_step(model, weights, torch.randint(1, 16, (64 // T, T + 1)), torch.device("cpu"))
        flops[T] = C16.step_flops(model, step, 64)
    # per attention call: 2 (fwd) + 5 (bwd, with the recomputed scores) matmuls of 2 B T^2 d FLOPs
    # (torch's formulas); 9 attention calls (3 encoder self, 3 decoder self, 3 cross), B T = 64, d = 16
    extra = 9 * 7 * 2 * 64 * (32 - 4) * 16
    assert flops[32] - flops[4] == pytest.approx(extra, rel=1e-6)


def _c16_rates(lstm_slope, transformer_slope, lengths=(16, 64, 256, 1024)):
    return {(name, T): 1e9 * (T / lengths[0]) ** slope for name, slope in
            ((C16.RNN, lstm_slope), (C16.TRANSFORMER, transformer_slope)) for T in lengths}


def _c16_depth(lengths=(16, 64, 256, 1024)):
    return {(name, T): (2 * (T + 1) if name == C16.RNN else 6) for name in C16.FIXED for T in lengths}


def test_c16_fixed_work_rule():
    cfg = C16.Config()

    def verdict(rates, depth=None):
        return C16._verdict(_blank("C16"), rates, depth or _c16_depth(), cfg).verdict

    assert verdict(_c16_rates(-0.7, 0.0)) == "confirmed"  # the LSTM's FLOP/s falls, the Transformer's holds
    assert verdict(_c16_rates(-0.1, -0.1)) == "refuted"  # both fall alike
    assert verdict(_c16_rates(-0.15, 0.0)) == "refuted"  # a small gap is no "far better"
    assert verdict(_c16_rates(0.0, -0.3)) == "refuted"  # the Transformer loses more
    assert verdict(_c16_rates(-0.35, 0.0)) == "inconclusive"  # between the thresholds
    flat_depth = {key: 6 for key in _c16_depth()}
    assert verdict(_c16_rates(-0.7, 0.0), flat_depth) == "inconclusive"  # no sequential depth to blame


def test_c16_one_outlier_point_does_not_decide():
    cfg = C16.Config()
    rates = _c16_rates(0.0, 0.0)
    rates[C16.RNN, 1024] /= 30  # one slow LSTM point: the fit over all T alone would confirm
    full, loo = C16.slope_fits(cfg.work_lengths, rates)
    assert full[C16.TRANSFORMER] - full[C16.RNN] >= cfg.confirm_gap
    assert loo[-1][C16.TRANSFORMER] - loo[-1][C16.RNN] == pytest.approx(0.0, abs=1e-12)  # without T=1024
    r = C16._verdict(_blank("C16"), rates, _c16_depth(), cfg)
    assert r.verdict == "inconclusive"
    assert "leaving one T out" in r.decided_by
    rates = _c16_rates(-0.5, 0.0)
    rates[C16.TRANSFORMER, 16] *= 30  # one fast Transformer point hides the effect from the full fit
    assert C16._verdict(_blank("C16"), rates, _c16_depth(), cfg).verdict == "inconclusive"


def test_c16_gates_need_a_long_enough_grid():
    cfg = C16.Config(work_lengths=(16, 64, 256))
    r = C16._verdict(_blank("C16"), _c16_rates(-0.5, 0.0, cfg.work_lengths), _c16_depth(cfg.work_lengths), cfg)
    assert r.verdict == "inconclusive" and "lengths in the fixed-work fit" in r.decided_by


def test_c16_accelerator_rule_needs_idle_width():
    cfg = C16.Config(lengths=(4, 8, 16, 32))
    rows = {(m, T): {"mfu": mfu, "ktok_s": tok} for T in cfg.lengths
            for m, mfu, tok in ((C16.RNN, 0.05, 10.0), (C16.TRANSFORMER, 0.3, 40.0))}
    depth = {(m, T): (2 * (T + 1) if m == C16.RNN else 6) for m in C16.FIXED for T in cfg.lengths}
    rates, wdepth = _c16_rates(0.0, 0.0), _c16_depth()

    def verdict(step_fill, rows=rows):
        gpu = {"rows": rows, "exps": {C16.RNN: 1.0, C16.TRANSFORMER: 0.1}, "depth": depth, "step_fill": step_fill}
        return C16._verdict(_blank("C16"), rates, wdepth, cfg, gpu).verdict

    assert verdict(0.1) == "confirmed"  # the fixed-batch rule decides, whatever the fixed-work slopes say
    assert verdict(0.8) == "inconclusive"  # one recurrent step already fills the accelerator
    assert verdict(0.1, {**rows, (C16.RNN, 32): {"mfu": 0.5, "ktok_s": 10.0}}) == "refuted"


def test_c16_sequential_depth_counts_recurrent_steps():
    torch.manual_seed(0)
    lstm = models.builders(8, 8)["lstm seq2seq"](8)
    assert C16.sequential_depth(lstm, 10) == 2 * (10 + 2 - 1)
    assert C16.sequential_depth(models.builders(8, 8)["transformer"](8), 10) == 6
