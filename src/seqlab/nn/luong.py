"""Luong, Pham, Manning (2015): global and local attention with input feeding.

Equations (paper Sec. 3), t = target step, s = source position:

    h_t     = LSTM(h_{t-1}, [E y_{t-1}; ~h_{t-1}])   input feeding (Sec. 3.3), or E y_{t-1} alone
    score   = h_t^T h_s | h_t^T W_a h_s | v_a^T tanh(W_a [h_t; h_s])      Eq. 8
    a_t     = softmax(score) over the window           global: all s; local: |s - p_t| <= D
    p_t     = t (local-m)  or  S sigmoid(v_p^T tanh(W_p h_t)) (local-p, Eq. 9)
    a_t(s) *= exp(-(s - p_t)^2 / (2 sigma^2)), sigma = D / 2      local-p only, Eq. 10
    c_t     = sum_s a_t(s) h_s
    ~h_t    = tanh(W_c [c_t; h_t])                      Eq. 5
    logits  = W_s ~h_t                                  Eq. 6

Unlike Bahdanau, the query is the *current* decoder state h_t, and the context reaches
the next step only through input feeding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from seqlab.nn.attention import (
    AdditiveAttention, DotAttention, GeneralAttention, MonotonicPosition, PredictivePosition, context,
    gaussian_window, window_positions,
)
from seqlab.nn.dropout import Dropout
from seqlab.nn.fused_decoder import DecoderStack, run_layers
from seqlab.nn.loop_ops import LoopLinear, LoopRead
from seqlab.nn.recurrent import LSTM
from seqlab.nn.seq2seq import EncoderDecoder, Memory, RNNEncoder, RnnClass, RnnState, make_rnn, map_state

Score = Literal["dot", "general", "concat"]
Mode = Literal["global", "local-m", "local-p"]


@dataclass(frozen=True)
class LuongState:
    """Decoder state: the LSTM state, the previous attentional vector ~h_{t-1} (B, H), and t."""

    rnn: RnnState
    feed: torch.Tensor
    step: int


def make_score(score: Score, hidden: int) -> nn.Module:
    """The score function of Luong Eq. 8 (query and keys are both H wide)."""
    match score:
        case "dot":
            return DotAttention()
        case "general":
            return GeneralAttention(hidden, hidden)
        case "concat":
            return AdditiveAttention(hidden, hidden, hidden)
    raise ValueError(f"unknown score {score!r}; choose dot, general or concat")


def make_position(mode: Mode, hidden: int) -> nn.Module | None:
    """The aligned-position model of a local mode (Sec. 3.2); None for global attention."""
    match mode:
        case "global":
            return None
        case "local-m":
            return MonotonicPosition()
        case "local-p":
            return PredictivePosition(hidden, hidden)
    raise ValueError(f"unknown mode {mode!r}; choose global, local-m or local-p")


class Luong(EncoderDecoder):
    """Luong attention encoder-decoder; ``decode_step`` returns a_t (B, S).

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.
        embed_dim: E.  hidden: H (encoder and decoder).  num_layers: stacked LSTM layers.
        score: "dot", "general" or "concat".
        mode: "global", "local-m" or "local-p".
        half_width: D, the local window half-width.
        input_feed: feed ~h_{t-1} into the next step (Sec. 3.3).
        fused: True / False / None (default: while training on a CPU), see ``EncoderDecoder``.
    """

    has_fused = True

    def __init__(
        self, src_vocab: int, tgt_vocab: int, embed_dim: int = 64, hidden: int = 128,
        num_layers: int = 1, score: Score = "general", mode: Mode = "global", half_width: int = 10,
        input_feed: bool = True, dropout: float = 0.0, cell: RnnClass = LSTM, pad_id: int = 0,
        fused: bool | None = None,
    ) -> None:
        super().__init__()
        self.half_width, self.input_feed, self.hidden, self.fused = half_width, input_feed, hidden, fused
        self.encoder = RNNEncoder(src_vocab, embed_dim, hidden, num_layers, False, dropout, cell, pad_id)
        self.score = make_score(score, hidden)
        self.position = make_position(mode, hidden)  # None: global attention
        self.embed = nn.Embedding(tgt_vocab, embed_dim, padding_idx=pad_id)
        self.drop = Dropout(dropout)
        in_dim = embed_dim + (hidden if input_feed else 0)
        self.decoder = make_rnn(cell, in_dim, hidden, num_layers, dropout=dropout)
        self.combine = nn.Linear(2 * hidden, hidden, bias=False)  # W_c
        self.out = nn.Linear(hidden, tgt_vocab)  # W_s

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        outputs, final = self.encoder(src, src_mask, self.use_fused(src))  # (B, S, H)
        return Memory(outputs=outputs, mask=src_mask, keys=self.score.project_keys(outputs), final=final)

    def init_state(self, memory: Memory) -> LuongState:
        feed = memory.outputs.new_zeros(memory.outputs.size(0), self.hidden)  # ~h_0 = 0
        return LuongState(rnn=memory.final, feed=feed, step=0)

    def attend(self, query: torch.Tensor, memory: Memory, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """c_t (B, H) and a_t (B, S), zero on padding and outside a local window.

        Local modes gather only the 2D + 1 positions around p_t, so scoring and the
        context cost O(D) per step instead of O(S); a_t is scattered back to (B, S).
        """
        if self.position is None:
            weights = self.score.scores(query, memory.keys, memory.mask)  # (B, S)
            return context(weights, memory.outputs), weights
        center = self.position(query, memory.mask.sum(1), step)  # p_t (B,)
        pos, valid = window_positions(center, self.half_width, memory.mask.size(1))  # (B, W)
        valid = valid & memory.mask.gather(1, pos)
        keys = memory.keys.gather(1, pos.unsqueeze(-1).expand(-1, -1, memory.keys.size(-1)))  # (B, W, A)
        values = memory.outputs.gather(1, pos.unsqueeze(-1).expand(-1, -1, memory.outputs.size(-1)))  # (B, W, H)
        weights = self.score.scores(query, keys, valid)  # (B, W)
        if self.position.gaussian:
            weights = gaussian_window(weights, center, self.half_width, pos)
        full = weights.new_zeros(memory.mask.shape).scatter_add(1, pos, weights)  # (B, S)
        return context(weights, values), full

    def recur(self, prev_tokens, state: LuongState, memory: Memory):
        """One decoder step up to the attentional vector ~h_t (B, H)."""
        emb = self.drop(self.embed(prev_tokens))  # (B, E)
        inp = torch.cat([emb, state.feed], -1) if self.input_feed else emb
        out, rnn = self.decoder(inp.unsqueeze(1), state.rnn)  # (B, 1, H)
        h = out.squeeze(1)  # h_t (B, H)
        ctx, weights = self.attend(h, memory, state.step)  # c_t (B, H), a_t (B, S)
        attentional = torch.tanh(self.combine(torch.cat([ctx, h], -1)))  # ~h_t (B, H)
        return attentional, LuongState(rnn=rnn, feed=attentional, step=state.step + 1), weights

    def readout(self, features: torch.Tensor) -> torch.Tensor:
        """logits = W_s ~h_t (Eq. 6), for one step or all steps at once."""
        return self.out(self.drop(features))

    def forward(self, src, src_mask, tgt_in, need_weights=False):
        """Teacher forcing. Without input feeding nothing feeds back, so the decoder LSTM
        runs over all T inputs in one call; global attention scores all T steps at once too."""
        if self.input_feed:
            return super().forward(src, src_mask, tgt_in, need_weights)
        memory = self.encode(src, src_mask)
        emb = self.drop(self.embed(tgt_in))  # (B, T, E)
        if self.use_fused(src):  # the decoder's weight gradients as single GEMMs over all T steps
            h, _ = run_layers(self.decoder, emb, memory.final, training=self.training)  # h_t for all t (B, T, H)
        else:
            h, _ = self.decoder(emb, memory.final)  # h_t for all t (B, T, H)
        if self.position is None:  # global: every step's alignment in one batched call
            weights = self.score.scores(h, memory.keys, memory.mask)  # (B, T, S)
            ctx = context(weights, memory.outputs)  # (B, T, H)
        else:
            steps = [self.attend(h[:, t], memory, t) for t in range(h.size(1))]
            ctx = torch.stack([c for c, _ in steps], 1)  # (B, T, H)
            weights = torch.stack([a for _, a in steps], 1)  # (B, T, S)
        attentional = torch.tanh(self.combine(torch.cat([ctx, h], -1)))  # ~h_t (B, T, H)
        return self.readout(attentional), weights  # (B, T, V)

    def forward_fused(self, src, src_mask, tgt_in):
        """Teacher forcing with input feeding, the weight work done once per sequence: E y_{t-1}'s
        share of the gates for all t before the loop; inside it h_t = f(h_{t-1}, [.; ~h_{t-1}])
        as one GEMM per layer, the attention read, ~h_t = tanh(W_c [c_t; h_t]); W_s after it.
        The concat score's W_a h_t is collected too (global attention; local modes score
        through ``attend``, their position model's weights per step)."""
        if not self.input_feed:
            return self.forward(src, src_mask, tgt_in)  # its decoder LSTM runs fused on its own
        memory = self.encode(src, src_mask)
        emb = self.drop(self.embed(tgt_in))  # (B, T, E)
        batch, steps = tgt_in.shape
        stack = DecoderStack(self.decoder, emb, extra=self.hidden, training=self.training)
        combine = LoopLinear([self.combine.weight], self.combine.bias, steps, batch, stack.dtype)  # W_c
        query = read = None
        if self.position is None:  # global attention: c_t = a_t h, dh once
            read = LoopRead(memory.outputs, steps, stack.dtype)
            if isinstance(self.score, AdditiveAttention):
                w_a = self.score.w2
                query = LoopLinear([w_a.weight], w_a.bias, steps, batch, stack.dtype)  # W_a h_t + b_a
        feed = memory.outputs.new_zeros(batch, self.hidden)  # ~h_0 = 0
        state = stack.initial(memory.final)
        feeds, attns = [], []
        for t in range(steps):
            h, state = stack.step(t, feed, state)  # h_t (B, H)
            if read is None:  # local attention: the window's own gather and read
                ctx, weights = self.attend(h, memory, t)
            else:
                if query is not None:
                    weights = self.score.scores_projected(query(t, [h]), memory.keys, memory.mask)  # a_t (B, S)
                else:
                    weights = self.score.scores(h, memory.keys, memory.mask)
                ctx = read(t, weights)  # c_t (B, H)
            feed = torch.tanh(combine(t, [ctx, h]))  # ~h_t (B, H)
            feeds.append(feed)
            attns.append(weights)
        return self.readout(torch.stack(feeds, 1)), torch.stack(attns, 1)  # (B, T, V), (B, T, S)

    def reorder_state(self, state: LuongState, index):
        rnn = map_state(state.rnn, lambda t: t.index_select(1, index))
        return LuongState(rnn=rnn, feed=state.feed.index_select(0, index), step=state.step)
