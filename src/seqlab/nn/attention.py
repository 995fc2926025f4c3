"""Attention as a stateless function: ``scores(query, keys, mask) -> weights``.

Every scorer here maps one decoder query per example to a distribution over source
positions; the context vector is then ``weights @ values``, computed by the caller
(``context``). Nothing is cached on ``self`` between calls: projections of the keys
that do not depend on the query (Bahdanau's ``W1 h_j``, Luong's ``W_a h_s``) are
computed once per source by ``project_keys`` and handed back in as ``keys``.

Shapes: query (B, Q), keys (B, S, K), mask (B, S) bool with True = real source token,
weights (B, S). A query of all T target steps at once, (B, T, Q), gives weights
(B, T, S): teacher forcing scores every step in one call when nothing feeds back.

References:
    Bahdanau, Cho, Bengio (2015), "Neural Machine Translation by Jointly Learning to
    Align and Translate", Appendix A.1.2 (additive score).
    Luong, Pham, Manning (2015), "Effective Approaches to Attention-based Neural
    Machine Translation", Eq. 8 (dot / general / concat), Eq. 9-10 (local-p).
    Vaswani et al. (2017), "Attention Is All You Need", Eq. 1 (scaled dot product).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.nn.dropout import dropout as drop_out


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Softmax over the last axis with masked positions getting exactly zero weight.

    Args:
        scores: (..., S) real scores.
        mask: (..., S) bool, broadcastable; True = may be attended. None = all.
    Returns: (..., S) weights summing to 1 over the unmasked positions (rows with no
        unmasked position come out all zero instead of NaN).
    """
    if mask is None:
        return torch.softmax(scores, dim=-1)
    scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights.nan_to_num(0.0)  # fully masked rows: 0/0 -> 0


def _for_query(mask: torch.Tensor | None, query: torch.Tensor) -> torch.Tensor | None:
    """A (B, S) source mask shaped for a (B, Q) or a (B, T, Q) query."""
    return mask if mask is None or query.dim() == 2 else mask.unsqueeze(1)  # (B, 1, S)


def context(weights: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """c_i = sum_j alpha_ij v_j.  weights (B, S) or (B, T, S); values (B, S, D)."""
    if weights.dim() == 2:
        return torch.bmm(weights.unsqueeze(1), values).squeeze(1)  # (B, D)
    return torch.bmm(weights, values)  # (B, T, D)


class AdditiveAttention(nn.Module):
    """Bahdanau's additive score: e_ij = v^T tanh(W1 h_j + W2 s_{i-1}).

    Also Luong's "concat" score v^T tanh(W [h_t; h_s]), which is the same function
    with W split column-wise into W2 (query part) and W1 (key part).

    Args:
        query_dim: width of s_{i-1}.
        key_dim: width of h_j.
        hidden: width of the tanh layer (the paper's n').
    """

    def __init__(self, query_dim: int, key_dim: int, hidden: int) -> None:
        super().__init__()
        self.w1 = nn.Linear(key_dim, hidden, bias=False)
        self.w2 = nn.Linear(query_dim, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """W1 h_j for all j, once per source: (B, S, K) -> (B, S, A)."""
        return self.w1(keys)

    def scores(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """query (B, Q) or (B, T, Q); keys = project_keys(h) (B, S, A); weights (B, S) or (B, T, S)."""
        return self.scores_projected(self.w2(query), keys, mask)

    def scores_projected(self, q: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """The same from the projected query q = W2 s + b2, (B, A) or (B, T, A), made by the
        caller (fused decoders form it with the weight collected once per sequence)."""
        k = keys if q.dim() == 2 else keys.unsqueeze(1)  # (B, S, A) or (B, 1, S, A)
        e = self.v(torch.tanh(k + q.unsqueeze(-2))).squeeze(-1)  # (B, S) or (B, T, S)
        return masked_softmax(e, _for_query(mask, q))


class DotAttention(nn.Module):
    """Luong's dot score: score(h_t, h_s) = h_t^T h_s (query and key widths equal)."""

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        return keys

    def scores(self, query: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """query (B, Q) or (B, T, Q); keys (B, S, Q); weights (B, S) or (B, T, S)."""
        # One step's query as a one-row (B, 1, Q) block: (B, 1, Q) x (B, Q, S) runs about 3x faster
        # on a CPU than the same products laid out as (B, S, Q) x (B, Q, 1), forward and backward.
        one_step = query.dim() == 2
        q = query.unsqueeze(1) if one_step else query  # (B, T, Q), T = 1 for one step
        e = torch.bmm(q, keys.transpose(1, 2))  # (B, T, S)
        return masked_softmax(e.squeeze(1) if one_step else e, _for_query(mask, query))


class GeneralAttention(DotAttention):
    """Luong's general score: score(h_t, h_s) = h_t^T W_a h_s.

    W_a h_s does not depend on the query, so it is applied to the keys once.
    """

    def __init__(self, query_dim: int, key_dim: int) -> None:
        super().__init__()
        self.w = nn.Linear(key_dim, query_dim, bias=False)

    def project_keys(self, keys: torch.Tensor) -> torch.Tensor:
        return self.w(keys)  # (B, S, Q)


def window_mask(center: torch.Tensor, half_width: int, length: int) -> torch.Tensor:
    """Positions s with |s - p_t| <= D, the local attention window (Luong Sec. 3.2).

    Args:
        center: (B,) aligned positions p_t (real for local-p, integer for local-m).
        half_width: D.
        length: S, padded source length.
    Returns: (B, S) bool.
    """
    s = torch.arange(length, device=center.device, dtype=center.dtype)  # (S,)
    return (s.unsqueeze(0) - center.unsqueeze(1)).abs() <= half_width


class MonotonicPosition(nn.Module):
    """Luong's local-m aligned position: p_t = t, kept inside each source (0-based)."""

    gaussian = False  # plain window, no Gaussian weighting

    def forward(self, query: torch.Tensor, src_lengths: torch.Tensor, step: int) -> torch.Tensor:
        """query (B, Q) (unused), src_lengths (B,), target step t -> p_t (B,) float."""
        return (src_lengths - 1).clamp(max=step).to(query.dtype)


class PredictivePosition(nn.Module):
    """Luong's local-p aligned position, Eq. 9: p_t = S * sigmoid(v_p^T tanh(W_p h_t)).

    S is each sentence's own source length; we map into [0, S-1] (0-based positions),
    so p_t = (S - 1) * sigmoid(...).
    """

    gaussian = True  # the window is weighted by exp(-(s - p_t)^2 / (2 sigma^2)), Eq. 10

    def __init__(self, query_dim: int, hidden: int) -> None:
        super().__init__()
        self.w = nn.Linear(query_dim, hidden, bias=False)
        self.v = nn.Linear(hidden, 1, bias=False)

    def forward(self, query: torch.Tensor, src_lengths: torch.Tensor, step: int = 0) -> torch.Tensor:
        """query (B, Q), src_lengths (B,) -> p_t (B,) float (the step is not used)."""
        gate = torch.sigmoid(self.v(torch.tanh(self.w(query)))).squeeze(-1)  # (B,)
        return (src_lengths.to(gate.dtype) - 1) * gate


def gaussian_window(weights: torch.Tensor, center: torch.Tensor, half_width: int,
                    positions: torch.Tensor | None = None) -> torch.Tensor:
    """Luong Eq. 10: a_t(s) = align(h_t, h_s) * exp(-(s - p_t)^2 / (2 sigma^2)), sigma = D/2.

    As in the paper the result is not renormalized, so a row sums to at most 1.
    weights (B, S) over positions 0..S-1, or over ``positions`` (B, W); center (B,).
    """
    if positions is None:
        positions = torch.arange(weights.size(-1), device=weights.device).unsqueeze(0)  # (1, S)
    sigma = half_width / 2.0
    g = torch.exp(-((positions.to(weights.dtype) - center.unsqueeze(1)) ** 2) / (2 * sigma**2))
    return weights * g


def window_positions(center: torch.Tensor, half_width: int, length: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The 2D + 1 source positions around p_t that can lie in its window, for gathering.

    Every s with |s - p_t| <= D lies in floor(p_t) - D .. floor(p_t) + D, so local
    attention needs to score only these W = 2D + 1 positions: O(D) instead of O(S).
    Returns positions (B, W) clamped into [0, S - 1] and valid (B, W) bool (inside the
    source and the window; a clamped duplicate is never valid).
    """
    offsets = torch.arange(-half_width, half_width + 1, device=center.device)  # (W,)
    pos = center.floor().long().unsqueeze(1) + offsets  # (B, W)
    valid = (pos >= 0) & (pos < length) & ((pos.to(center.dtype) - center.unsqueeze(1)).abs() <= half_width)
    return pos.clamp(0, length - 1), valid


def scaled_dot_product(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None,
    dropout: float = 0.0,
    need_weights: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V  (Vaswani Eq. 1), per head.

    The fast path calls ``F.scaled_dot_product_attention`` (fused kernels); the
    explicit path computes the same thing step by step and also returns the weights.

    Args:
        q: (B, H, T, d), k and v: (B, H, S, d).
        mask: bool, broadcastable to (B, H, T, S); True = may attend. None = all.
        dropout: attention dropout probability (pass 0.0 at evaluation time).
        need_weights: take the explicit path and return weights (B, H, T, S).
    Returns: (out (B, H, T, d), weights or None).
    """
    if not need_weights and (dropout == 0.0 or q.device.type != "cpu"):
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        return out, None
    # explicit: for the weights, or for dropout on a CPU, where SDPA draws its mask per element
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, H, T, S)
    weights = masked_softmax(scores, mask)
    dropped = drop_out(weights, dropout)
    return dropped @ v, weights  # (B, H, T, d)
