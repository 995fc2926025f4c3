"""A task model: input layer -> any sequence backbone -> per-step output head.

The backbone is anything with the ``torch.nn.LSTM`` calling convention in
batch-first mode: ``backbone(x, state) -> (outputs (B, T, F), state)``. That one
convention lets the trainer carry state across truncated-BPTT chunks for every
recurrent architecture, and pass ``None`` for the stateless ones.
"""

from __future__ import annotations

import torch
from torch import nn


class SequenceModel(nn.Module):
    """Embed (token ids) or project (features), run the backbone, read out every step.

    Args:
        backbone: module mapping (B, T, E) to ((B, T, F), state), batch first.
        features: F, the backbone's output width (2H when bidirectional).
        output_dim: O, classes or regression outputs per step.
        vocab_size: when set, inputs are (B, T) token ids and go through an embedding.
        input_dim: when set, inputs are (B, T, D) floats and go through a linear map.
        embed_dim: E, the width fed to the backbone.
    """

    def __init__(
        self,
        backbone: nn.Module,
        features: int,
        output_dim: int,
        *,
        vocab_size: int | None = None,
        input_dim: int | None = None,
        embed_dim: int = 32,
    ) -> None:
        super().__init__()
        if (vocab_size is None) == (input_dim is None):
            raise ValueError("give exactly one of vocab_size (token inputs) or input_dim (features)")
        if vocab_size is not None:
            self.inp: nn.Module = nn.Embedding(vocab_size, embed_dim)
        elif input_dim == embed_dim:
            self.inp = nn.Identity()
        else:
            self.inp = nn.Linear(input_dim, embed_dim)
        self.backbone = backbone
        self.head = nn.Linear(features, output_dim)

    def forward(self, x: torch.Tensor, state=None, lengths: torch.Tensor | None = None):
        """Args: x (B, T) long or (B, T, D) float. Returns (logits (B, T, O), state)."""
        e = self.inp(x)  # (B, T, E)
        if lengths is None:
            h, state = self.backbone(e, state)  # (B, T, F)
        else:
            h, state = self.backbone(e, state, lengths=lengths)
        return self.head(h), state  # (B, T, O)
