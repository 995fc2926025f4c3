"""seqlab.nn.recurrent against torch.nn.RNN/LSTM/GRU: outputs, final states and
parameter gradients in float64 (atol 1e-6), for both backends, after loading the
same state_dict."""

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from seqlab.errors import ConfigError, SeqlabError
from seqlab.nn import GRU, LSTM, RNN

I, H, B, T = 3, 4, 3, 5
ATOL = 1e-6
KINDS = {
    "rnn_tanh": (RNN, nn.RNN, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNN, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTM, nn.LSTM, {}),
    "gru": (GRU, nn.GRU, {}),
}
BACKENDS = ["cell", "fused"]


def make_pair(kind, backend, **kw):
    ours_cls, torch_cls, extra = KINDS[kind]
    torch.manual_seed(0)
    ref = torch_cls(I, H, **extra, **kw).double()
    ours = ours_cls(I, H, **extra, backend=backend, **kw).double()
    ours.load_state_dict(ref.state_dict())
    return ours, ref


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def random_state(kind, layers, bidir, batch=B):
    """A random initial state that needs a gradient: (h, c) for LSTM, else h."""
    shape = (layers * (2 if bidir else 1), batch, H)
    h = torch.randn(shape, dtype=torch.double, requires_grad=True)
    return (h, torch.randn(shape, dtype=torch.double, requires_grad=True)) if kind == "lstm" else h


def scalar_loss(out, state):
    """A loss that weighs every output and state entry differently, so every
    gradient entry matters."""
    g = torch.Generator().manual_seed(1)
    total = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
    for s in as_tuple(state):
        total = total + (s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum()
    return total


def assert_same(ours, ref, out, state, ref_out, ref_state, leaves=()):
    """Outputs, final states, and the gradients of one loss with respect to every
    parameter and to the shared inputs ``leaves`` (x, h_0, c_0), all within ATOL."""
    torch.testing.assert_close(out, ref_out, atol=ATOL, rtol=0)
    for a, b in zip(as_tuple(state), as_tuple(ref_state), strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)
    names = [n for n, _ in ours.named_parameters()]
    ref_params = dict(ref.named_parameters())
    # the reference first, keeping the graph parts both share (e.g. a packing of x)
    want_inputs = [*(ref_params[n] for n in names), *leaves]
    want = torch.autograd.grad(scalar_loss(ref_out, ref_state), want_inputs, retain_graph=True)
    got = torch.autograd.grad(scalar_loss(out, state), [*ours.parameters(), *leaves])
    labels = names + [f"input {k}" for k in range(len(leaves))]
    for label, a, b in zip(labels, got, want, strict=True):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0, msg=label)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_matches_torch(kind, backend, layers, bidir, batch_first, with_hx):
    ours, ref = make_pair(kind, backend, num_layers=layers, bidirectional=bidir, batch_first=batch_first)
    x = torch.randn((B, T, I) if batch_first else (T, B, I), dtype=torch.double, requires_grad=True)
    hx = random_state(kind, layers, bidir) if with_hx else None
    out, state = ours(x, hx)
    ref_out, ref_state = ref(x, hx)
    leaves = (x, *as_tuple(hx)) if with_hx else (x,)
    assert_same(ours, ref, out, state, ref_out, ref_state, leaves)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bidir", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_lengths_match_packed_torch(kind, backend, bidir, batch_first):
    ours, ref = make_pair(kind, backend, num_layers=2, bidirectional=bidir, batch_first=batch_first)
    x = torch.randn((4, 6, I) if batch_first else (6, 4, I), dtype=torch.double, requires_grad=True)
    lengths = torch.tensor([3, 6, 1, 4])  # unsorted, and the longest is not first
    hx = random_state(kind, 2, bidir, batch=4)
    out, state = ours(x, hx, lengths=lengths)
    packed = pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False)
    ref_packed, ref_state = ref(packed, hx)
    ref_out, _ = pad_packed_sequence(ref_packed, batch_first=batch_first, total_length=6)
    assert_same(ours, ref, out, state, ref_out, ref_state, (x, *as_tuple(hx)))
    pad = (torch.arange(6)[None, :] >= lengths[:, None])  # (B, T) True at padding
    pad = pad if batch_first else pad.T
    assert (out[pad] == 0).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_lengths_equal_no_lengths(backend):
    ours, _ = make_pair("lstm", backend, bidirectional=True)
    x = torch.randn(T, B, I, dtype=torch.double)
    out, (h, c) = ours(x, lengths=torch.full((B,), T))
    ref_out, (ref_h, ref_c) = ours(x)
    for a, b in ((out, ref_out), (h, ref_h), (c, ref_c)):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bidir", [False, True])
def test_packed_sequence_in_and_out(kind, backend, bidir):
    ours, ref = make_pair(kind, backend, num_layers=2, bidirectional=bidir)
    x = torch.randn(6, 4, I, dtype=torch.double, requires_grad=True)
    packed = pack_padded_sequence(x, torch.tensor([2, 6, 5, 2]), enforce_sorted=False)
    hx = random_state(kind, 2, bidir, batch=4)
    out, state = ours(packed, hx)
    ref_out, ref_state = ref(packed, hx)
    assert isinstance(out, nn.utils.rnn.PackedSequence)
    assert torch.equal(out.batch_sizes, ref_out.batch_sizes)
    assert torch.equal(out.sorted_indices, ref_out.sorted_indices)
    assert_same(ours, ref, out.data, state, ref_out.data, ref_state, (x, *as_tuple(hx)))


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_unbatched_and_no_bias(kind, backend):
    ours, ref = make_pair(kind, backend, bias=False, bidirectional=True)
    assert "bias_ih_l0" not in dict(ours.named_parameters())
    x = torch.randn(T, I, dtype=torch.double)
    out, state = ours(x)
    ref_out, ref_state = ref(x)
    assert out.shape == (T, 2 * H)
    assert_same(ours, ref, out, state, ref_out, ref_state)


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip_and_names(kind):
    ours_cls, torch_cls, extra = KINDS[kind]
    ref = torch_cls(I, H, num_layers=2, bidirectional=True, **extra)
    ours = ours_cls(I, H, num_layers=2, bidirectional=True, **extra)
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in ref.named_parameters()
    ]
    assert "bias_hh_l1_reverse" in ours.state_dict()
    ours.load_state_dict(ref.state_dict())  # torch -> seqlab
    back = torch_cls(I, H, num_layers=2, bidirectional=True, **extra)
    back.load_state_dict(ours.state_dict())  # seqlab -> torch
    for name, p in back.state_dict().items():
        assert torch.equal(p, ref.state_dict()[name])


@pytest.mark.parametrize("kind", KINDS)
def test_default_init_range(kind):
    ours_cls, _, extra = KINDS[kind]
    layer = ours_cls(I, 16, num_layers=2, **extra)
    bound = 1 / 16**0.5
    for p in layer.parameters():
        assert p.abs().max() <= bound
        assert p.std() > bound / 4  # not all zero: spread over the range


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_between_layers_only_in_training(kind, backend):
    ours_cls, _, extra = KINDS[kind]
    torch.manual_seed(0)
    layer = ours_cls(I, H, num_layers=2, dropout=0.5, backend=backend, **extra).double()
    x = torch.randn(T, B, I, dtype=torch.double)
    layer.eval()
    assert torch.equal(layer(x)[0], layer(x)[0])
    plain = ours_cls(I, H, num_layers=2, backend=backend, **extra).double()
    plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(layer(x)[0], plain(x)[0], atol=ATOL, rtol=0)
    layer.train()
    assert not torch.allclose(layer(x)[0], plain(x)[0])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_dropout_not_after_last_layer(kind, backend):
    """With p=1 the first layer's output is all dropped: the second layer then
    sees zeros, and its own output must be that, not dropped as well."""
    ours_cls, _, extra = KINDS[kind]
    layer = ours_cls(I, H, num_layers=2, dropout=1.0, backend=backend, **extra).double().train()
    with torch.no_grad():
        layer.bias_ih_l1.fill_(0.3)  # so the top layer's output on zeros is not zero (relu)
    top = ours_cls(H, H, backend=backend, **extra).double()
    top.load_state_dict({k.replace("_l1", "_l0"): v for k, v in layer.state_dict().items() if "_l1" in k})
    out, _ = layer(torch.randn(T, B, I, dtype=torch.double))
    torch.testing.assert_close(out, top(torch.zeros(T, B, H, dtype=torch.double))[0], atol=ATOL, rtol=0)
    assert out.abs().sum() > 0


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ConfigError, match="backend"):
        LSTM(I, H, backend="magic")
    with pytest.raises(ConfigError, match="nonlinearity"):
        RNN(I, H, nonlinearity="sigmoid")
    with pytest.raises(ConfigError, match="dropout"):
        GRU(I, H, num_layers=2, dropout=1.5)
    layer = LSTM(I, H)
    with pytest.raises(SeqlabError, match="input"):
        layer(torch.randn(T, B, I + 1))
    with pytest.raises(SeqlabError, match="lengths"):
        layer(torch.randn(T, B, I), lengths=torch.tensor([1, T + 1, 2]))
    with pytest.raises(SeqlabError, match="initial state"):
        layer(torch.randn(T, B, I), (torch.zeros(1, B + 1, H), torch.zeros(1, B + 1, H)))
    with pytest.raises(SeqlabError, match="pair"):
        layer(torch.randn(T, B, I), torch.zeros(1, B, H))
    with pytest.raises(SeqlabError, match="one tensor"):
        GRU(I, H)(torch.randn(T, B, I), (torch.zeros(1, B, H),))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_cuda_matches_cpu(kind, backend):
    ours, _ = make_pair(kind, backend, num_layers=2, bidirectional=True)
    x = torch.randn(T, B, I, dtype=torch.double)
    lengths = torch.tensor([T, 2, 4])
    out, state = ours(x, lengths=lengths)
    gpu = ours.cuda()
    gpu_out, gpu_state = gpu(x.cuda(), lengths=lengths.cuda())
    torch.testing.assert_close(gpu_out.cpu(), out, atol=ATOL, rtol=0)
    for a, b in zip(as_tuple(gpu_state), as_tuple(state)):
        torch.testing.assert_close(a.cpu(), b, atol=ATOL, rtol=0)


def _compile_works() -> str | None:
    """None when torch.compile can build a kernel here, else the reason it cannot."""
    try:
        torch.compile(lambda a: torch.sigmoid(a) * 2)(torch.zeros(2))
    except Exception as e:  # noqa: BLE001 - any failure means: skip, and say why
        return f"torch.compile unavailable here: {type(e).__name__}: {str(e).splitlines()[0][:120]}"
    return None


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rnn_tanh", "lstm", "gru"])
def test_compiled_step_equals_eager(kind):
    reason = _compile_works()
    if reason:
        pytest.skip(reason)
    eager, _ = make_pair(kind, "cell", num_layers=2, bidirectional=True, batch_first=True)
    ours_cls, _, extra = KINDS[kind]
    compiled = ours_cls(I, H, num_layers=2, bidirectional=True, batch_first=True, compiled=True, **extra)
    compiled = compiled.double()
    compiled.load_state_dict(eager.state_dict())
    x = torch.randn(B, T, I, dtype=torch.double)
    lengths = torch.tensor([T, 2, 4])
    # an initial state that needs a gradient: every step then sees the same
    # requires_grad flags, so the step compiles once (keeps this test short)
    hx = as_tuple(random_state(kind, 2, True))
    out, state = compiled(x, hx if kind == "lstm" else hx[0], lengths=lengths)
    ref_out, ref_state = eager(x, hx if kind == "lstm" else hx[0], lengths=lengths)
    assert_same(compiled, eager, out, state, ref_out, ref_state)
