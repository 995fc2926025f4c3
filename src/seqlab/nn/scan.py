"""Recurrences that parallelize: minGRU and minLSTM with a log-space scan.

Feng et al. (2024), "Were RNNs All We Needed?", strip the GRU and the LSTM down
until their gates depend on the current input only. The hidden state then obeys
a *linear* recurrence with input-dependent coefficients,

    h_t = a_t * h_{t-1} + b_t,        a_t in (0, 1),  b_t >= 0,

which has the closed form h_t = A_t * h_0 + sum_{s<=t} (A_t / A_s) * b_s with
A_t = prod_{s<=t} a_s. Every term is a cumulative sum or product, so all T steps
can be computed at once (depth O(log T) on parallel hardware) instead of one
after the other: the sequential bottleneck the chapter blames on recurrence goes
away. Heinsen (2023) evaluates the sum in log space for stability:

    log h_t = a*_t + logcumsumexp_t(log b_s - a*_s),   a*_t = cumsum_t(log a_s),

valid because b_t >= 0. The initial state enters linearly (A_t * h_0), so h_0
may have any sign. Each layer also has a step-by-step mode (``step``) computing
the same equations one token at a time, for generation; tests check both modes
agree in outputs and gradients.

Precision note: a*_t grows like -T, so in float32 the scan loses about
|a*_T| * 1e-7 in relative accuracy of h (≈1e-4 at T=4096); use float64 when
comparing long sequences exactly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def g(x: torch.Tensor) -> torch.Tensor:
    """Positive activation of the paper: g(x) = x + 0.5 if x >= 0 else sigmoid(x)."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: torch.Tensor) -> torch.Tensor:
    """log g(x), computed without leaving log space for x < 0: log sigmoid(x) = -softplus(-x)."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


def scan_log(log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
    """Solve h_t = a_t * h_{t-1} + b_t for all t at once (Heinsen 2023).

    Args:
        log_a: (B, T, H) log of the decay coefficients a_t > 0.
        log_b: (B, T, H) log of the inputs b_t >= 0 (-inf allowed for b_t = 0).
        h0: (B, H) initial state of any sign, or None for zeros.
    Returns:
        h: (B, T, H), h_1 .. h_T.
    """
    a_star = torch.cumsum(log_a, dim=1)  # (B, T, H)  log A_t
    # log sum_{s<=t} b_s / A_s, then times A_t:  log h_t(h0=0) = a*_t + lcse(log b - a*)
    h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))  # (B, T, H)
    if h0 is not None:
        h = h + torch.exp(a_star) * h0.unsqueeze(1)  # A_t * h_0
    return h


def _at_least_fp32(gates: torch.Tensor) -> torch.Tensor:
    """Gate pre-activations in float32 or wider: under bf16 autocast the cumulative log
    decay reaches -T and bf16 (8-bit mantissa) would round it by whole units."""
    return gates.to(torch.promote_types(gates.dtype, torch.float32))


class MinGRUCell(nn.Module):
    """One minGRU layer (Feng et al. 2024, Sec. 3.1.3, with the positive g of Sec. B).

        z_t  = sigmoid(W_z x_t + b_z)          # update gate, from x_t only
        h~_t = g(W_h x_t + b_h)                # candidate, from x_t only
        h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t

    ``forward`` computes all steps with ``scan_log``; ``step`` computes one.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        # rows [0, H) -> z pre-activation k, rows [H, 2H) -> candidate pre-activation
        self.linear = nn.Linear(input_size, 2 * hidden_size, bias=bias)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Parallel mode. x (B, T, D), h0 (B, H) or None -> h (B, T, H)."""
        k, pre = _at_least_fp32(self.linear(x)).chunk(2, dim=-1)  # (B, T, H) each
        log_z = -F.softplus(-k)  # log sigmoid(k)
        log_one_minus_z = -F.softplus(k)  # log (1 - sigmoid(k))
        return scan_log(log_one_minus_z, log_z + log_g(pre), h0)

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Recurrent mode. x_t (B, D), h (B, H) -> h_t (B, H)."""
        k, pre = _at_least_fp32(self.linear(x_t)).chunk(2, dim=-1)  # (B, H) each
        z = torch.sigmoid(k)
        return (1 - z) * h + z * g(pre)


class MinLSTMCell(nn.Module):
    """One minLSTM layer (Feng et al. 2024, Sec. 3.2.3, normalized gates).

        f_t = sigmoid(W_f x_t + b_f),  i_t = sigmoid(W_i x_t + b_i)
        f'_t = f_t / (f_t + i_t),      i'_t = i_t / (f_t + i_t)
        h~_t = g(W_h x_t + b_h)
        h_t  = f'_t * h_{t-1} + i'_t * h~_t

    In log space, with d = softplus(-k_f) - softplus(-k_i) = log i_t - log f_t:
    log f'_t = -softplus(d) and log i'_t = -softplus(-d).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        # rows [0, H) -> forget, [H, 2H) -> input, [2H, 3H) -> candidate
        self.linear = nn.Linear(input_size, 3 * hidden_size, bias=bias)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Parallel mode. x (B, T, D), h0 (B, H) or None -> h (B, T, H)."""
        kf, ki, pre = _at_least_fp32(self.linear(x)).chunk(3, dim=-1)  # (B, T, H) each
        d = F.softplus(-kf) - F.softplus(-ki)  # log i - log f
        return scan_log(-F.softplus(d), -F.softplus(-d) + log_g(pre), h0)

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Recurrent mode. x_t (B, D), h (B, H) -> h_t (B, H)."""
        kf, ki, pre = _at_least_fp32(self.linear(x_t)).chunk(3, dim=-1)  # (B, H) each
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        return (f * h + i * g(pre)) / (f + i)  # f' h + i' h~


class _MinStack(nn.Module):
    """Stacked min-RNN layers with the backbone convention of ``seqlab.nn``.

    ``forward(x (B, T, D), state=None, lengths=None) -> (out (B, T, H), state)``
    runs every layer as a parallel scan; ``forward_sequential`` runs the same
    parameters step by step; ``step`` advances one token (generation). The state
    is (num_layers, B, H), the last hidden state of each layer as in ``nn.GRU``,
    so a trainer can carry it across truncated-BPTT chunks.
    """

    cell_type: type[nn.Module] = MinGRUCell

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True, dropout: float = 0.0
    ) -> None:
        super().__init__()
        if num_layers < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError("need num_layers >= 1 and 0 <= dropout < 1")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(self.cell_type(d, hidden_size, bias) for d in sizes)
        self.dropout = nn.Dropout(dropout)  # between layers, as in nn.GRU

    def forward(self, x: torch.Tensor, state: torch.Tensor | None = None, lengths: torch.Tensor | None = None):
        """Parallel mode. x (B, T, D); state (L, B, H) or None; lengths (B,) or None."""
        finals = []
        for idx, layer in enumerate(self.layers):
            if idx > 0:
                x = self.dropout(x)
            x = layer(x, None if state is None else state[idx])  # (B, T, H)
            finals.append(_last_step(x, lengths))  # (B, H)
        return x, torch.stack(finals)  # (B, T, H), (L, B, H)

    def forward_sequential(
        self, x: torch.Tensor, state: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ):
        """Recurrent mode over a whole sequence; same result as ``forward``."""
        if state is None:
            state = x.new_zeros(self.num_layers, x.shape[0], self.hidden_size)
        outs = []
        for t in range(x.shape[1]):
            out_t, state_t = self.step(x[:, t], state)  # (B, H), (L, B, H)
            if lengths is not None:  # sequences that ended keep their last state
                keep = (t < lengths).to(x.device).view(1, -1, 1)
                state_t = torch.where(keep, state_t, state)
            outs.append(out_t)
            state = state_t
        return torch.stack(outs, dim=1), state  # (B, T, H), (L, B, H)

    def step(self, x_t: torch.Tensor, state: torch.Tensor):
        """One token through every layer. x_t (B, D), state (L, B, H) -> (out (B, H), state)."""
        new = []
        for idx, layer in enumerate(self.layers):
            if idx > 0:
                x_t = self.dropout(x_t)
            x_t = layer.step(x_t, state[idx])  # (B, H)
            new.append(x_t)
        return x_t, torch.stack(new)


def _last_step(h: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """h (B, T, H) -> the state after each sequence's last valid step (B, H)."""
    if lengths is None:
        return h[:, -1]
    idx = (lengths.to(h.device) - 1).view(-1, 1, 1).expand(-1, 1, h.shape[-1])  # (B, 1, H)
    return h.gather(1, idx).squeeze(1)


class MinGRU(_MinStack):
    """Stacked minGRU layers (see ``MinGRUCell``); backbone for ``SequenceModel``."""

    cell_type = MinGRUCell


class MinLSTM(_MinStack):
    """Stacked minLSTM layers (see ``MinLSTMCell``); backbone for ``SequenceModel``."""

    cell_type = MinLSTMCell
