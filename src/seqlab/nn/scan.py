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
may have any sign. The backward pass is the adjoint recurrence, also linear,
solved by the chunked scan below (cheaper than differentiating logcumsumexp). Each layer also has a step-by-step mode (``step``) computing
the same equations one token at a time, for generation; tests check both modes
agree in outputs and gradients.

Precision note: a*_t grows like -T, so in float32 the scan loses about
|a*_T| * 1e-7 in relative accuracy of h (≈1e-4 at T=4096); use float64 when
comparing long sequences exactly.

``chunk_size=C`` selects a second parallel algorithm, ``scan_chunked``: the same
recurrence in linear space, solved for all T/C chunks at once with C vectorized
steps, then T/C steps to carry the state between chunks: about 2 sqrt(T)
dependent steps instead of T, no exp/log, and the rounding of the step mode.
On a CPU, where logcumsumexp is costly and there are few cores to spread a
log-depth scan over, it is the faster of the two; the log-space scan (default,
as in the paper) has the shortest dependency chain for wide accelerators.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.nn.dropout import Dropout


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
    return _LogScan.apply(log_a, log_b, h0)


class _LogScan(torch.autograd.Function):
    """``scan_log`` with a hand-written backward.

    Autograd through logcumsumexp would take two more (reversed) logcumsumexp
    passes over signed gradients. The adjoint of a linear recurrence is again one,
    run backwards in time: with g_t = dL/dh_t,

        lambda_t = g_t + a_{t+1} lambda_{t+1}          (dL/dh_t, total)
        dL/db_t = lambda_t,  dL/da_t = lambda_t h_{t-1},  dL/dh_0 = a_1 lambda_1

    solved with ``scan_chunked`` (linear space; signed values are fine there).
    """

    @staticmethod
    def forward(ctx, log_a: torch.Tensor, log_b: torch.Tensor, h0: torch.Tensor | None) -> torch.Tensor:
        a_star = torch.cumsum(log_a, dim=1)  # (B, T, H)  log A_t
        # log sum_{s<=t} b_s / A_s, then times A_t:  log h_t(h0=0) = a*_t + lcse(log b - a*)
        h = torch.exp(a_star + torch.logcumsumexp(log_b - a_star, dim=1))  # (B, T, H)
        if h0 is not None:
            h = h + torch.exp(a_star) * h0.unsqueeze(1)  # A_t * h_0
        ctx.save_for_backward(log_a, log_b, h, h0)
        return h

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_h: torch.Tensor):
        log_a, log_b, h, h0 = ctx.saved_tensors
        a = torch.exp(log_a)  # (B, T, H)
        a_next = torch.cat([a[:, 1:], torch.zeros_like(a[:, :1])], dim=1)  # a_{t+1}, none after T
        lam = scan_chunked(a_next.flip(1), grad_h.flip(1)).flip(1)  # (B, T, H), backwards in time
        first = torch.zeros_like(h[:, :1]) if h0 is None else h0.unsqueeze(1)  # (B, 1, H)
        h_prev = torch.cat([first, h[:, :-1]], dim=1)  # h_{t-1}
        grad_h0 = None if h0 is None else a[:, 0] * lam[:, 0]
        return lam * a * h_prev, lam * torch.exp(log_b), grad_h0  # d/dlog a = a dL/da, d/dlog b = b dL/db


def scan_chunked(a: torch.Tensor, b: torch.Tensor, h0: torch.Tensor | None = None, chunk: int = 64) -> torch.Tensor:
    """Solve h_t = a_t * h_{t-1} + b_t in linear space, chunk by chunk in parallel.

    Step 1 runs the recurrence inside every chunk of length C at once, from zero,
    keeping the local solution u and the running decay P (products of a). Step 2
    carries the state S_n entering chunk n: S_{n+1} = P_n[C] S_n + u_n[C]. Then
    h = u + P * S (the closed form of step 1 with a non-zero start).

    Args: a, b (B, T, H) with any values; h0 (B, H) or None for zeros.
    Returns: h (B, T, H).
    """
    B, T, H = a.shape
    C = min(chunk, T)
    N = -(-T // C)  # chunks, the last one padded with a = 1, b = 0 (state unchanged)
    if N * C > T:
        a = torch.cat([a, a.new_ones(B, N * C - T, H)], dim=1)
        b = torch.cat([b, b.new_zeros(B, N * C - T, H)], dim=1)
    u = b.new_zeros(B, N, H)  # local solution, every chunk at once
    p = a.new_ones(B, N, H)  # running product of a inside each chunk
    us, ps = [], []
    for a_c, b_c in zip(a.reshape(B, N, C, H).unbind(2), b.reshape(B, N, C, H).unbind(2)):  # (B, N, H)
        u, p = a_c * u + b_c, a_c * p
        us.append(u)
        ps.append(p)
    u_all, p_all = torch.stack(us, dim=2), torch.stack(ps, dim=2)  # (B, N, C, H)
    state = a.new_zeros(B, H) if h0 is None else h0
    starts = []
    for p_end, u_end in zip(p.unbind(1), u.unbind(1)):  # (B, H): chunk n's total decay, local end
        starts.append(state)
        state = p_end * state + u_end
    h = u_all + p_all * torch.stack(starts, dim=1).unsqueeze(2)  # (B, N, C, H)
    return h.reshape(B, N * C, H)[:, :T]


def _at_least_fp32(gates: torch.Tensor) -> torch.Tensor:
    """Gate pre-activations in float32 or wider: under bf16 autocast the cumulative log
    decay reaches -T and bf16 (8-bit mantissa) would round it by whole units."""
    return gates.to(torch.promote_types(gates.dtype, torch.float32))


class _MinCell(nn.Module):
    """One min-RNN layer: one linear map of x_t gives every gate (nothing reads h_{t-1}).

    Subclasses state their equations twice: ``coefficients`` (a_t, b_t of
    h_t = a_t h_{t-1} + b_t) and ``log_coefficients`` (their logs, for the
    log-space scan). ``chunk_size`` None runs ``scan_log``, an int ``scan_chunked``.
    """

    blocks = 2  # gate blocks of width H in the linear map

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, chunk_size: int | None = None) -> None:
        super().__init__()
        if chunk_size is not None and chunk_size < 1:
            raise ValueError("chunk_size must be None (log-space scan) or >= 1")
        self.hidden_size, self.chunk_size = hidden_size, chunk_size
        self.linear = nn.Linear(input_size, self.blocks * hidden_size, bias=bias)

    def forward(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Parallel mode. x (B, T, D), h0 (B, H) or None -> h (B, T, H)."""
        gates = _at_least_fp32(self.linear(x))  # (B, T, blocks*H)
        if self.chunk_size is None:
            return scan_log(*self.log_coefficients(gates), h0)
        return scan_chunked(*self.coefficients(gates), h0, self.chunk_size)

    def forward_sequential(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> torch.Tensor:
        """Recurrent mode over a sequence: one GEMM for all inputs, then T dependent steps."""
        gates = _at_least_fp32(self.linear(x))  # (B, T, blocks*H)
        h = gates.new_zeros(x.shape[0], self.hidden_size) if h0 is None else h0  # (B, H)
        outs = []
        # unbind, not gates[:, t]: the backward of T separate slices would write T full-size
        # gradients (quadratic in T); unbind's backward stacks them once
        for gates_t in gates.unbind(1):  # (B, blocks*H)
            a, b = self.coefficients(gates_t)
            h = a * h + b
            outs.append(h)
        return torch.stack(outs, dim=1)  # (B, T, H)

    def step(self, x_t: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        """Recurrent mode, one token (generation). x_t (B, D), h (B, H) or None for zeros -> h_t (B, H)."""
        a, b = self.coefficients(_at_least_fp32(self.linear(x_t)))  # (B, H) each
        return b if h is None else a * h + b  # h_0 = 0: h_1 = b_1

    def coefficients(self, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """gates (..., blocks*H) -> a, b (..., H) with h_t = a h_{t-1} + b."""
        raise NotImplementedError

    def log_coefficients(self, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """gates (..., blocks*H) -> log a, log b (..., H), computed without leaving log space."""
        raise NotImplementedError


class MinGRUCell(_MinCell):
    """One minGRU layer (Feng et al. 2024, Sec. 3.1.3, with the positive g of Sec. B).

        z_t  = sigmoid(W_z x_t + b_z)          # update gate, from x_t only
        h~_t = g(W_h x_t + b_h)                # candidate, from x_t only
        h_t  = (1 - z_t) * h_{t-1} + z_t * h~_t

    Gate rows of ``linear``: [0, H) -> k (z = sigmoid(k)), [H, 2H) -> candidate.
    """

    blocks = 2

    def coefficients(self, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, pre = gates.chunk(2, dim=-1)
        z = torch.sigmoid(k)
        return 1 - z, z * g(pre)  # a_t = 1 - z_t, b_t = z_t h~_t

    def log_coefficients(self, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        k, pre = gates.chunk(2, dim=-1)
        log_z = -F.softplus(-k)  # log sigmoid(k)
        log_one_minus_z = -F.softplus(k)  # log (1 - sigmoid(k))
        return log_one_minus_z, log_z + log_g(pre)


class MinLSTMCell(_MinCell):
    """One minLSTM layer (Feng et al. 2024, Sec. 3.2.3, normalized gates).

        f_t = sigmoid(W_f x_t + b_f),  i_t = sigmoid(W_i x_t + b_i)
        f'_t = f_t / (f_t + i_t),      i'_t = i_t / (f_t + i_t)
        h~_t = g(W_h x_t + b_h)
        h_t  = f'_t * h_{t-1} + i'_t * h~_t

    In log space, with d = softplus(-k_f) - softplus(-k_i) = log i_t - log f_t:
    log f'_t = -softplus(d) and log i'_t = -softplus(-d).
    Gate rows of ``linear``: [0, H) forget, [H, 2H) input, [2H, 3H) candidate.
    """

    blocks = 3

    def coefficients(self, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kf, ki, pre = gates.chunk(3, dim=-1)
        f, i = torch.sigmoid(kf), torch.sigmoid(ki)
        return f / (f + i), i / (f + i) * g(pre)  # f'_t, i'_t h~_t

    def log_coefficients(self, gates: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        kf, ki, pre = gates.chunk(3, dim=-1)
        d = F.softplus(-kf) - F.softplus(-ki)  # log i - log f
        return -F.softplus(d), -F.softplus(-d) + log_g(pre)  # log f', log i' + log h~


class _MinStack(nn.Module):
    """Stacked min-RNN layers with the backbone convention of ``seqlab.nn``.

    ``forward(x (B, T, D), state=None, lengths=None) -> (out (B, T, H), state)``
    runs every layer as a parallel scan; ``forward_sequential`` runs the same
    parameters step by step; ``step`` advances one token (generation). The state
    is (num_layers, B, H), the last hidden state of each layer as in ``nn.GRU``,
    so a trainer can carry it across truncated-BPTT chunks. ``chunk_size``: None
    for the log-space scan, C for ``scan_chunked`` (see the module docstring).
    """

    cell_type: type[_MinCell] = MinGRUCell

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True, dropout: float = 0.0,
        chunk_size: int | None = None,
    ) -> None:
        super().__init__()
        if num_layers < 1 or not 0.0 <= dropout < 1.0:
            raise ValueError("need num_layers >= 1 and 0 <= dropout < 1")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.layers = nn.ModuleList(self.cell_type(d, hidden_size, bias, chunk_size) for d in sizes)
        self.dropout = Dropout(dropout)  # between layers, as in nn.GRU

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
        """Recurrent mode, layer after layer, T dependent steps each; same result as ``forward``."""
        finals = []
        for idx, layer in enumerate(self.layers):
            if idx > 0:
                x = self.dropout(x)
            x = layer.forward_sequential(x, None if state is None else state[idx])  # (B, T, H)
            finals.append(_last_step(x, lengths))  # (B, H)
        return x, torch.stack(finals)  # (B, T, H), (L, B, H)

    def step(self, x_t: torch.Tensor, state: torch.Tensor | None = None):
        """One token through every layer. x_t (B, D), state (L, B, H) or None (zeros, as in
        ``forward``: generation from scratch) -> (out (B, H), state (L, B, H))."""
        new = []
        for idx, layer in enumerate(self.layers):
            if idx > 0:
                x_t = self.dropout(x_t)
            x_t = layer.step(x_t, None if state is None else state[idx])  # (B, H)
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
