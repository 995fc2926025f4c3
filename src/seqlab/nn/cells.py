"""Recurrent cells: one time step, ``(x_t, state) -> state``.

Each cell's arithmetic lives in one pure function (``rnn_tanh_step``,
``rnn_relu_step``, ``lstm_step``, ``gru_step``) whose docstring states the
equations and whose body computes them in the same order. The functions take
the input part of the gates, ``gates_x``, already computed, because a layer
computes that projection for every time step at once (one big GEMM) and then
only has the recurrent product ``W_hh h_{t-1}`` left inside its loop. For the
RNN and the LSTM both biases enter the sum unchanged, so they are folded into
``gates_x = W_ih x_t + b_ih + b_hh`` and each step is a single ``addmm``; the
GRU needs ``b_hh`` apart (its reset gate scales ``W_hn h + b_hn``).

Parameters follow ``torch.nn.RNNCell`` / ``LSTMCell`` / ``GRUCell`` exactly:
``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias_ih`` and ``bias_hh``
(G*H,), with the G gate blocks stacked in torch's order (LSTM: i, f, g, o;
GRU: r, z, n), so weights move between the two without any reshuffling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError


def rnn_tanh_step(gates_x: Tensor, h: Tensor, w_hh: Tensor) -> Tensor:
    """Elman step with tanh (Elman 1990).

        h_t = tanh(W_ih x_t + b_ih + b_hh + W_hh h_{t-1})

    Args: gates_x (B, H) = W_ih x_t + b_ih + b_hh; h (B, H); w_hh (H, H). Returns h_t (B, H).
    """
    return torch.tanh(torch.addmm(gates_x, h, w_hh.t()))


def rnn_relu_step(gates_x: Tensor, h: Tensor, w_hh: Tensor) -> Tensor:
    """Elman step with a rectifier, as in the IRNN (Le et al. 2015).

        h_t = max(0, W_ih x_t + b_ih + b_hh + W_hh h_{t-1})

    Args: gates_x (B, H) = W_ih x_t + b_ih + b_hh; h (B, H); w_hh (H, H). Returns h_t (B, H).
    """
    return torch.relu(torch.addmm(gates_x, h, w_hh.t()))


def lstm_step(gates_x: Tensor, h: Tensor, c: Tensor, w_hh: Tensor) -> tuple[Tensor, Tensor]:
    """LSTM step with a forget gate (Hochreiter & Schmidhuber 1997; Gers et al. 2000).

    With a_t = W_ih x_t + b_ih + b_hh + W_hh h_{t-1} split into four H-blocks
    (one product W [h_{t-1}, x_t] + b per gate, written as torch splits it: an
    input part, a recurrent part, and two biases whose sum is the gate's bias):

        i_t = sigmoid(a_i)             input gate: how much new content to write
        f_t = sigmoid(a_f)             forget gate: how much old memory to keep
        g_t = tanh(a_g)                candidate content
        o_t = sigmoid(a_o)             output gate: how much memory to expose
        c_t = f_t * c_{t-1} + i_t * g_t    additive memory update (the gradient highway)
        h_t = o_t * tanh(c_t)

    Args: gates_x (B, 4H) = W_ih x_t + b_ih + b_hh; h, c (B, H); w_hh (4H, H).
    Returns (h_t, c_t), each (B, H).
    """
    a = torch.addmm(gates_x, h, w_hh.t())  # (B, 4H)
    a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)  # 4 x (B, H)
    i = torch.sigmoid(a_i)
    f = torch.sigmoid(a_f)
    g = torch.tanh(a_g)
    o = torch.sigmoid(a_o)
    c = f * c + i * g
    h = o * torch.tanh(c)
    return h, c


def gru_step(gates_x: Tensor, h: Tensor, w_hh: Tensor, b_hh: Tensor | None) -> Tensor:
    """GRU step (Cho et al. 2014), in the variant torch and cuDNN compute.

    With x-blocks xr, xz, xn of W_ih x_t + b_ih and h-blocks hr, hz, hn of
    W_hh h_{t-1} + b_hh:

        r_t = sigmoid(xr + hr)             reset gate
        z_t = sigmoid(xz + hz)             update gate
        n_t = tanh(xn + r_t * hn)          candidate; r scales (W_hn h + b_hn)
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    Two deviations from the usual textbook form, both on purpose, so that
    weights and results match ``torch.nn.GRU`` (and cuDNN) exactly:
    - the reset gate acts after the product, r_t * (W_hn h_{t-1} + b_hn),
      where Cho et al. put it before, W_hn (r_t * h_{t-1});
    - z_t weights the old state: h_t = (1 - z_t) n_t + z_t h_{t-1}. Writing
      h_t = (1 - z_t) h_{t-1} + z_t n_t instead is the same model with z_t
      replaced by 1 - z_t (the gate's weights and bias change sign).

    Args: gates_x (B, 3H) = W_ih x_t + b_ih; h (B, H); w_hh (3H, H); b_hh (3H,) or None.
    Returns h_t (B, H).
    """
    xr, xz, xn = gates_x.chunk(3, dim=-1)  # 3 x (B, H)
    hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)  # 3 x (B, H)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return (1 - z) * n + z * h


class _Cell(nn.Module):
    """Parameters and bookkeeping shared by the three cells (torch's names and init).

    ``folds_bias_hh``: the step takes b_hh inside gates_x (RNN, LSTM), or apart (GRU).
    """

    folds_bias_hh = True

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, num_gates: int, device=None, dtype=None
    ) -> None:
        super().__init__()
        if input_size <= 0 or hidden_size <= 0:
            raise SeqlabError(f"input_size and hidden_size must be positive, got {input_size} and {hidden_size}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        factory = {"device": device, "dtype": dtype}
        gates = num_gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size, **factory))  # (G*H, I)
        self.weight_hh = nn.Parameter(torch.empty(gates, hidden_size, **factory))  # (G*H, H)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates, **factory))  # (G*H,)
            self.bias_hh = nn.Parameter(torch.empty(gates, **factory))  # (G*H,)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: every parameter uniform in [-1/sqrt(H), 1/sqrt(H)]."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias}"

    def _prepare(self, input: Tensor, hx: Tensor | None) -> tuple[Tensor, Tensor, bool]:
        """Add a batch dim to unbatched input; return (gates_x (B, G*H), h (B, H), unbatched).

        gates_x = W_ih x + b_ih, plus b_hh when the step takes it folded in.
        """
        if input.dim() not in (1, 2):
            raise SeqlabError(f"cell input must be (I,) or (B, I), got shape {tuple(input.shape)}")
        if input.shape[-1] != self.input_size:
            raise SeqlabError(f"cell input has {input.shape[-1]} features, expected {self.input_size}")
        unbatched = input.dim() == 1
        x = input.unsqueeze(0) if unbatched else input  # (B, I)
        if hx is None:
            h = x.new_zeros(x.shape[0], self.hidden_size)  # (B, H)
        else:
            h = hx.unsqueeze(0) if unbatched else hx
        bias = self.bias_ih
        if bias is not None and self.folds_bias_hh:
            bias = bias + self.bias_hh  # (G*H,)
        return F.linear(x, self.weight_ih, bias), h, unbatched


class RNNCell(_Cell):
    """Elman cell, ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``, act = tanh or relu.

    Same signature, parameters and results as ``torch.nn.RNNCell``.
    """

    _STEPS = {"tanh": rnn_tanh_step, "relu": rnn_relu_step}

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
        device=None, dtype=None,
    ) -> None:
        if nonlinearity not in self._STEPS:
            raise SeqlabError(f"nonlinearity must be one of {sorted(self._STEPS)}, got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """Args: input (B, I) or (I,); hx (B, H) or (H,), zeros when None. Returns h_t."""
        gates_x, h, unbatched = self._prepare(input, hx)
        h = self._STEPS[self.nonlinearity](gates_x, h, self.weight_hh)  # (B, H)
        return h.squeeze(0) if unbatched else h


class LSTMCell(_Cell):
    """LSTM cell (see ``lstm_step``); same signature, parameters and results as ``torch.nn.LSTMCell``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(
        self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, Tensor]:
        """Args: input (B, I) or (I,); hx = (h, c), each (B, H), zeros when None. Returns (h_t, c_t)."""
        gates_x, h, unbatched = self._prepare(input, None if hx is None else hx[0])
        if hx is None:
            c = torch.zeros_like(h)
        else:
            c = hx[1].unsqueeze(0) if unbatched else hx[1]
        h, c = lstm_step(gates_x, h, c, self.weight_hh)  # (B, H) each
        return (h.squeeze(0), c.squeeze(0)) if unbatched else (h, c)


class GRUCell(_Cell):
    """GRU cell (see ``gru_step``); same signature, parameters and results as ``torch.nn.GRUCell``."""

    folds_bias_hh = False

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """Args: input (B, I) or (I,); hx (B, H) or (H,), zeros when None. Returns h_t."""
        gates_x, h, unbatched = self._prepare(input, hx)
        h = gru_step(gates_x, h, self.weight_hh, self.bias_hh)  # (B, H)
        return h.squeeze(0) if unbatched else h
