"""minGRU / minLSTM: the parallel scan against the step-by-step recurrence."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.nn import MinGRU, MinLSTM, SequenceModel
from seqlab.nn.scan import MinGRUCell, MinLSTMCell, g, log_g, scan_chunked, scan_log

LAYERS = [MinGRU, MinLSTM]
CHUNKS = [None, 5]  # the log-space scan, and the chunked scan with T not a multiple of C


def _loop(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_t = a_t * h_{t-1} + b_t, one step at a time. a, b (B, T, H), h0 (B, H)."""
    h, out = h0, []
    for t in range(a.shape[1]):
        h = a[:, t] * h + b[:, t]
        out.append(h)
    return torch.stack(out, dim=1)


def test_g_and_log_g_hand_values():
    x = torch.tensor([-2.0, 0.0, 1.5], dtype=torch.float64)
    expected = torch.tensor([1 / (1 + torch.e**2), 0.5, 2.0], dtype=torch.float64)
    torch.testing.assert_close(g(x), expected)
    torch.testing.assert_close(log_g(x), expected.log())


def test_scan_equals_naive_loop_on_random_coefficients():
    gen = torch.Generator().manual_seed(0)
    a = torch.rand(3, 50, 4, generator=gen, dtype=torch.float64) * 0.98 + 0.01
    b = torch.rand(3, 50, 4, generator=gen, dtype=torch.float64) * 2
    h0 = torch.randn(3, 4, generator=gen, dtype=torch.float64)  # any sign
    torch.testing.assert_close(scan_log(a.log(), b.log(), h0), _loop(a, b, h0), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(scan_log(a.log(), b.log()), _loop(a, b, torch.zeros_like(h0)), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("chunk", [1, 4, 7, 50, 64])
def test_scan_chunked_equals_naive_loop_forward_and_grads(chunk):
    """Any signs (the linear-space scan needs no positivity); T=50 with C dividing it or not."""
    gen = torch.Generator().manual_seed(13)
    a = torch.randn(3, 50, 4, generator=gen, dtype=torch.float64).requires_grad_()
    b = torch.randn(3, 50, 4, generator=gen, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, 50, 4, generator=gen, dtype=torch.float64)
    out, ref = scan_chunked(a, b, h0, chunk), _loop(a, b, h0)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
    for gs, gl in zip(torch.autograd.grad((out * w).sum(), (a, b, h0)), torch.autograd.grad((ref * w).sum(), (a, b, h0))):
        torch.testing.assert_close(gs, gl, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(scan_chunked(a, b, None, chunk), _loop(a, b, torch.zeros_like(h0)))


def test_scan_gradients_equal_naive_loop():
    gen = torch.Generator().manual_seed(1)
    la = (torch.rand(2, 20, 3, generator=gen, dtype=torch.float64) * 0.9 + 0.05).log().requires_grad_()
    lb = torch.randn(2, 20, 3, generator=gen, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 20, 3, generator=gen, dtype=torch.float64)
    grads_scan = torch.autograd.grad((scan_log(la, lb, h0) * w).sum(), (la, lb, h0))
    grads_loop = torch.autograd.grad((_loop(la.exp(), lb.exp(), h0) * w).sum(), (la, lb, h0))
    for gs, gl in zip(grads_scan, grads_loop):
        torch.testing.assert_close(gs, gl, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("cell_type", [MinGRUCell, MinLSTMCell])
def test_cell_parallel_equals_hand_recurrence(cell_type):
    """The cell's scan against its gate equations written out in a plain loop."""
    torch.manual_seed(2)
    cell = cell_type(3, 4).double()
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    h0 = torch.randn(2, 4, dtype=torch.float64)
    h, hs = h0, []
    for t in range(7):
        gates = (x[:, t] @ cell.linear.weight.T + cell.linear.bias).chunk(3 if cell_type is MinLSTMCell else 2, -1)
        if cell_type is MinGRUCell:
            z = torch.sigmoid(gates[0])
            h = (1 - z) * h + z * g(gates[1])
        else:
            f, i = torch.sigmoid(gates[0]), torch.sigmoid(gates[1])
            h = f / (f + i) * h + i / (f + i) * g(gates[2])
        hs.append(h)
    torch.testing.assert_close(cell(x, h0), torch.stack(hs, 1))


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("layer_type", LAYERS)
@pytest.mark.parametrize("dtype,tol", [(torch.float32, 1e-5), (torch.float64, 1e-11)])
def test_parallel_equals_recurrent_forward_and_grads(layer_type, dtype, tol, chunk):
    torch.manual_seed(3)
    model = layer_type(5, 6, num_layers=2, chunk_size=chunk).to(dtype)
    x = torch.randn(3, 24, 5, dtype=dtype, requires_grad=True)
    h0 = torch.randn(2, 3, 6, dtype=dtype)
    w = torch.randn(3, 24, 6, dtype=dtype)

    def run(fn):
        out, state = fn(x, h0)
        loss = (out * w).sum() + state.sum()
        grads = torch.autograd.grad(loss, [x, *model.parameters()])
        return out, state, grads

    out_p, st_p, gr_p = run(model.forward)
    out_s, st_s, gr_s = run(model.forward_sequential)
    torch.testing.assert_close(out_p, out_s, rtol=tol, atol=tol)
    torch.testing.assert_close(st_p, st_s, rtol=tol, atol=tol)
    # gradients sum many rounded terms: compare relative to each gradient's scale
    for a, b in zip(gr_p, gr_s):
        assert (a - b).abs().max() <= tol * b.abs().max(), (a - b).abs().max()


@pytest.mark.parametrize("layer_type", LAYERS)
def test_initial_state_is_used_and_none_means_zeros(layer_type):
    torch.manual_seed(4)
    model = layer_type(3, 4).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    zeros = torch.zeros(1, 2, 4, dtype=torch.float64)
    torch.testing.assert_close(model(x)[0], model(x, zeros)[0])
    out_h, _ = model(x, torch.ones_like(zeros))
    assert not torch.allclose(out_h, model(x)[0])
    # the first step by hand from h0 = 1 through step mode
    torch.testing.assert_close(out_h[:, 0], model.step(x[:, 0], torch.ones_like(zeros))[0])


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("layer_type", LAYERS)
def test_chunked_with_carried_state_equals_one_pass(layer_type, chunk):
    torch.manual_seed(5)
    model = layer_type(4, 5, num_layers=3, chunk_size=chunk).double()
    x = torch.randn(2, 30, 4, dtype=torch.float64)
    full, final = model(x)
    state, outs = None, []
    for chunk in x.split(7, dim=1):  # uneven chunks: 7, 7, 7, 7, 2
        out, state = model(chunk, state)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), full)
    torch.testing.assert_close(state, final)


@pytest.mark.parametrize("chunk", CHUNKS)
@pytest.mark.parametrize("layer_type", LAYERS)
def test_lengths_give_state_at_last_valid_step(layer_type, chunk):
    torch.manual_seed(6)
    model = layer_type(3, 4, num_layers=2, chunk_size=chunk).double()
    x = torch.randn(3, 9, 3, dtype=torch.float64)
    lengths = torch.tensor([9, 4, 1])
    _, state = model(x, lengths=lengths)
    _, state_seq = model.forward_sequential(x, lengths=lengths)
    torch.testing.assert_close(state, state_seq)
    for b, n in enumerate(lengths.tolist()):
        torch.testing.assert_close(state[:, b], model(x[b : b + 1, :n])[1][:, 0])


def test_plugs_into_sequence_model_with_grads():
    torch.manual_seed(7)
    model = SequenceModel(MinGRU(8, 16, num_layers=2), features=16, output_dim=5, vocab_size=11, embed_dim=8)
    tokens = torch.randint(0, 11, (4, 12))
    logits, state = model(tokens)
    assert logits.shape == (4, 12, 5) and state.shape == (2, 4, 16)
    logits.logsumexp(-1).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_causal_future_input_does_not_change_past_outputs():
    torch.manual_seed(8)
    model = MinLSTM(3, 4, num_layers=2)
    x = torch.randn(1, 10, 3)
    y = x.clone()
    y[:, 6] += 5.0
    torch.testing.assert_close(model(x)[0][:, :6], model(y)[0][:, :6])
    assert not torch.allclose(model(x)[0][:, 6:], model(y)[0][:, 6:])


def test_long_sequence_float32_stays_close_to_float64():
    """The log-space scan stays finite and accurate over long T in float32."""
    torch.manual_seed(9)
    model = MinGRU(4, 8).double()
    x = torch.randn(2, 2048, 4, dtype=torch.float64)
    ref = model(x)[0]
    out32 = model.float()(x.float())[0]
    assert torch.isfinite(out32).all()
    torch.testing.assert_close(out32.double(), ref, rtol=2e-3, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("layer_type", LAYERS)
def test_cuda_matches_cpu(layer_type):
    torch.manual_seed(10)
    model = layer_type(4, 8, num_layers=2)
    x = torch.randn(2, 64, 4)
    ref = model(x)[0]
    out = model.cuda()(x.cuda())[0].cpu()
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-5)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        out_bf16 = model(x.cuda())[0]
    assert torch.isfinite(out_bf16).all()


def test_bad_sizes_raise():
    with pytest.raises(ValueError):
        MinGRU(3, 4, num_layers=0)
    with pytest.raises(ValueError):
        MinLSTM(3, 4, chunk_size=0)


@pytest.mark.parametrize("layer_type", LAYERS)
def test_chunked_and_log_scans_agree_over_long_sequences(layer_type):
    torch.manual_seed(14)
    log_model = layer_type(4, 8).double()
    chunked = layer_type(4, 8, chunk_size=64).double()
    chunked.load_state_dict(log_model.state_dict())
    x = torch.randn(2, 1000, 4, dtype=torch.float64)
    torch.testing.assert_close(chunked(x)[0], log_model(x)[0], rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("layer_type", LAYERS)
def test_bf16_autocast_keeps_the_scan_in_float32(layer_type):
    """Under CPU bf16 autocast the gates are bf16 but the log-space scan runs in float32."""
    torch.manual_seed(11)
    model = layer_type(4, 8)
    x = torch.randn(2, 300, 4)
    ref = model(x)[0]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, state = model(x)
    assert out.dtype == torch.float32 and state.dtype == torch.float32
    assert (out - ref).abs().max() < 0.05 * ref.abs().max()  # bf16 gate rounding only


@pytest.mark.parametrize("layer_type", LAYERS)
def test_token_by_token_generation_equals_parallel(layer_type):
    """``step`` fed one token at a time (as a sampler does) reproduces the scan."""
    torch.manual_seed(12)
    model = layer_type(3, 5, num_layers=2).double()
    x = torch.randn(2, 11, 3, dtype=torch.float64)
    h0 = torch.randn(2, 2, 5, dtype=torch.float64)
    full, final = model(x, h0)
    state, outs = h0, []
    for t in range(11):
        out_t, state = model.step(x[:, t], state)
        outs.append(out_t)
    torch.testing.assert_close(torch.stack(outs, 1), full)
    torch.testing.assert_close(state, final)


@pytest.mark.parametrize("layer_type", LAYERS)
def test_step_from_scratch_takes_none_like_forward(layer_type):
    """Generation from scratch needs no hand-made zero state: step(x_t, None) is step(x_t, zeros)."""
    torch.manual_seed(13)
    model = layer_type(3, 5, num_layers=2).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64)
    full, final = model(x)
    out_t, state = model.step(x[:, 0], None)
    torch.testing.assert_close(out_t, model.step(x[:, 0], torch.zeros(2, 2, 5, dtype=torch.float64))[0])
    torch.testing.assert_close(out_t, full[:, 0])
    for t in range(1, 4):
        out_t, state = model.step(x[:, t], state)
    torch.testing.assert_close(state, final)
    torch.testing.assert_close(model.layers[0].step(x[:, 0]), model.layers[0](x[:, :1])[:, 0])


def test_trains_with_truncated_bptt_in_the_trainer():
    """A MinGRU backbone runs through seqlab's Trainer with k1 = k2 truncation (state carried)."""
    from seqlab.data.tasks import AddingProblem
    from seqlab.train import TrainConfig, Trainer

    torch.manual_seed(15)
    task = AddingProblem(length=24)
    model = SequenceModel(MinGRU(8, 16, chunk_size=4), features=16, output_dim=1, input_dim=2, embed_dim=8)
    cfg = TrainConfig(steps=3, batch_size=4, tbptt_k1=8, tbptt_k2=8, eval_every=3, eval_batches=1,
                      log_every=1, device="cpu", progress=False)
    result = Trainer(model, task, cfg).fit()
    assert result.steps == 3 and math.isfinite(result.final["loss"])


@pytest.mark.parametrize("with_h0", [True, False])
def test_scan_log_backward_passes_gradcheck(with_h0):
    """The hand-written backward of the log-space scan against finite differences."""
    gen = torch.Generator().manual_seed(16)
    log_a = (torch.rand(2, 9, 3, generator=gen, dtype=torch.float64) * 0.9 + 0.05).log().requires_grad_()
    log_b = torch.randn(2, 9, 3, generator=gen, dtype=torch.float64).requires_grad_()
    h0 = torch.randn(2, 3, generator=gen, dtype=torch.float64, requires_grad=True) if with_h0 else None
    assert torch.autograd.gradcheck(scan_log, (log_a, log_b, h0))
