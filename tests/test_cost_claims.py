"""The cost claims of issue 13: C10 (GRU vs LSTM work), C27 (truncated BPTT cost), C28 (bidirectional
cost), C29 (one attention layer vs a dilated stack), and their shared activation-memory meter.
Hand-computed FLOPs and bytes, monotone properties of the measurements on tiny models, and the
verdict rules on made-up timings. (C20 is in test_speed_experiments.py.)"""

import pytest
import torch

from seqlab.experiments.gates import c10_gru_vs_lstm as c10
from seqlab.experiments.gradients import c27_tbptt_cost as c27
from seqlab.experiments.limitations import c28_bidirectional_cost as c28
from seqlab.experiments.attention import c29_attention_vs_dilated as c29
from seqlab.experiments.core.base import new_result
from seqlab.experiments.core.saved_memory import saved_bytes

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)

STEADY = [1.0, 1.02, 0.98, 1.01, 0.99]  # seconds of five interleaved rounds


def _blank(claim_id):
    return new_result(claim_id, "claim", "setup", "quick", {})


def _times(factor, base=STEADY):
    return [factor * t for t in base]


# ---------------------------------------------------------------- the activation-memory meter

def test_saved_bytes_counts_what_backward_needs():
    x = torch.randn(3, 4, requires_grad=True)  # 48 bytes
    w = torch.nn.Parameter(torch.randn(4))
    total, _ = saved_bytes(lambda: (x * w).sum(), exclude=[w])  # mul saves x (for dw) and w (for dx)
    assert total == 48
    total, _ = saved_bytes(lambda: (x * w).sum())
    assert total == 48 + 16
    total, _ = saved_bytes(lambda: torch.tanh(x[:2]).sum())  # tanh saves its (2, 4) output
    assert total == 32
    view = x.view(12)
    total, _ = saved_bytes(lambda: (view * x.view(12)).sum())  # two views of one storage count once
    assert total == 48


# ---------------------------------------------------------------- C10 GRU vs LSTM work

def test_c10_flop_formula_by_hand_and_by_torch():
    # G = 4, B = 1, T = 2, E = 3, H = 2: forward 2 * 2 * 4 * 2 * 5 = 160, weight grads 160, dh 2 * 1 * 1 * 4 * 2 * 2 = 32
    assert c10.gemm_flops(4, 1, 2, 3, 2) == 352
    assert c10.gemm_flops(3, 1, 2, 3, 2) * 4 == 352 * 3
    for arch in c10.LAYERS:
        layer = c10.LAYERS[arch](5, 6, batch_first=True, backend="cell")
        x = torch.randn(2, 4, 5)  # (B, T, E)
        assert c10.counted_flops(c10.train_pass(layer, x)) == c10.gemm_flops(c10.GATES[arch], 2, 4, 5, 6)


def _c10_measured(gru_by_width, lstm=STEADY, flops=(3, 4)):
    """measure()'s dict for widths 128, 512, with the cell backend's GRU rounds given per width."""
    return {H: {"params": {"lstm": 400, "gru": 300}, "flops": {"gru": flops[0], "lstm": flops[1]},
                "counted": {"gru": flops[0], "lstm": flops[1]}, "cell": {"lstm": lstm, "gru": gru},
                "fused": {"lstm": lstm, "gru": _times(5.0)}} for H, gru in gru_by_width.items()}


def test_c10_rule():
    def verdict(m):
        return c10._verdict(_blank("C10"), m, c10.Config()).verdict

    assert verdict(_c10_measured({128: _times(0.95), 512: _times(0.75)})) == "confirmed"  # 1.33x at the largest
    assert verdict(_c10_measured({128: _times(1.05), 512: _times(0.75)})) == "confirmed"  # 5% behind decides nothing
    assert verdict(_c10_measured({128: _times(1.0), 512: _times(0.92)})) == "inconclusive"  # 1.09x: inside the margin
    assert verdict(_c10_measured({128: _times(1.0), 512: [0.7, 1.0, 1.05, 1.1, 1.2]})) == "inconclusive"  # one lucky round
    assert verdict(_c10_measured({128: _times(1.3), 512: _times(0.75)})) == "refuted"  # LSTM clearly 1.3x faster
    assert verdict(_c10_measured({128: _times(1.0), 512: _times(0.75)}, flops=(4, 4))) == "refuted"  # same work
    m = _c10_measured({128: _times(1.0), 512: _times(0.75)})
    m[512]["counted"]["gru"] += 1  # the formula disagrees with torch's count: nothing can be decided
    assert verdict(m) == "inconclusive"
    r = c10._verdict(_blank("C10"), _c10_measured({128: _times(1.0), 512: _times(0.75)}), c10.Config())
    assert set(r.timing) == {"headline", "decided_by"}  # both quote measured time ratios
    # torch's fused GRU kernel 5x slower than its LSTM kernel is reported, never judged (it is in every case above)


# ---------------------------------------------------------------- C27 truncated BPTT cost

def _c27_model_and_batch(T, hidden=4, batch=2):
    task = c27.DelayedEcho(2, T, 3)
    torch.manual_seed(0)
    model = c27.build_model(c27.ModelConfig(arch="lstm", hidden_size=hidden, embed_dim=3), task)
    return model, task.sample(batch, torch.Generator().manual_seed(0))


def test_c27_a_pass_makes_one_update_per_window():
    model, batch = _c27_model_and_batch(10)
    assert c27.tbptt_pass(model, batch, 4)() == 3  # windows [0, 4), [4, 8), [8, 10)
    assert c27.tbptt_pass(model, batch, 10)() == 1  # full BPTT
    assert all(p.grad is None for p in model.parameters())  # cleared: every call does the same work
    assert c27.variants(c27.Config(length=16, windows=(2, 16), short=4)) == [(16, 2), (16, 16), (4, 2), (4, 4)]


def test_c27_memory_per_update_follows_k2_not_T():
    model, batch = _c27_model_and_batch(64, hidden=32, batch=8)  # wide enough that a fixed workspace is small
    by_k = [c27.tbptt_memory(model, batch, k)[0] for k in (4, 8, 16, 32)]
    assert all(a < b for a, b in zip(by_k, by_k[1:]))
    assert 1.6 < by_k[-1] / by_k[-2] < 2.2  # doubling k2 about doubles the window's activations
    by_T = [c27.tbptt_memory(model, batch.time_slice(0, T), 4)[0] for T in (16, 32, 64)]
    assert by_T[0] == by_T[1] == by_T[2]


def _c27_costs(cfg, time_k=lambda k: 1.0 + k / 16, grow_T=1.0, mem=lambda k: 1000 * k):
    """Per-update seconds per round and memory per (T, k2) for ``cfg``, from cost models; ``grow_T``
    multiplies the truncated windows' time on the long sequence."""
    per_update, memory = {}, {}
    for T, k in c27.variants(cfg):
        per_update[(T, k)] = _times(time_k(k) * (grow_T if T == cfg.length and k < T else 1.0))
        memory[(T, k)] = mem(k)
    return per_update, memory


def test_c27_rule():
    cfg = c27.Config()  # T 256, k2 16 .. 256, short 4: K = 16

    def verdict(full_short=None, **kw):
        per_update, memory = _c27_costs(cfg, **kw)
        if full_short is not None:
            per_update[(64, 64)] = _times(full_short)
        return c27._verdict(_blank("C27"), per_update, memory, cfg).verdict

    assert verdict() == "confirmed"  # affine time 1 + k/16 (x8.5 for K = 16), memory exactly linear
    # per-update time barely grows with k2 (x1.02 for K = 16) while full BPTT does grow with T (the gate)
    assert verdict(time_k=lambda k: 10 + k / 1000, full_short=4.0) == "refuted"
    assert verdict(time_k=lambda k: 10 + k / 1000) == "inconclusive"  # nothing grows, not even full BPTT: gate
    assert verdict(grow_T=3.0) == "refuted"  # per-update time at fixed k2 grows with the sequence
    assert verdict(grow_T=1.5) == "inconclusive"  # neither flat (1.3) nor clearly growing (2)
    assert verdict(mem=lambda k: 1000 * k**0.6) == "inconclusive"  # memory ~ k2^0.6: neither linear nor flat
    assert verdict(mem=lambda k: 1000.0) == "inconclusive"  # full BPTT's memory does not grow either: gate


# ---------------------------------------------------------------- C28 bidirectional cost

def test_c28_bidirectional_saves_about_twice_the_activations():
    cfg = c28.Config(hidden=(6,), batch=2, length=12)
    task = c28.NextToken(cfg.length, cfg.alphabet)
    x = task.sample(2, torch.Generator().manual_seed(0)).x
    pair = c28.models(6, cfg, task)
    mem = {bi: c28.memory(m, x) for bi, m in pair.items()}
    assert mem[True]["state"] == 2 * mem[False]["state"] == 2 * 2 * (2 * 6 * 4)  # (h, c) of (D, B, H) float32
    assert 1.8 <= mem[True]["saved"] / mem[False]["saved"] <= 2.2
    longer = c28.memory(pair[False], task.sample(2, torch.Generator().manual_seed(0)).x.repeat(1, 2))
    assert longer["saved"] > 1.5 * mem[False]["saved"]  # activations grow with the sequence (beside a fixed
    # oneDNN workspace of the CPU kernel), the meter sees it


def _c28_measured(ratio, mem_ratio=2.0):
    return {64: {"params": {False: 100, True: 200}, "memory": {False: {"saved": 1000, "state": 8},
                                                              True: {"saved": 1000 * mem_ratio, "state": 16}},
                 "time": {False: STEADY, True: _times(ratio)}}}


def test_c28_rule():
    def verdict(*a):
        return c28._verdict(_blank("C28"), _c28_measured(*a), c28.Config()).verdict

    assert verdict(2.0) == "confirmed"
    assert verdict(1.45) == "inconclusive"  # between the refute bound 1.2 and the 1.5 bound
    assert c28._verdict(_blank("C28"), {64: {**_c28_measured(2.0)[64], "time": {  # one lucky bi round: no refute
        False: STEADY, True: [1.0] + _times(2.0)[1:]}}}, c28.Config()).verdict == "inconclusive"
    assert verdict(1.0) == "refuted"  # no extra time
    assert verdict(5.0) == "refuted"
    assert verdict(2.0, 1.2) == "refuted"  # the second direction saved almost nothing
    assert verdict(2.0, 1.6) == "inconclusive"  # memory between the bounds
    assert c28._verdict(_blank("C28"), _c28_measured(2.0), c28.Config(rounds=2)).verdict == "inconclusive"  # gate


# ---------------------------------------------------------------- C29 attention vs dilated convolutions

def test_c29_flop_formulas_by_hand_and_by_torch():
    # B 1, T 4, C 2, one layer: input map 2*4*2*2 = 32, filter 2*4*(2*2)*2*2 = 128, residual 2*4*2*2 = 32
    assert c29.conv_flops(1, 1, 4, 2, 2) == 32 + 128 + 32
    assert c29.attention_flops(1, 4, 2) == 8 * 4 * 4 + 4 * 16 * 2  # 128 + 128
    cfg = c29.Config(span=16, channels=4, batch=2)
    x = torch.randn(2, 16, 4)
    stack, layer, mask = c29.conv_stack(3, cfg, 4), c29.attention(cfg, 4), c29.causal_mask(16)
    assert c29.counted(lambda x: stack(x)[0], x) == c29.conv_flops(3, 2, 16, 4, 2)
    assert c29.counted(lambda x: layer(x, x, mask, need_weights=True)[0], x) == c29.attention_flops(2, 16, 4)


def test_c29_reach_by_gradient():
    cfg = c29.Config(span=16, max_layers=6, probe_channels=2)
    reach = c29.conv_reach(cfg)
    assert [L for L, g in reach.items() if g > 0] == [4, 5, 6]  # field 2^L >= 16 from L = 4
    assert c29.attention_reach(cfg) > 0


def test_c29_rule():
    cfg = c29.Config()  # span 512
    cost = {"formula": {"conv": 2, "attention": 1}, "counted": {"conv": 2, "attention": 1},
            "params": {"conv": 1, "attention": 1}, "seconds": {"conv": STEADY, "attention": STEADY}}

    def verdict(first, attn=1e-3):
        reach = {L: (1.0 if L >= first else 0.0) for L in range(1, 12)}
        return c29._verdict(_blank("C29"), reach, attn, cost, cfg).verdict

    assert verdict(9) == "confirmed"
    assert verdict(9, attn=0.0) == "refuted"
    assert verdict(5) == "refuted"
    assert verdict(99) == "refuted"  # no depth tried reaches
