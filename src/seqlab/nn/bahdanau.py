"""Bahdanau, Cho, Bengio (2015): RNN encoder-decoder with additive attention.

Equations (paper Sec. 3 and Appendix A.1.2), i = target step, j = source position:

    h_j     = [->h_j ; <-h_j]                         bidirectional encoder annotations
    s_0     = tanh(W_s <-h_1)                         initial decoder state
    e_ij    = v_a^T tanh(W_a s_{i-1} + U_a h_j)       additive score (U_a h_j precomputed)
    a_ij    = softmax_j(e_ij)
    c_i     = sum_j a_ij h_j
    s_i     = f(s_{i-1}, [E y_{i-1}; c_i])            the context enters the recurrence
    logits  = W_o tanh(T [s_i; E y_{i-1}; c_i])       readout

Deviation: the paper's readout uses a maxout layer; we use tanh (same inputs).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.nn.attention import AdditiveAttention, context
from seqlab.nn.dropout import Dropout
from seqlab.nn.fused_decoder import DecoderStack
from seqlab.nn.loop_ops import LoopLinear, LoopRead
from seqlab.nn.recurrent import GRU, LSTM
from seqlab.nn.seq2seq import EncoderDecoder, Memory, RNNEncoder, RnnClass, make_rnn, map_state, top_hidden


class Bahdanau(EncoderDecoder):
    """Attention encoder-decoder of Bahdanau et al.; ``decode_step`` returns a_i (B, S).

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.
        embed_dim: E.  hidden: H per encoder direction and for the decoder.
        attn_dim: width of the additive score's tanh layer.
        enc_layers, dec_layers: stacked layers; the top decoder layer is the query.
        cell: the LSTM or GRU class (the paper's gated unit is GRU-like).
        fused: True / False / None (default: while training on a CPU), see ``EncoderDecoder``.
    """

    has_fused = True

    def __init__(
        self, src_vocab: int, tgt_vocab: int, embed_dim: int = 64, hidden: int = 128,
        attn_dim: int = 128, enc_layers: int = 1, dec_layers: int = 1, dropout: float = 0.0,
        cell: RnnClass = GRU, pad_id: int = 0, fused: bool | None = None,
    ) -> None:
        super().__init__()
        self.dec_layers, self.fused = dec_layers, fused
        self.encoder = RNNEncoder(src_vocab, embed_dim, hidden, enc_layers, True, dropout, cell, pad_id)
        self.attention = AdditiveAttention(hidden, 2 * hidden, attn_dim)
        self.init_proj = nn.Linear(hidden, hidden)  # W_s
        self.embed = nn.Embedding(tgt_vocab, embed_dim, padding_idx=pad_id)
        self.drop = Dropout(dropout)
        self.decoder = make_rnn(cell, embed_dim + 2 * hidden, hidden, dec_layers, dropout=dropout)
        self.readout_layer = nn.Linear(hidden + embed_dim + 2 * hidden, hidden)  # T
        self.out = nn.Linear(hidden, tgt_vocab)  # W_o
        self.is_lstm = issubclass(cell, LSTM)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        outputs, final = self.encoder(src, src_mask, self.use_fused(src))  # (B, S, 2H)
        backward_first = top_hidden(final)  # <-h_1: the last entry is the top backward pass (B, H)
        s0 = torch.tanh(self.init_proj(backward_first))  # (B, H)
        s0 = s0.unsqueeze(0).expand(self.dec_layers, -1, -1).contiguous()  # (L, B, H)
        final = (s0, torch.zeros_like(s0)) if self.is_lstm else s0
        return Memory(outputs=outputs, mask=src_mask, keys=self.attention.project_keys(outputs), final=final)

    def init_state(self, memory: Memory):
        return memory.final

    def recur(self, prev_tokens, state, memory):
        """One decoder step up to the readout's input [s_i; E y_{i-1}; c_i] (B, H + E + 2H)."""
        emb = self.drop(self.embed(prev_tokens))  # (B, E)
        weights = self.attention.scores(top_hidden(state), memory.keys, memory.mask)  # a_i (B, S), query s_{i-1}
        ctx = context(weights, memory.outputs)  # c_i (B, 2H)
        out, state = self.decoder(torch.cat([emb, ctx], -1).unsqueeze(1), state)  # (B, 1, H)
        return torch.cat([out.squeeze(1), emb, ctx], -1), state, weights

    def forward_fused(self, src, src_mask, tgt_in):
        """Teacher forcing as ``forward`` computes it, the weight work done once per sequence:
        E y_{i-1}'s share of the gates for all i before the loop, inside it only
        e_i = v^T tanh(W_a s_{i-1} + U_a h_j + b_a) (b_a added to the keys once), c_i, and
        s_i = f(s_{i-1}, c_i) as one GEMM per layer; the readout after it, for all i at once."""
        memory = self.encode(src, src_mask)
        emb = self.drop(self.embed(tgt_in))  # E y_{i-1} for all i (B, T, E)
        batch, steps = tgt_in.shape
        stack = DecoderStack(self.decoder, emb, extra=memory.outputs.size(-1), training=self.training)
        w_a = self.attention.w2
        query = LoopLinear([w_a.weight], None, steps, batch, stack.dtype)  # W_a s_{i-1}
        keys = memory.keys if w_a.bias is None else memory.keys + w_a.bias.to(memory.keys.dtype)  # (B, S, A)
        read = LoopRead(memory.outputs, steps, stack.dtype)  # c_i = a_i h, dh once
        state = stack.initial(memory.final)
        outs, contexts, attns = [], [], []
        for i in range(steps):
            weights = self.attention.scores_projected(query(i, [stack.top(state)]), keys, memory.mask)  # a_i (B, S)
            ctx = read(i, weights)  # c_i (B, 2H)
            out, state = stack.step(i, ctx, state)  # s_i (B, H)
            outs.append(out)
            contexts.append(ctx)
            attns.append(weights)
        features = torch.cat([torch.stack(outs, 1), emb, torch.stack(contexts, 1)], -1)  # (B, T, H + E + 2H)
        return self.readout(features), torch.stack(attns, 1)  # (B, T, V), (B, T, S)

    def readout(self, features: torch.Tensor) -> torch.Tensor:
        """logits = W_o tanh(T [s_i; E y_{i-1}; c_i]), for one step or all steps at once."""
        return self.out(self.drop(torch.tanh(self.readout_layer(features))))

    def reorder_state(self, state, index):
        return map_state(state, lambda t: t.index_select(1, index))
