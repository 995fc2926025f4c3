"""The fused teacher-forced path (weights collected once per sequence) against the plain one.

The custom Functions are gradchecked in float64; every decoder variant's fused forward and
every parameter gradient must equal the step-by-step reference to 1e-6 (float64, padded
sources, dropout 0); short Adam runs give the same losses; decoding is untouched.
"""

import gc

import pytest
import torch
from mt_fixtures import padded_batch
from torch.utils._python_dispatch import TorchDispatchMode

from seqlab.decode import beam_search, greedy
from seqlab.nn import loop_ops
from seqlab.nn.bahdanau import Bahdanau
from seqlab.nn.fused_decoder import DecoderStack, run_layers
from seqlab.nn.loop_ops import LoopLinear, LoopRead
from seqlab.nn.luong import Luong
from seqlab.nn.recurrent import GRU, LSTM
from seqlab.nn.seq2seq import Seq2Seq, sequence_loss

V = 13

MODELS = {
    "seq2seq-lstm-2": lambda: Seq2Seq(V, V, 8, 12, num_layers=2),
    "seq2seq-rev-gru": lambda: Seq2Seq(V, V, 8, 12, reverse_source=True, cell=GRU),
    "bahdanau-gru": lambda: Bahdanau(V, V, 8, 12, 10),
    "bahdanau-gru-2": lambda: Bahdanau(V, V, 8, 12, 10, enc_layers=2, dec_layers=2),
    "bahdanau-lstm": lambda: Bahdanau(V, V, 8, 12, 10, cell=LSTM),
    "bahdanau-lstm-2": lambda: Bahdanau(V, V, 8, 12, 10, enc_layers=2, dec_layers=2, cell=LSTM),
    "luong-dot": lambda: Luong(V, V, 8, 12, score="dot"),
    "luong-general-2": lambda: Luong(V, V, 8, 12, num_layers=2, score="general"),
    "luong-concat": lambda: Luong(V, V, 8, 12, score="concat"),
    "luong-concat-gru": lambda: Luong(V, V, 8, 12, score="concat", cell=GRU),
    "luong-dot-nofeed": lambda: Luong(V, V, 8, 12, score="dot", input_feed=False),
    "luong-general-nofeed-2": lambda: Luong(V, V, 8, 12, num_layers=2, score="general", input_feed=False),
    "luong-concat-nofeed": lambda: Luong(V, V, 8, 12, score="concat", input_feed=False),
    "luong-concat-local-m": lambda: Luong(V, V, 8, 12, score="concat", mode="local-m", half_width=1),
    "luong-general-local-p": lambda: Luong(V, V, 8, 12, num_layers=2, mode="local-p", half_width=2),
}


def build(name, dtype=torch.float64):
    torch.manual_seed(0)
    return MODELS[name]().to(dtype).train()


def batch():
    return padded_batch(V, 9, 7, lengths=(None, 6, 3))  # sources padded to 9, 6 and 3 real tokens


# ----------------------------------------------------------------- the custom Functions


def _loop(blocks, bias, bases, xs, h0):
    """A small recurrence through LoopLinear: h_t = tanh(base_t + [x_t ; h_{t-1}] W^T + b)."""
    steps, batch = xs.shape[0], xs.shape[-2]  # xs (T, [G,] B, K)
    layer = LoopLinear(list(blocks), bias, steps, batch, xs.dtype)
    h, outs = h0, []
    for t in range(steps):
        h = torch.tanh(layer(t, [xs[t], h], None if bases is None else bases[t]))
        outs.append(h)
    return torch.stack(outs)  # (T, B, N)


@pytest.mark.parametrize("with_base,with_bias", [(True, False), (False, True), (True, True), (False, False)])
def test_loop_linear_gradcheck(with_base, with_bias):
    """dW = dA^T X (one GEMM in the collector), db, d[x_t ; h_{t-1}], d base: against finite differences."""
    g = torch.Generator().manual_seed(0)
    T, B, K, N = 4, 3, 2, 5

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)

    w_x, w_h, xs, h0 = rand(N, K), rand(N, N), rand(T, B, K), rand(B, N)
    bias = rand(N) if with_bias else None
    bases = rand(T, B, N) if with_base else None
    inputs = [t for t in (w_x, w_h, bias, bases, xs, h0) if t is not None]

    def fn(*args):
        it = iter(args)
        wx, wh = next(it), next(it)
        b = next(it) if with_bias else None
        base = next(it) if with_base else None
        return _loop((wx, wh), b, base, next(it), next(it))

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-8)


@pytest.mark.parametrize("with_base,with_bias", [(True, False), (False, True), (True, True)])
def test_grouped_loop_linear_gradcheck_and_equals_one_group_at_a_time(with_base, with_bias):
    """G = 2 weights side by side (a bidirectional layer's two directions): dW_g = dA_g^T X_g by one
    batched GEMM; against finite differences, and each group equals its own ungrouped loop."""
    g = torch.Generator().manual_seed(0)
    G, T, B, K, N = 2, 4, 3, 2, 5

    def rand(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64, requires_grad=True)

    w_x, w_h, xs, h0 = rand(G, N, K), rand(G, N, N), rand(T, G, B, K), rand(G, B, N)
    bias = rand(G, N) if with_bias else None
    bases = rand(T, G, B, N) if with_base else None
    inputs = [t for t in (w_x, w_h, bias, bases, xs, h0) if t is not None]

    def fn(*args):
        it = iter(args)
        wx, wh = next(it), next(it)
        b = next(it) if with_bias else None
        base = next(it) if with_base else None
        return _loop((wx, wh), b, base, next(it), next(it))

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-8)
    grouped = fn(*inputs)  # (T, G, B, N)
    for k in range(G):
        one = _loop((w_x[k], w_h[k]), None if bias is None else bias[k], None if bases is None else bases[:, k],
                    xs[:, k], h0[k])
        assert torch.allclose(grouped[:, k], one, atol=1e-12)


def test_loop_read_gradcheck():
    """c_t = a_t V at every step, dV = A^T dC once in the collector: against finite differences,
    with the weights of one step depending on the previous context (a recurrence)."""
    g = torch.Generator().manual_seed(0)
    T, B, S, D = 3, 2, 4, 5
    values = torch.randn(B, S, D, generator=g, dtype=torch.float64, requires_grad=True)
    scores = torch.randn(T, B, S, generator=g, dtype=torch.float64, requires_grad=True)
    mix = torch.randn(D, S, generator=g, dtype=torch.float64)

    def fn(values, scores):
        read, ctx, outs = LoopRead(values, T, values.dtype), None, []
        for t in range(T):
            e = scores[t] if ctx is None else scores[t] + ctx @ mix  # the read feeds the next step
            ctx = read(t, torch.softmax(e, -1))
            outs.append(ctx)
        return torch.stack(outs)  # (T, B, D)

    assert torch.autograd.gradcheck(fn, (values, scores), eps=1e-6, atol=1e-8)


def test_loop_linear_step_without_gradient():
    """A step whose output reaches no loss contributes nothing (its slot is zeros), and a second
    backward over a retained graph gives the same gradients (the stash starts clean)."""
    torch.manual_seed(0)
    w = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    xs = torch.randn(3, 2, 3, dtype=torch.float64)
    layer = LoopLinear([w], None, 3, 2, torch.float64)
    ys = [layer(t, [xs[t]]) for t in range(3)]
    loss = (ys[0] ** 2).sum() + ys[2].sum()  # step 1 unused
    (first,) = torch.autograd.grad(loss, w, retain_graph=True)
    (second,) = torch.autograd.grad(loss, w)
    expected = 2 * ys[0].detach().t() @ xs[0] + torch.ones(4, 2, dtype=torch.float64) @ xs[2]
    assert torch.allclose(first, expected) and torch.allclose(second, expected)


@pytest.mark.parametrize("cell", [LSTM, GRU])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_run_layers_equals_module_with_lengths(cell, bidirectional):
    """Layer by layer with collected weights == torch's packed kernel: outputs (zero on padding),
    final states at each row's last real step, and all gradients (float64)."""
    torch.manual_seed(0)
    rnn = cell(5, 4, num_layers=2, batch_first=True, bidirectional=bidirectional, backend="fused").double()
    x = torch.randn(3, 6, 5, dtype=torch.float64, requires_grad=True)
    lengths = torch.tensor([6, 2, 4])
    results = []
    for fused in (False, True):
        out, final = run_layers(rnn, x, lengths=lengths) if fused else rnn(x, lengths=lengths)
        finals = final if isinstance(final, tuple) else (final,)
        loss = (out ** 2).sum() + sum((f * torch.arange(f.numel()).view_as(f)).sum() for f in finals)
        grads = torch.autograd.grad(loss, [x, *rnn.parameters()])
        results.append((out, finals, grads))
    (o1, f1, g1), (o2, f2, g2) = results
    assert torch.allclose(o1, o2, atol=1e-12) and torch.all(o2[1, 2:] == 0)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(f1, f2))
    assert all(torch.allclose(a, b, atol=1e-10) for a, b in zip(g1, g2))


class _TwoLayerStack(torch.nn.Module):
    """Three steps of a DecoderStack (2 LSTM layers, an extra input in layer 0) as a module."""

    def __init__(self):
        super().__init__()
        self.rnn = LSTM(3 + 2, 4, num_layers=2, batch_first=True, backend="fused")

    def forward(self, emb, extra, h0, c0):
        stack = DecoderStack(self.rnn, emb, extra=2)
        state, outs = stack.initial((h0, c0)), []
        for t in range(emb.size(1)):
            h, state = stack.step(t, extra[t], state)
            outs.append(h)
        return torch.stack(outs)  # (T, B, H)


def test_decoder_stack_gradcheck():
    """The interleaved stack gradchecked as a whole: inputs, initial state and every weight."""
    torch.manual_seed(0)
    module = _TwoLayerStack().double()
    names = [n for n, _ in module.named_parameters()]
    inputs = (torch.randn(2, 3, 3), torch.randn(3, 2, 2), torch.randn(2, 2, 4), torch.randn(2, 2, 4))
    params = [p.detach().clone() for p in module.parameters()]
    args = [t.double().requires_grad_() for t in (*inputs, *params)]

    def fn(emb, extra, h0, c0, *weights):
        return torch.func.functional_call(module, dict(zip(names, weights)), (emb, extra, h0, c0))

    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-8)


# ----------------------------------------------------------------- fused == plain, per model


def _loss_and_grads(model, fused):
    src, mask, tgt = batch()
    model.fused = fused
    model.zero_grad(set_to_none=True)
    logits, attn = model(src, mask, tgt)
    sequence_loss(logits, tgt, pad_id=0).backward()
    return logits.detach(), attn, {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("name", MODELS)
def test_fused_equals_plain_forward_and_every_gradient(name):
    model = build(name)
    logits, attn, grads = _loss_and_grads(model, False)
    f_logits, f_attn, f_grads = _loss_and_grads(model, True)
    assert torch.allclose(f_logits, logits, rtol=0, atol=1e-6)
    if attn is not None:
        assert torch.allclose(f_attn, attn, rtol=0, atol=1e-6)
    assert grads.keys() == f_grads.keys()
    for n, g in grads.items():
        assert g is not None and f_grads[n] is not None, n
        assert torch.allclose(f_grads[n], g, rtol=0, atol=1e-6), n


@pytest.mark.parametrize("name", ["bahdanau-lstm-2", "luong-concat", "luong-dot-nofeed"])
def test_a_step_leaves_nothing_behind(name):
    """Once a step's loss is gone, its graph and the loops' stashes are freed: nothing of a
    batch survives into the next (a reference loop through the autograd nodes once kept every
    batch's graph alive, ~40 MB a step at the NT recipe's size)."""
    model = build(name, torch.float32)
    model.fused = True
    src, mask, tgt = batch()

    def stashes():
        gc.collect()
        return sum(isinstance(o, (loop_ops._Stash, loop_ops._ReadStash)) for o in gc.get_objects())

    before = stashes()
    for _ in range(3):
        loss = sequence_loss(model(src, mask, tgt)[0], tgt, pad_id=0)
        assert stashes() > before  # the check sees the loops' stashes while the graph lives
        loss.backward()
        del loss
    assert stashes() == before


@pytest.mark.parametrize("name", ["bahdanau-lstm-2", "luong-concat"])
def test_equal_training_curves(name):
    """A few Adam steps in float32 from the same start: the same losses either way."""
    src, mask, tgt = batch()
    curves = []
    for fused in (False, True):
        model = build(name, torch.float32)
        model.fused = fused
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            loss = sequence_loss(model(src, mask, tgt)[0], tgt, pad_id=0)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        curves.append(losses)
    assert curves[0][-1] < curves[0][0]  # it learns
    assert max(abs(a - b) for a, b in zip(*curves)) < 1e-5


@pytest.mark.parametrize("name", ["bahdanau-lstm-2", "luong-concat", "luong-general-local-p"])
def test_fused_trains_with_dropout_and_decodes_unchanged(name):
    """With dropout every parameter gets a finite gradient; greedy and beam search (decode_step)
    give the same hypotheses whichever path the model trains with."""
    model = build(name, torch.float32)
    model.drop.p = model.decoder.dropout = model.encoder.rnn.dropout = 0.3
    model.fused = True
    src, mask, tgt = batch()
    sequence_loss(model(src, mask, tgt)[0], tgt, pad_id=0).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    model.eval()
    hyps = {}
    for fused in (True, False):
        model.fused = fused
        g, b = greedy(model, src, mask, 1, 2), beam_search(model, src, mask, 1, 2, beam=3)
        hyps[fused] = [h.tokens for h in g], [h[0].tokens for h in b]
    assert hyps[True] == hyps[False]


@pytest.mark.parametrize("name", ["bahdanau-lstm-2", "luong-concat-gru"])
def test_fused_under_bf16_autocast(name):
    """Under CPU bf16 autocast the fused path runs its products in bf16 (weights cast once per
    sequence) and its loss stays near the float32 one; gradients arrive in float32."""
    model = build(name, torch.float32)
    model.fused = True
    src, mask, tgt = batch()
    ref = sequence_loss(model(src, mask, tgt)[0], tgt, pad_id=0).item()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = model(src, mask, tgt)
    loss = sequence_loss(logits.float(), tgt, pad_id=0)
    loss.backward()
    assert logits.dtype == torch.bfloat16
    assert abs(loss.item() - ref) < 0.05 * abs(ref)
    assert all(p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all() for p in model.parameters())


def test_default_is_fused_while_training_on_cpu():
    """fused = None: the fused path while gradients are recorded on a CPU, the plain one in
    no-grad evaluation; an explicit True / False wins."""
    model = build("bahdanau-lstm", torch.float32)
    src, _, _ = batch()
    assert model.fused is None and model.use_fused(src)
    with torch.no_grad():
        assert not model.use_fused(src)
        model.fused = True
        assert model.use_fused(src)
    model.fused = False
    assert not model.use_fused(src)


class _WeightCasts(TorchDispatchMode):
    """Counts bf16 casts of tensors with no dimension divisible by the batch size: weights,
    never activations (whose every shape carries B, alone or times T or S)."""

    def __init__(self, batch: int) -> None:
        super().__init__()
        self.batch, self.count = batch, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if (func is torch.ops.aten._to_copy.default and kwargs.get("dtype") == torch.bfloat16
                and all(d % self.batch for d in args[0].shape)):
            self.count += 1
        return func(*args, **kwargs)


CAST_BATCH = (None, 6, 3, 8, 2, 7, 4, 9, 5, 1, 6)  # B = 11 sources; no weight dimension below is a multiple of 11
CAST_MODELS = {
    "seq2seq-lstm-2": lambda: Seq2Seq(V, V, 16, 32, num_layers=2),
    "bahdanau-lstm-2": lambda: Bahdanau(V, V, 16, 32, 32, enc_layers=2, dec_layers=2, cell=LSTM),
    "bahdanau-gru": lambda: Bahdanau(V, V, 16, 32, 32),
    "luong-general-2": lambda: Luong(V, V, 16, 32, num_layers=2, score="general"),
    "luong-concat-gru": lambda: Luong(V, V, 16, 32, score="concat", cell=GRU),
    "luong-dot-nofeed": lambda: Luong(V, V, 16, 32, score="dot", input_feed=False),
}


@pytest.mark.parametrize("name", sorted(CAST_MODELS))
def test_bf16_weights_are_cast_once_per_forward_not_per_step(name):
    """Under bf16 autocast the fused path casts its weights once per forward (= once per
    optimizer step), not once per target step: as many weight casts for 4 steps as for 12,
    and no more than the model has weights and biases."""
    counts = []
    for steps in (4, 12):
        torch.manual_seed(0)
        model = CAST_MODELS[name]().train()
        model.fused = True
        assert all(d % len(CAST_BATCH) for p in model.parameters() for d in p.shape)  # every weight is seen
        src, mask, tgt = padded_batch(V, 9, steps, lengths=CAST_BATCH)
        with torch.autocast("cpu", dtype=torch.bfloat16), _WeightCasts(len(CAST_BATCH)) as casts:
            model(src, mask, tgt)
        counts.append(casts.count)
    assert 0 < counts[0] == counts[1] <= len(list(model.parameters())), counts
