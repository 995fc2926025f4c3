"""seqlab.nn.cells against torch.nn.RNNCell/LSTMCell/GRUCell and hand-worked values."""

import math

import pytest
import torch
from torch import nn

from seqlab.nn import GRUCell, LSTMCell, RNNCell
from seqlab.nn.cells import gru_step, lstm_step, rnn_relu_step, rnn_tanh_step

I, H, B = 3, 5, 4
KINDS = {
    "rnn_tanh": (RNNCell, nn.RNNCell, {"nonlinearity": "tanh"}),
    "rnn_relu": (RNNCell, nn.RNNCell, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, nn.LSTMCell, {}),
    "gru": (GRUCell, nn.GRUCell, {}),
}


def as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("batched", [True, False])
def test_cell_matches_torch(kind, bias, with_hx, batched):
    ours_cls, torch_cls, extra = KINDS[kind]
    torch.manual_seed(0)
    ref = torch_cls(I, H, bias=bias, **extra).double()
    ours = ours_cls(I, H, bias=bias, **extra).double()
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in ref.named_parameters()
    ]
    ours.load_state_dict(ref.state_dict())
    lead = (B,) if batched else ()
    x = torch.randn(*lead, I, dtype=torch.double)
    hx = None
    if with_hx:
        h = torch.randn(*lead, H, dtype=torch.double)
        hx = (h, torch.randn(*lead, H, dtype=torch.double)) if kind == "lstm" else h
    got, want = as_tuple(ours(x, hx)), as_tuple(ref(x, hx))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    sum(s.sum() * (k + 1) for k, s in enumerate(got)).backward()
    sum(s.sum() * (k + 1) for k, s in enumerate(want)).backward()
    ref_params = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, atol=1e-6, rtol=0)


def test_cells_unroll_like_a_layer():
    """Feeding a cell its own state step by step equals torch.nn.LSTM on the sequence."""
    torch.manual_seed(0)
    layer = nn.LSTM(I, H).double()
    cell = LSTMCell(I, H).double()
    cell.load_state_dict({k[:-3]: v for k, v in layer.state_dict().items()})  # drop "_l0"
    x = torch.randn(6, B, I, dtype=torch.double)
    state = None
    for t in range(6):
        state = cell(x[t], state)
    _, (h_n, c_n) = layer(x)
    torch.testing.assert_close(state[0], h_n[0], atol=1e-6, rtol=0)
    torch.testing.assert_close(state[1], c_n[0], atol=1e-6, rtol=0)


def test_lstm_step_hand_worked():
    """All pre-activations 0: i = f = o = 1/2, g = 0, so c = c0/2 and h = tanh(c0/2)/2."""
    c0 = torch.tensor([[2.0, -4.0]])
    h, c = lstm_step(torch.zeros(1, 8), torch.ones(1, 2), c0, torch.zeros(8, 2))
    torch.testing.assert_close(c, torch.tensor([[1.0, -2.0]]))
    torch.testing.assert_close(h, torch.tensor([[math.tanh(1.0) / 2, math.tanh(-2.0) / 2]]))


def test_gru_step_hand_worked():
    """Zero x-part, W_hh = 0, b_hn = 2: r = z = 1/2, n = tanh(r * b_hn) = tanh(1),
    h = (1 - z) n + z h0. The reset gate multiplies W_hn h + b_hn (torch's variant);
    with r applied to h before the product (Cho et al.) n would be tanh(2)."""
    b_hh = torch.tensor([0.0, 0.0, 2.0])
    h0 = torch.tensor([[3.0]])
    h = gru_step(torch.zeros(1, 3), h0, torch.zeros(3, 1), b_hh)
    torch.testing.assert_close(h, torch.tensor([[0.5 * math.tanh(1.0) + 1.5]]))


def test_rnn_steps_hand_worked():
    w = torch.tensor([[2.0]])
    h0 = torch.tensor([[1.0], [-1.0]])
    gx = torch.tensor([[0.5], [0.5]])
    torch.testing.assert_close(rnn_tanh_step(gx, h0, w), torch.tanh(torch.tensor([[2.5], [-1.5]])))
    torch.testing.assert_close(rnn_relu_step(gx, h0, w), torch.tensor([[2.5], [0.0]]))
