"""A Transformer encoder as a task backbone: the same calling convention as the RNNs.

``seqlab.build`` (arch "transformer") puts this behind ``seqlab.nn.SequenceModel``, so
a task model may swap its recurrent backbone for self-attention and keep the same
input layer, per-step head, trainer and scorer.

    h_0 = W_in e + PE                         (B, T, D), sinusoidal positions (Vaswani Sec. 3.5)
    h_l = EncoderLayer_l(h_(l-1), mask)       pre-norm self-attention + FFN, l = 1..L
    out = LayerNorm(h_L)

causal = True: the mask lets step t attend to s <= t only, so out_t depends on x_<=t,
exactly what a unidirectional RNN's output at t depends on (a drop-in for it).
causal = False: every step sees the whole sequence (the counterpart of a
bidirectional RNN); right padding is then masked out of the keys when ``lengths``
is given. Either way there is no state between calls: ``forward`` returns None.
The layers are ``seqlab.nn.transformer``'s (one implementation of attention).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.nn.dropout import Dropout
from seqlab.nn.transformer import EncoderLayer, causal_self_mask, sinusoidal_positions


class AttentionBackbone(nn.Module):
    """Self-attention layers over (B, T, E) -> (B, T, d_model).

    Args:
        input_size: E, the width of the incoming features.
        d_model: D, the attention width (the RNNs' hidden_size).
        heads: attention heads (D must be divisible by it).
        d_ff: the feedforward layer's inner width.
        num_layers: stacked encoder layers.
        dropout: dropout in attention, FFN and on the input.
        causal: step t attends to steps <= t only (see the module docstring).
    """

    def __init__(self, input_size: int, d_model: int, heads: int, d_ff: int, num_layers: int = 1,
                 dropout: float = 0.0, causal: bool = True) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model={d_model} is not divisible by heads={heads}")
        self.d_model, self.causal = d_model, causal
        self.inp = nn.Identity() if input_size == d_model else nn.Linear(input_size, d_model)
        self.drop = Dropout(dropout)
        self.layers = nn.ModuleList(EncoderLayer(d_model, heads, d_ff, dropout, True) for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)

    def mask(self, length: int, lengths: torch.Tensor | None, device) -> torch.Tensor | None:
        """Bool mask broadcastable to (B, heads, T, T), True = may attend; None = all
        (or, when causal, on CUDA: the kernels' ``is_causal`` masks)."""
        if self.causal:
            return causal_self_mask(length, device)  # (T, T); right padding lies in the future of every real step
        if lengths is None:
            return None
        keys = torch.arange(length, device=device)[None, :] < lengths.to(device)[:, None]  # (B, T)
        return keys[:, None, None, :]  # (B, 1, 1, T)

    def forward(self, x: torch.Tensor, state=None, lengths: torch.Tensor | None = None):
        """x (B, T, E) -> (out (B, T, d_model), None); ``state`` is ignored (stateless)."""
        del state
        t = x.size(1)
        h = self.drop(self.inp(x) + sinusoidal_positions(t, self.d_model, 0, x.device))  # (B, T, D)
        mask = self.mask(t, lengths, x.device)
        for layer in self.layers:
            h = layer(h, mask, causal=self.causal)  # (B, T, D)
        return self.norm(h), None
