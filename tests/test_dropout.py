"""seqlab.nn.dropout: the CPU mask drawn four 16-bit lanes per random word has dropout's
distribution (rate, independent lanes and neighbours, exact expectation), its gradient, and
torch's behaviour at the edges (eval, p = 0, p = 1, other dtypes)."""

import math

import pytest
import torch
from torch import nn

from seqlab.nn.dropout import LANES, Dropout, dropout

N = 1_000_003  # not a multiple of 4: the last word is cut


def effective(p: float) -> float:
    return round(p * LANES) / LANES


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_per_lane_and_scale(p):
    torch.manual_seed(0)
    y = dropout(torch.ones(N, dtype=torch.float64), p)
    kept = y != 0
    scale = 1 / (1 - effective(p))
    assert torch.equal(y[kept], torch.full_like(y[kept], scale))  # kept elements scaled exactly
    q = 1 - effective(p)
    for lane in range(4):  # each 16-bit lane of a word (a biased top bit would show here)
        k = kept[lane::4]
        sigma = math.sqrt(q * (1 - q) / k.numel())
        assert abs(k.double().mean().item() - q) < 5 * sigma
    assert abs(y.mean().item() - 1.0) < 5 * math.sqrt(scale - 1) / math.sqrt(N)  # E[y] = x


def test_neighbours_are_independent():
    torch.manual_seed(1)
    kept = dropout(torch.ones(N), 0.5) != 0
    both = (kept[:-1] & kept[1:]).double().mean().item()
    assert abs(both - 0.25) < 5 * math.sqrt(0.25 * 0.75 / (N - 1))


def test_gradient_is_the_mask_times_the_scale():
    torch.manual_seed(2)
    x = torch.randn(7, 33, dtype=torch.float64, requires_grad=True)
    y = dropout(x, 0.3)
    g = torch.randn_like(y)
    y.backward(g)
    factor = (y / x).detach()  # 0 or 1 / (1 - p')
    assert set(torch.unique(factor.round(decimals=9)).tolist()) <= {0.0, round(1 / (1 - effective(0.3)), 9)}
    torch.testing.assert_close(x.grad, g * factor)


def test_seeded_and_edges():
    x = torch.randn(5, 40)
    torch.manual_seed(3)
    a = dropout(x, 0.2)
    torch.manual_seed(3)
    assert torch.equal(a, dropout(x, 0.2))
    assert not torch.equal(a, dropout(x, 0.2))  # the generator moved on
    assert dropout(x, 0.2, training=False) is x
    assert dropout(x, 0.0) is x
    assert torch.equal(dropout(x, 1.0), torch.zeros_like(x))
    half = dropout(x.to(torch.bfloat16), 0.5)
    assert half.dtype == torch.bfloat16 and half.shape == x.shape


def test_module_is_a_torch_dropout():
    layer = Dropout(0.25)
    assert isinstance(layer, nn.Dropout) and layer.p == 0.25 and layer.state_dict() == {}
    x = torch.ones(4000)
    assert torch.equal(layer.eval()(x), x)
    out = layer.train()(x)
    assert 0.2 < (out == 0).float().mean().item() < 0.3
