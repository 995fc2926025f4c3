"""Run a recurrent layer one step at a time, so every hidden state h_t is a tensor.

Fused recurrent kernels (``torch.nn.LSTM`` and friends) keep h_1 .. h_{T-1} inside
the kernel: autograd sees only the stacked outputs, whose gradient misses the path
through the recurrence. To measure dL/dh_t and dh_t/dh_{t-1} we call the layer on one
time step at a time and carry its state ourselves, exactly as truncated BPTT does.
Any layer with the ``torch.nn.LSTM`` calling convention (batch first,
``layer(x (B, 1, E), state) -> (out (B, 1, H), state)``) works; the state is a tensor
(RNN, GRU) or a tuple of tensors (LSTM: (h, c)), each shaped (L, B, H).
"""

from __future__ import annotations

import torch
from torch import nn

State = torch.Tensor | tuple[torch.Tensor, ...]


def check_stepwise(layer: nn.Module) -> None:
    """Reject layers that cannot be unrolled forward one step at a time."""
    if getattr(layer, "bidirectional", False):
        raise ValueError("a bidirectional layer has no single h_t per step; probe each direction")
    if not getattr(layer, "batch_first", True):
        raise ValueError("the step-wise probe expects a batch_first layer")


def top_hidden(state: State) -> torch.Tensor:
    """The top layer's hidden state h_t (B, H) from an RNN/GRU or LSTM state."""
    h = state[0] if isinstance(state, tuple) else state  # (L, B, H)
    return h[-1]


def flatten_state(state: State) -> torch.Tensor:
    """All carried numbers of one step as (B, S): h (and c for an LSTM), every layer."""
    parts = state if isinstance(state, tuple) else (state,)
    return torch.cat([p.transpose(0, 1).reshape(p.shape[1], -1) for p in parts], dim=1)


def unflatten_state(flat: torch.Tensor, like: State) -> State:
    """Inverse of :func:`flatten_state`, shaped like ``like``."""
    parts = like if isinstance(like, tuple) else (like,)
    out, start = [], 0
    for p in parts:
        L, B, H = p.shape
        chunk = flat[:, start : start + L * H].reshape(B, L, H).transpose(0, 1)  # (L, B, H)
        out.append(chunk.contiguous())
        start += L * H
    return tuple(out) if isinstance(like, tuple) else out[0]


def _with_top(state: State, top: torch.Tensor) -> State:
    """The same state with its top-layer h replaced by ``top`` (B, H)."""
    h = state[0] if isinstance(state, tuple) else state  # (L, B, H)
    h = torch.cat([h[:-1], top.unsqueeze(0)], dim=0)
    return (h, *state[1:]) if isinstance(state, tuple) else h


def unroll(layer: nn.Module, x: torch.Tensor, state: State | None = None) -> tuple[list[State], list[torch.Tensor]]:
    """States and top-layer hidden states after every step, for x (B, T, E).

    Returns ``(states, hs)``: ``states[t]`` is what the layer carries after step t+1
    and ``hs[t]`` (B, H) its top-layer h. Each ``hs[t]`` is a separate graph node
    that the next step consumes, so ``torch.autograd.grad(L, hs)`` gives dL/dh_t
    summed over every path: through the readout and through all later steps.
    """
    check_stepwise(layer)
    states, hs = [], []
    for t in range(x.shape[1]):
        _, state = layer(x[:, t : t + 1], state)
        top = top_hidden(state).view_as(top_hidden(state))  # a fresh node: (B, H)
        state = _with_top(state, top)
        states.append(state)
        hs.append(top)
    return states, hs
