"""The encoder-decoder interface shared by every translation model, and Sutskever's seq2seq.

One interface, so that greedy and beam search (``seqlab.decode``) and the trainer work
for all models alike:

* ``encode(src, src_mask) -> Memory``: run the encoder once per source batch.
* ``init_state(memory) -> state``: the decoder state before the first target token.
* ``decode_step(prev_tokens, state, memory, need_weights=False) -> (logits, state, attn)``:
  one target step with incremental state (RNN state, Transformer key/value cache,
  convolution buffers), so a step never recomputes the prefix.
* ``reorder_state(state, index) -> state``: pick hypotheses along the batch axis
  (beam search).
* ``forward(src, src_mask, tgt_in, need_weights=False) -> (logits (B, T, V), attn)``:
  teacher forcing; ``tgt_in`` starts with BOS; attn is (B, [H,] T, S) or None.

``need_weights`` asks for the attention weights; models that compute them anyway (the
RNN and convolutional ones) always return them, the Transformer only when asked (its
fast path uses fused kernels that do not expose them). Seq2Seq has none: attn is None.

Tokens: src (B, S) long, src_mask (B, S) bool (True = real token, right padding),
tgt_in (B, T) long.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.nn.dropout import Dropout
from seqlab.nn.fused_decoder import run_layers
from seqlab.nn.recurrent import GRU, LSTM

RnnClass = type[LSTM] | type[GRU]  # the recurrent layer of an encoder or decoder (seqlab.build picks it)

RnnState = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Memory:
    """What the encoder hands the decoder; every tensor is batch-first except ``final``.

    Attributes:
        outputs: (B, S, D) encoder outputs (annotations h_j).
        mask: (B, S) bool, True = real source token.
        keys: (B, S, A) query-independent projection of the outputs (or None).
        values: (B, S, D') what the context averages when it differs from outputs.
        final: encoder final RNN state, layers first: (L, B, H) or a tuple of them.
    """

    outputs: torch.Tensor
    mask: torch.Tensor
    keys: torch.Tensor | None = None
    values: torch.Tensor | None = None
    final: RnnState | None = None

    def index_select(self, index: torch.Tensor) -> "Memory":
        """Rows ``index`` of every tensor (beam search expands each source K times)."""
        changes = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "final":
                changes[f.name] = None if value is None else map_state(value, lambda t: t.index_select(1, index))
            elif value is not None:
                changes[f.name] = value.index_select(0, index)
        return replace(self, **changes)


def make_rnn(cell: RnnClass, input_size: int, hidden: int, num_layers: int = 1,
             bidirectional: bool = False, dropout: float = 0.0) -> nn.Module:
    """A batch-first seqlab LSTM/GRU on the fused backend (same numbers as the cell backend)."""
    return cell(
        input_size, hidden, num_layers, batch_first=True, bidirectional=bidirectional,
        dropout=dropout if num_layers > 1 else 0.0, backend="fused",
    )


def map_state(state: RnnState, fn) -> RnnState:
    """Apply ``fn`` to the tensor(s) of an LSTM ``(h, c)`` or GRU ``h`` state."""
    if isinstance(state, tuple):
        return tuple(fn(t) for t in state)
    return fn(state)


def top_hidden(state: RnnState) -> torch.Tensor:
    """The last layer's hidden vector h (B, H) of an LSTM or GRU state."""
    h = state[0] if isinstance(state, tuple) else state
    return h[-1]


def sequence_loss(logits: torch.Tensor, target: torch.Tensor, pad_id: int, label_smoothing: float = 0.0,
                  reduction: str = "mean"):
    """Token cross-entropy, padding ignored, with optional label smoothing.

    Label smoothing (Szegedy et al. 2016; used by Vaswani et al. 2017, Sec. 5.4) trains
    against (1 - eps) * one_hot + eps / V.
    logits (B, T, V), target (B, T) long -> scalar: the mean over real tokens, or their
    sum with ``reduction="sum"`` (data-parallel training divides by the global count).
    """
    return F.cross_entropy(
        logits.reshape(-1, logits.size(-1)),
        target.reshape(-1),
        ignore_index=pad_id,
        label_smoothing=label_smoothing,
        reduction=reduction,
    )


def reverse_padded(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Reverse each row's real tokens in place, keep right padding: [a b c pad] -> [c b a pad]."""
    lengths = mask.sum(1, keepdim=True)  # (B, 1)
    pos = torch.arange(tokens.size(1), device=tokens.device).unsqueeze(0)  # (1, S)
    index = torch.where(pos < lengths, lengths - 1 - pos, pos)  # (B, S)
    return tokens.gather(1, index)


class RNNEncoder(nn.Module):
    """Embedding + (bi)directional stacked LSTM/GRU over right-padded sources.

    Padding is packed away, so the final state of each sentence is the one after its
    last real token, and outputs at padded positions are zero.
    """

    def __init__(
        self, vocab_size: int, embed_dim: int, hidden: int, num_layers: int = 1,
        bidirectional: bool = False, dropout: float = 0.0, cell: RnnClass = LSTM, pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        self.drop = Dropout(dropout)
        self.rnn = make_rnn(cell, embed_dim, hidden, num_layers, bidirectional, dropout)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor, fused: bool = False) -> tuple[torch.Tensor, RnnState]:
        """Returns outputs (B, S, dirs*H) and the final state (L*dirs, B, H).

        ``fused``: the same function with W_hh's gradient one GEMM per layer and direction
        (``seqlab.nn.fused_decoder.run_layers``) instead of torch's packed-sequence kernel."""
        emb = self.drop(self.embed(src))  # (B, S, E)
        if fused:
            out, final = run_layers(self.rnn, emb, lengths=src_mask.sum(1), training=self.training)
        else:
            out, final = self.rnn(emb, lengths=src_mask.sum(1))  # padded steps: zero outputs
        return self.drop(out), final  # (B, S, dirs*H)


class EncoderDecoder(nn.Module):
    """Base class: the interface above, with a step-by-step teacher-forced ``forward``.

    Recurrent attention decoders (Bahdanau, Luong) implement two halves of a step:
    ``recur(prev_tokens, state, memory) -> (features (B, F), state, attn)``, the part
    that must run in order, and ``readout(features (..., F)) -> logits (..., V)``, which
    teacher forcing applies to all T steps in one call. Models whose decoder runs all
    target positions at once (Seq2Seq, Transformer, ConvS2S) override ``decode_step``
    and ``forward`` instead.

    ``fused`` (models with ``has_fused``): True = teacher forcing computes the same function
    with the recurrent weights' work done once per sequence (``seqlab.nn.fused_decoder``;
    ``forward_fused`` and a fused encoder); False = the step-by-step reference path above;
    None (default) = fused while gradients are recorded on a CPU, where it was measured
    equal and faster (benchmarks/mt_throughput.py), plain elsewhere (no-grad evaluation,
    CUDA's cuDNN kernels: not measured, torch.compile). ``decode_step`` is the same either way.
    """

    has_fused = False
    fused: bool | None = None

    def use_fused(self, src: torch.Tensor) -> bool:
        """Whether this call takes the fused path (``fused``, or its default rule when None)."""
        if not self.has_fused or self.fused is not None:
            return self.has_fused and bool(self.fused)
        return src.device.type == "cpu" and torch.is_grad_enabled() and not torch.compiler.is_compiling()

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        raise NotImplementedError

    def init_state(self, memory: Memory):
        raise NotImplementedError

    def recur(self, prev_tokens: torch.Tensor, state, memory: Memory):
        raise NotImplementedError

    def readout(self, features: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def reorder_state(self, state, index: torch.Tensor):
        raise NotImplementedError

    def decode_step(self, prev_tokens: torch.Tensor, state, memory: Memory, need_weights: bool = False):
        features, state, attn = self.recur(prev_tokens, state, memory)
        return self.readout(features), state, attn  # (B, V)

    def forward_fused(self, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor):
        raise NotImplementedError(f"{type(self).__name__} has no fused teacher-forced path")

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor, need_weights: bool = False):
        if self.use_fused(src):
            return self.forward_fused(src, src_mask, tgt_in)
        memory = self.encode(src, src_mask)
        state = self.init_state(memory)
        features, attns = [], []
        for t in range(tgt_in.size(1)):
            step_features, state, attn = self.recur(tgt_in[:, t], state, memory)
            features.append(step_features)
            attns.append(attn)
        attn = None if attns[0] is None else torch.stack(attns, dim=-2)  # (B, [H,] T, S)
        return self.readout(torch.stack(features, dim=1)), attn  # (B, T, V)


class Seq2Seq(EncoderDecoder):
    """Sutskever, Vinyals, Le (2014): a fixed-vector encoder-decoder without attention.

    The encoder LSTM reads the (optionally reversed, Sec. 3.3) source; its final state
    (h_S, c_S) initializes the decoder, which models p(y_t | v, y_<t) (Sec. 2, Eq. 1)
    with v = that final state. The decoder never reads the encoder outputs: this is
    the bottleneck whose cost the chapter measures (claim C12).
    """

    has_fused = True

    def __init__(
        self, src_vocab: int, tgt_vocab: int, embed_dim: int = 64, hidden: int = 128,
        num_layers: int = 1, dropout: float = 0.0, reverse_source: bool = False,
        cell: RnnClass = LSTM, pad_id: int = 0, fused: bool | None = None,
    ) -> None:
        super().__init__()
        self.reverse_source, self.fused = reverse_source, fused
        self.encoder = RNNEncoder(src_vocab, embed_dim, hidden, num_layers, False, dropout, cell, pad_id)
        self.embed = nn.Embedding(tgt_vocab, embed_dim, padding_idx=pad_id)
        self.drop = Dropout(dropout)
        self.decoder = make_rnn(cell, embed_dim, hidden, num_layers, dropout=dropout)
        self.out = nn.Linear(hidden, tgt_vocab)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        if self.reverse_source:
            src = reverse_padded(src, src_mask)
        outputs, final = self.encoder(src, src_mask, self.use_fused(src))
        return Memory(outputs=outputs, mask=src_mask, final=final)

    def init_state(self, memory: Memory) -> RnnState:
        return memory.final  # v, the fixed-size summary: all the decoder ever sees

    def decode_step(self, prev_tokens, state, memory, need_weights=False):
        emb = self.drop(self.embed(prev_tokens)).unsqueeze(1)  # (B, 1, E)
        out, state = self.decoder(emb, state)  # (B, 1, H)
        return self.out(self.drop(out.squeeze(1))), state, None  # (B, V)

    def reorder_state(self, state, index):
        return map_state(state, lambda t: t.index_select(1, index))

    def forward(self, src, src_mask, tgt_in, need_weights=False):
        memory = self.encode(src, src_mask)
        emb = self.drop(self.embed(tgt_in))  # (B, T, E)
        if self.use_fused(src):  # the decoder's weight gradients as single GEMMs over all T steps
            out, _ = run_layers(self.decoder, emb, self.init_state(memory), training=self.training)  # (B, T, H)
        else:
            out, _ = self.decoder(emb, self.init_state(memory))  # (B, T, H)
        return self.out(self.drop(out)), None  # (B, T, V)
