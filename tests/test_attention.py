"""Attention scorers against hand-worked values and torch's own SDPA."""

import math

import pytest
import torch
import torch.nn.functional as F

from seqlab.nn.attention import (
    AdditiveAttention, DotAttention, GeneralAttention, PredictivePosition, context, gaussian_window,
    masked_softmax, scaled_dot_product, window_mask, window_positions,
)


def test_dot_attention_hand_worked():
    # q = [0, ln 3], keys = I: scores [0, ln 3] -> weights [1, 3] / 4
    q = torch.tensor([[0.0, math.log(3.0)]])
    keys = torch.eye(2).unsqueeze(0)
    w = DotAttention().scores(q, keys, None)
    assert torch.allclose(w, torch.tensor([[0.25, 0.75]]))
    values = torch.tensor([[[4.0, 0.0], [0.0, 8.0]]])
    assert torch.allclose(context(w, values), torch.tensor([[1.0, 6.0]]))


def test_masked_softmax_zero_on_padding_rows_sum_to_one():
    scores = torch.randn(3, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    w = masked_softmax(scores, mask)
    assert torch.all(w[~mask] == 0)
    assert torch.allclose(w.sum(-1), torch.ones(3))
    assert torch.allclose(w[2, 0], torch.tensor(1.0))
    assert torch.all(masked_softmax(scores, torch.zeros_like(mask)) == 0)  # no NaN


def test_additive_matches_formula():
    torch.manual_seed(0)
    att = AdditiveAttention(query_dim=3, key_dim=4, hidden=5)
    q, h = torch.randn(2, 3), torch.randn(2, 6, 4)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[1, 4:] = False
    w = att.scores(q, att.project_keys(h), mask)
    # e_ij = v^T tanh(W1 h_j + W2 s)
    pre = h @ att.w1.weight.T + (q @ att.w2.weight.T + att.w2.bias)[:, None]  # W1 h_j + W2 s   (B, S, A)
    e = torch.einsum("a,bsa->bs", att.v.weight[0], torch.tanh(pre))
    e = e.masked_fill(~mask, float("-inf"))
    assert torch.allclose(w, torch.softmax(e, -1), atol=1e-6)
    assert torch.all(w[1, 4:] == 0)


def test_general_is_bilinear():
    torch.manual_seed(0)
    att = GeneralAttention(query_dim=3, key_dim=4)
    q, h = torch.randn(2, 3), torch.randn(2, 5, 4)
    w = att.scores(q, att.project_keys(h), None)
    e = torch.einsum("bq,qk,bsk->bs", q, att.w.weight, h)  # h_t^T W_a h_s
    assert torch.allclose(w, torch.softmax(e, -1), atol=1e-6)


def test_window_and_gaussian():
    center = torch.tensor([2.0, 0.4])
    m = window_mask(center, 1, 5)
    assert m.tolist() == [[False, True, True, True, False], [True, True, False, False, False]]
    w = torch.full((1, 5), 0.2)
    g = gaussian_window(w, torch.tensor([2.0]), 2)  # sigma = 1
    assert torch.allclose(g, 0.2 * torch.exp(-torch.tensor([[4.0, 1.0, 0.0, 1.0, 4.0]]) / 2))


def test_predictive_position_inside_source():
    torch.manual_seed(0)
    pos = PredictivePosition(4, 8)
    p = pos(torch.randn(6, 4) * 10, torch.tensor([1, 2, 3, 5, 8, 13]))
    assert torch.all(p >= 0) and torch.all(p <= torch.tensor([0, 1, 2, 4, 7, 12]))


@pytest.mark.parametrize("use_mask", [False, True])
def test_sdpa_path_equals_explicit_path(use_mask):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 4, 8), torch.randn(2, 3, 6, 8), torch.randn(2, 3, 6, 8)
    mask = torch.rand(2, 1, 4, 6) > 0.3 if use_mask else None
    if mask is not None:
        mask[..., 0] = True
    fast, none = scaled_dot_product(q, k, v, mask)
    slow, w = scaled_dot_product(q, k, v, mask, need_weights=True)
    assert none is None and w.shape == (2, 3, 4, 6)
    assert torch.allclose(fast, slow, atol=1e-5)
    assert torch.allclose(w.sum(-1), torch.ones(2, 3, 4))
    if mask is not None:
        assert torch.all(w.masked_select(~mask.expand_as(w)) == 0)
    ref = F.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), -1) @ v
    if mask is None:
        assert torch.allclose(slow, ref, atol=1e-5)


def test_monotonic_position_is_the_step_inside_the_source():
    from seqlab.nn.attention import MonotonicPosition

    p = MonotonicPosition()(torch.zeros(3, 2), torch.tensor([1, 4, 9]), step=3)
    assert p.tolist() == [0.0, 3.0, 3.0]


def test_window_positions_cover_the_window_only():
    pos, valid = window_positions(torch.tensor([2.5, 0.0, 4.0]), 1, 5)
    assert pos.tolist() == [[1, 2, 3], [0, 0, 1], [3, 4, 4]]
    assert valid.tolist() == [[False, True, True], [False, True, True], [True, True, False]]
    g = gaussian_window(torch.ones(1, 3), torch.tensor([2.0]), 2, torch.tensor([[1, 2, 4]]))
    assert torch.allclose(g, torch.exp(-torch.tensor([[1.0, 0.0, 4.0]]) / 2))


@pytest.mark.parametrize("name", ["dot", "general", "concat"])
def test_scores_of_all_steps_at_once_equal_step_by_step(name):
    from seqlab.nn.luong import make_score

    torch.manual_seed(0)
    scorer = make_score(name, 6)
    query, keys = torch.randn(3, 4, 6), scorer.project_keys(torch.randn(3, 5, 6))  # (B, T, H), (B, S, H)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], dtype=torch.bool)
    together = scorer.scores(query, keys, mask)  # (B, T, S)
    one_by_one = torch.stack([scorer.scores(query[:, t], keys, mask) for t in range(4)], 1)
    torch.testing.assert_close(together, one_by_one)
    assert together[1, :, 3:].abs().max() == 0 and torch.allclose(together.sum(-1), torch.ones(3, 4))
