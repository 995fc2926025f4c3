"""seqlab.nn.init: each scheme checked by the property it promises, on torch's
modules, seqlab's layers and cells, and a model that contains one."""

import math

import pytest
import torch
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.nn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell, SequenceModel
from seqlab.nn.init import forget_gate_bias_, identity_, orthogonal_, xavier_

I, H = 3, 8
MODULES = {
    "torch_lstm": lambda: nn.LSTM(I, H, num_layers=2, bidirectional=True),
    "torch_gru": lambda: nn.GRU(I, H),
    "torch_rnn": lambda: nn.RNN(I, H, nonlinearity="relu"),
    "torch_lstm_cell": lambda: nn.LSTMCell(I, H),
    "lstm": lambda: LSTM(I, H, num_layers=2, bidirectional=True),
    "gru": lambda: GRU(I, H, num_layers=2),
    "rnn": lambda: RNN(I, H, nonlinearity="relu"),
    "lstm_cell": lambda: LSTMCell(I, H),
    "gru_cell": lambda: GRUCell(I, H),
    "rnn_cell": lambda: RNNCell(I, H),
}


def recurrent_params(m, prefix):
    return [(n, p) for n, p in m.named_parameters() if n.split(".")[-1].startswith(prefix)]


@pytest.mark.parametrize("name", MODULES)
def test_orthogonal_blocks(name):
    m = MODULES[name]()
    orthogonal_(m)
    weights = recurrent_params(m, "weight_hh")
    assert weights
    for _, w in weights:
        assert w.shape[0] % H == 0
        blocks = w.detach().split(H)  # (H, H) per gate
        for block in blocks:
            torch.testing.assert_close(block.T @ block, torch.eye(H), atol=1e-5, rtol=0)
        if len(blocks) > 1:  # each gate draws its own matrix
            assert not torch.allclose(blocks[0], blocks[1])


@pytest.mark.parametrize("name", MODULES)
def test_identity_exact(name):
    m = MODULES[name]()
    identity_(m, scale=0.5)
    for _, w in recurrent_params(m, "weight_hh"):
        for block in w.detach().split(H):
            assert torch.equal(block, 0.5 * torch.eye(H))
    for _, b in recurrent_params(m, "bias"):
        assert torch.equal(b, torch.zeros_like(b))


@pytest.mark.parametrize("name", MODULES)
def test_xavier_bound_per_block_and_zero_bias(name):
    m = MODULES[name]()
    xavier_(m)
    for _, w in recurrent_params(m, "weight_"):
        bound = math.sqrt(6.0 / (w.shape[1] + H))
        assert w.abs().max() <= bound
        assert w.abs().max() > bound / 2  # spread over the range, not left tiny
    for _, b in recurrent_params(m, "bias"):
        assert torch.equal(b, torch.zeros_like(b))


@pytest.mark.parametrize("name", ["torch_lstm", "torch_lstm_cell", "lstm", "lstm_cell"])
def test_forget_gate_bias_slice(name):
    m = MODULES[name]()
    before = {n: p.detach().clone() for n, p in m.named_parameters()}
    forget_gate_bias_(m, 2.0)
    for n, b in recurrent_params(m, "bias_ih"):
        assert torch.equal(b[H:2 * H], torch.full((H,), 2.0))
        other = torch.cat([b[:H], b[2 * H:]])
        assert torch.equal(other, torch.cat([before[n][:H], before[n][2 * H:]]))
    for n, b in recurrent_params(m, "bias_hh"):
        assert torch.equal(b[H:2 * H], torch.zeros(H))
        partner = dict(m.named_parameters())[n.replace("bias_hh", "bias_ih")]
        assert torch.equal(b[H:2 * H] + partner[H:2 * H], torch.full((H,), 2.0))


def test_forget_gate_bias_changes_the_forget_gate():
    """With a large bias the forget gate saturates open: zero input keeps c almost intact."""
    cell = LSTMCell(I, H).double()
    with torch.no_grad():
        cell.weight_hh.zero_()
    forget_gate_bias_(cell, 20.0)
    c0 = torch.randn(2, H, dtype=torch.double)
    _, c = cell(torch.zeros(2, I, dtype=torch.double), (torch.zeros(2, H, dtype=torch.double), c0))
    f = torch.sigmoid(torch.tensor(20.0, dtype=torch.double))
    i_g = torch.sigmoid(cell.bias_ih[:H] + cell.bias_hh[:H]) * torch.tanh(
        cell.bias_ih[2 * H:3 * H] + cell.bias_hh[2 * H:3 * H]
    )
    torch.testing.assert_close(c, f * c0 + i_g, atol=1e-12, rtol=0)


def test_init_reaches_inside_a_model_and_leaves_the_rest():
    model = SequenceModel(LSTM(4, H, batch_first=True), H, 2, input_dim=3, embed_dim=4)
    head = model.head.weight.detach().clone()
    orthogonal_(model)
    forget_gate_bias_(model, 1.0)
    assert torch.equal(model.head.weight, head)
    block = model.backbone.weight_hh_l0.detach()[:H]
    torch.testing.assert_close(block.T @ block, torch.eye(H), atol=1e-5, rtol=0)


def test_clear_errors_without_recurrent_layers():
    with pytest.raises(SeqlabError, match="no recurrent"):
        orthogonal_(nn.Linear(3, 3))
    with pytest.raises(SeqlabError, match="LSTM"):
        forget_gate_bias_(GRU(I, H))
