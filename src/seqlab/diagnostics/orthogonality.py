"""Orthogonality drift of recurrent weights: ||W^T W - I||_F.

An orthogonal (or identity) W_hh preserves norms, so gradients through many
steps neither vanish nor explode at initialisation. Training moves W away from
that; the Frobenius distance of W^T W from I measures how far. Gated layers stack
their gate matrices (LSTM: 4 blocks of (H, H), GRU: 3); each block is scored.
"""

from __future__ import annotations

import torch
from torch import nn


def orthogonality_drift(W: torch.Tensor) -> float:
    """||W^T W - I||_F for a square matrix W (H, H); 0 exactly when W is orthogonal."""
    if W.dim() != 2 or W.shape[0] != W.shape[1]:
        raise ValueError(f"expected a square matrix, got shape {tuple(W.shape)}")
    W = W.detach().double()
    eye = torch.eye(W.shape[0], dtype=W.dtype, device=W.device)
    return torch.linalg.matrix_norm(W.T @ W - eye).item()  # Frobenius by default


def recurrent_drift(model: nn.Module) -> dict[str, float]:
    """Drift of every ``weight_hh*`` parameter (torch.nn naming), per (H, H) gate block.

    Returns ``{"backbone.weight_hh_l0": d}`` for a plain RNN, and names with the
    block index (``"backbone.weight_hh_l0[1]"``) for gated layers.
    """
    out = {}
    for name, p in model.named_parameters():
        if "weight_hh" not in name or p.dim() != 2:
            continue
        rows, H = p.shape
        if rows == H:
            out[name] = orthogonality_drift(p)
            continue
        for k in range(rows // H):
            out[f"{name}[{k}]"] = orthogonality_drift(p[k * H : (k + 1) * H])
    return out
