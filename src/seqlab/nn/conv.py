"""Convolutional sequence models: ConvS2S (Gehring et al. 2017) and a dilated causal stack.

ConvS2S, "Convolutional Sequence to Sequence Learning" (Gehring et al. 2017):

    e_j = w_j + p_j                                embeddings + learned positions (Sec. 3.1)
    v([A; B]) = A * sigmoid(B)                     gated linear unit (GLU), Sec. 3.2
    h^l = v(W^l [h^{l-1}_{i-k/2} .. h^{l-1}_{i+k/2}] + b^l) + h^{l-1}     residual block
    d^l_i = W^l_d h^l_i + b^l_d + g_i              decoder state summary, Sec. 3.3
    a^l_ij = softmax_j(d^l_i . z^u_j)              multi-step attention: every decoder layer
    c^l_i = sum_j a^l_ij (z^u_j + e_j)             attends, with its own weights
    residual sums are scaled by sqrt(0.5) to keep the variance (Sec. 3.4)

Decoder convolutions are causal (k - 1 zeros on the left), so position i never sees
targets after i. Incremental decoding keeps each decoder layer's last k - 1 inputs.
Deviations: no weight normalization and torch's default initialization.

DilatedCausalConv: a WaveNet-style stack (van den Oord et al. 2016, Eq. 2 gated
activation z = tanh(W_f * x) . sigmoid(W_g * x)) with dilations 1, 2, 4, ..., so the
receptive field is 1 + (k - 1) * sum(dilations), about 2^L for L layers (ByteNet,
Kalchbrenner et al. 2016, uses the same doubling).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.errors import SeqlabError
from seqlab.nn.attention import masked_softmax
from seqlab.nn.dropout import Dropout
from seqlab.nn.seq2seq import EncoderDecoder, Memory

SQRT_HALF = math.sqrt(0.5)


class GLUConv(nn.Module):
    """One convolution + GLU: (B, C, T_in) -> (B, C, T_in - dilation*(k - 1)); no padding."""

    def __init__(self, channels: int, kernel: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, 2 * channels, kernel, dilation=dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.glu(self.conv(x), dim=1)  # A * sigmoid(B)


class ConvEncoder(nn.Module):
    """ConvS2S encoder: z_j (top block output projected to E) and z_j + e_j."""

    def __init__(self, vocab: int, embed_dim: int, channels: int, layers: int, kernel: int,
                 dropout: float, max_positions: int, pad_id: int) -> None:
        super().__init__()
        if kernel % 2 == 0:
            raise ValueError("the encoder kernel must be odd to keep positions centred")
        self.embed = nn.Embedding(vocab, embed_dim, padding_idx=pad_id)
        self.pos = nn.Embedding(max_positions, embed_dim)
        self.inp, self.outp = nn.Linear(embed_dim, channels), nn.Linear(channels, embed_dim)
        self.blocks = nn.ModuleList(GLUConv(channels, kernel) for _ in range(layers))
        self.pad, self.drop = kernel // 2, Dropout(dropout)

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns z (B, S, E) and z + e (B, S, E), both zero on padding."""
        positions = torch.arange(src.size(1), device=src.device)
        e = self.drop(self.embed(src) + self.pos(positions))  # (B, S, E)
        keep = src_mask.unsqueeze(1)  # (B, 1, S)
        x = self.inp(e).transpose(1, 2)  # (B, C, S)
        for block in self.blocks:
            x = x.masked_fill(~keep, 0.0)  # padding must not leak into real positions
            y = block(F.pad(self.drop(x), (self.pad, self.pad)))  # (B, C, S)
            x = (y + x) * SQRT_HALF
        z = self.outp(x.transpose(1, 2)).masked_fill(~src_mask.unsqueeze(-1), 0.0)  # (B, S, E)
        return z, (z + e).masked_fill(~src_mask.unsqueeze(-1), 0.0)


class AttentionLayer(nn.Module):
    """One decoder layer's attention (multi-step attention, Sec. 3.3)."""

    def __init__(self, channels: int, embed_dim: int) -> None:
        super().__init__()
        self.to_embed, self.from_embed = nn.Linear(channels, embed_dim), nn.Linear(embed_dim, channels)

    def forward(self, h: torch.Tensor, g: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """h (B, T, C) conv output, g (B, T, E) target embeddings -> (c (B, T, C), a (B, T, S))."""
        d = (self.to_embed(h) + g) * SQRT_HALF  # d_i = W_d h_i + b_d + g_i   (B, T, E)
        a = masked_softmax(d @ memory.keys.transpose(1, 2), memory.mask.unsqueeze(1))  # (B, T, S)
        s = memory.mask.sum(1).to(h.dtype).view(-1, 1, 1)  # scale by sqrt(S) as the paper does
        c = (a @ memory.values) * s * torch.rsqrt(s)  # c_i = sum_j a_ij (z_j + e_j)   (B, T, E)
        return self.from_embed(c), a


@dataclass(frozen=True)
class ConvState:
    """Each decoder layer's last k - 1 inputs (B, C, k - 1), and the next position."""

    buffers: tuple[torch.Tensor, ...]
    step: int


class ConvS2S(EncoderDecoder):
    """Gehring et al. 2017 encoder-decoder; attn = mean over decoder layers, (B, T, S).

    Args:
        src_vocab, tgt_vocab: vocabulary sizes.  embed_dim: E.  channels: C.
        enc_layers, dec_layers, kernel: block counts and kernel width k.
        max_positions: the learned position table's size (longest sentence + 1).
    """

    def __init__(
        self, src_vocab: int, tgt_vocab: int, embed_dim: int = 64, channels: int = 128,
        enc_layers: int = 4, dec_layers: int = 4, kernel: int = 3, dropout: float = 0.1,
        max_positions: int = 512, pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.kernel, self.max_positions = kernel, max_positions
        self.encoder = ConvEncoder(src_vocab, embed_dim, channels, enc_layers, kernel, dropout, max_positions, pad_id)
        self.embed = nn.Embedding(tgt_vocab, embed_dim, padding_idx=pad_id)
        self.pos = nn.Embedding(max_positions, embed_dim)
        self.inp = nn.Linear(embed_dim, channels)
        self.blocks = nn.ModuleList(GLUConv(channels, kernel) for _ in range(dec_layers))
        self.attn = nn.ModuleList(AttentionLayer(channels, embed_dim) for _ in range(dec_layers))
        self.outp, self.out = nn.Linear(channels, embed_dim), nn.Linear(embed_dim, tgt_vocab)
        self.drop = Dropout(dropout)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> Memory:
        if src.size(1) > self.max_positions:
            raise SeqlabError(f"source of {src.size(1)} tokens exceeds max_positions={self.max_positions}")
        z, ze = self.encoder(src, src_mask)
        return Memory(outputs=z, mask=src_mask, keys=z, values=ze)

    def _target_embed(self, tokens: torch.Tensor, offset: int) -> torch.Tensor:
        if offset + tokens.size(1) > self.max_positions:
            raise SeqlabError(f"target longer than max_positions={self.max_positions}")
        positions = torch.arange(offset, offset + tokens.size(1), device=tokens.device)
        return self.drop(self.embed(tokens) + self.pos(positions))  # g (B, T, E)

    def _decode(self, g: torch.Tensor, padded_inputs, memory: Memory):
        """Run the decoder stack; ``padded_inputs(l, x)`` prepends k - 1 past inputs to x (B, C, T).

        Returns logits (B, T, V), mean attention (B, T, S), each layer's conv input (B, C, T+k-1).
        """
        x = self.inp(g).transpose(1, 2)  # (B, C, T)
        weights, inputs = [], []
        for i, (block, attn) in enumerate(zip(self.blocks, self.attn)):
            full = padded_inputs(i, self.drop(x))  # (B, C, T + k - 1)
            inputs.append(full)
            h = block(full).transpose(1, 2)  # (B, T, C)
            c, a = attn(h, g, memory)
            h = (h + c) * SQRT_HALF
            x = (h.transpose(1, 2) + x) * SQRT_HALF  # residual  (B, C, T)
            weights.append(a)
        y = self.drop(self.outp(x.transpose(1, 2)))  # (B, T, E)
        return self.out(y), torch.stack(weights).mean(0), inputs

    def init_state(self, memory: Memory) -> ConvState:
        b, c = memory.outputs.size(0), self.inp.out_features
        zeros = memory.outputs.new_zeros(b, c, self.kernel - 1)  # left padding of the causal conv
        return ConvState(buffers=tuple(zeros for _ in self.blocks), step=0)

    def decode_step(self, prev_tokens, state: ConvState, memory: Memory, need_weights=False):
        g = self._target_embed(prev_tokens.unsqueeze(1), state.step)  # (B, 1, E)
        logits, a, inputs = self._decode(g, lambda i, x: torch.cat([state.buffers[i], x], 2), memory)
        buffers = tuple(full[:, :, 1:] for full in inputs)  # keep the last k - 1 inputs
        return logits.squeeze(1), ConvState(buffers, state.step + 1), a.squeeze(1)

    def reorder_state(self, state: ConvState, index):
        return ConvState(tuple(b.index_select(0, index) for b in state.buffers), state.step)

    def forward(self, src, src_mask, tgt_in, need_weights=False):
        memory = self.encode(src, src_mask)
        g = self._target_embed(tgt_in, 0)
        logits, a, _ = self._decode(g, lambda i, x: F.pad(x, (self.kernel - 1, 0)), memory)
        return logits, a  # (B, T, V), (B, T, S)


class DilatedCausalConv(nn.Module):
    """WaveNet/ByteNet-style stack of gated, dilated, causal convolutions.

    Backbone convention ``forward(x, state=None) -> (out, state)``: x (B, T, input_dim),
    out (B, T, channels). The state holds each layer's last (k - 1) * dilation inputs,
    so a sequence fed in chunks gives the same outputs as fed at once.

    Args:
        input_dim: width of x.  channels: C.  num_layers: L, dilation 2^(l mod cycle).
        kernel: k.  cycle: dilations restart at 1 every ``cycle`` layers (None: never).
    """

    def __init__(self, input_dim: int, channels: int = 64, num_layers: int = 6, kernel: int = 2,
                 cycle: int | None = None, dropout: float = 0.0) -> None:
        super().__init__()
        self.kernel = kernel
        self.dilations = [2 ** (i % cycle if cycle else i) for i in range(num_layers)]
        self.inp = nn.Linear(input_dim, channels)
        self.filters = nn.ModuleList(nn.Conv1d(channels, 2 * channels, kernel, dilation=d) for d in self.dilations)
        self.res = nn.ModuleList(nn.Conv1d(channels, channels, 1) for _ in self.dilations)
        self.drop = Dropout(dropout)

    @property
    def receptive_field(self) -> int:
        """Inputs that can reach one output: 1 + (k - 1) * sum of dilations."""
        return 1 + (self.kernel - 1) * sum(self.dilations)

    def forward(self, x: torch.Tensor, state=None, lengths: torch.Tensor | None = None):
        del lengths  # causal: right padding never reaches real positions
        h = self.inp(x).transpose(1, 2)  # (B, C, T)
        new_state = []
        for i, (conv, res, d) in enumerate(zip(self.filters, self.res, self.dilations)):
            past = (self.kernel - 1) * d
            prev = h.new_zeros(h.size(0), h.size(1), past) if state is None else state[i]
            full = torch.cat([prev, h], 2)  # (B, C, past + T)
            new_state.append(full[:, :, full.size(2) - past:])
            f, g = conv(full).chunk(2, dim=1)  # (B, C, T) each
            z = torch.tanh(f) * torch.sigmoid(g)  # WaveNet Eq. 2
            h = h + self.drop(res(z))  # residual
        return h.transpose(1, 2), tuple(new_state)  # (B, T, C)
