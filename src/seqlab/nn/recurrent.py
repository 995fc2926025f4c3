"""Recurrent layers ``RNN``, ``LSTM``, ``GRU``: drop-in for ``torch.nn``'s, two backends.

Interface, parameter names, shapes, default init and return values are those
of ``torch.nn.RNN`` / ``LSTM`` / ``GRU``, so a state_dict moves between the two
unchanged. Two backends run over the same parameters:

* ``backend="fused"`` hands the parameters to torch's own recurrent kernels
  (``torch._VF.lstm`` and friends, cuDNN on CUDA), as ``torch.nn.RNNBase`` does.
* ``backend="cell"`` runs the step functions of ``seqlab.nn.cells`` in a plain
  Python loop over time (``run_direction`` below, the only loop in the file):
  the input projection of all T steps is one GEMM up front (with b_hh folded
  in for RNN and LSTM), each step then does one fused gate GEMM (``addmm`` of
  W_hh h onto it) plus the cell's elementwise math.
  ``compiled=True`` compiles that step with ``torch.compile``.

Both accept a padded tensor with an optional ``lengths`` (B,) tensor, or a
``PackedSequence``; padded steps give zero outputs and the final state of each
sequence is the one at its own last step (the reverse direction starts there).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, _VF, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.errors import ConfigError, SeqlabError
from seqlab.nn import cells
from seqlab.nn.dropout import dropout

State = tuple[Tensor, ...]  # (h,) or (h, c), each (L*D, B, H)
BACKENDS = ("cell", "fused")


def run_direction(
    step: Callable, gates_x: Tensor, state: State, recurrent: tuple, mask: Tensor | None, reverse: bool,
) -> tuple[Tensor, State]:
    """Run one cell over time in one direction.

    Args:
        step: a cell function ``step(gates_x_t, *state, *recurrent) -> state``.
        gates_x: (T, B, G*H), the input projections of every step.
        state: initial state, tuple of (B, H).
        recurrent: the step's weights, (w_hh,) or (w_hh, b_hh).
        mask: (T, B, 1) bool, True at real steps, or None when nothing is padded.
            Where False the state is carried unchanged and the output is zero, so
            a forward pass freezes at each sequence's end and a reverse pass
            starts from the initial state at each sequence's own last step.
        reverse: walk t = T-1 .. 0.
    Returns (outputs (T, B, H), final state).
    """
    steps = range(gates_x.shape[0] - 1, -1, -1) if reverse else range(gates_x.shape[0])
    # unbind, not gates_x[t]: one backward node that stacks the T step gradients,
    # where T select nodes would each write a full (T, B, G*H) zero tensor.
    gates_steps = gates_x.unbind(0)  # T x (B, G*H)
    outputs: list[Tensor] = list(gates_steps)
    for t in steps:
        new = step(gates_steps[t], *state, *recurrent)
        new = new if isinstance(new, tuple) else (new,)
        if mask is None:
            state = new
            outputs[t] = new[0]  # (B, H)
        else:
            state = tuple(torch.where(mask[t], n, s) for n, s in zip(new, state))
            outputs[t] = torch.where(mask[t], new[0], 0.0)  # (B, H)
    return torch.stack(outputs), state  # (T, B, H)


class _Recurrent(nn.Module):
    """Parameters, state handling and the two backends shared by RNN, LSTM and GRU.

    Subclasses set ``mode`` (torch's name: "LSTM", "GRU", "RNN_TANH", "RNN_RELU"),
    ``num_gates``, ``num_states`` (2 for LSTM's (h, c), else 1) and pass the cell
    step function and the fused kernel to ``__init__``.
    """

    mode: str
    num_gates: int
    num_states: int = 1
    folds_bias_hh = True  # the cell step takes b_hh inside gates_x (RNN, LSTM) or apart (GRU)

    def __init__(
        self, step: Callable, kernel: Callable, input_size: int, hidden_size: int,
        num_layers: int, bias: bool, batch_first: bool, dropout: float, bidirectional: bool,
        backend: str, compiled: bool, device, dtype,
    ) -> None:
        super().__init__()
        _check_args(input_size, hidden_size, num_layers, dropout, backend)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.bidirectional = bias, batch_first, bidirectional
        self.dropout = float(dropout)
        self.proj_size = 0  # torch's attribute; projections are not supported
        self.backend, self.compiled = backend, compiled
        self._kernel = kernel
        self._step = torch.compile(step) if compiled else step
        self._register_parameters(device, dtype)
        self.reset_parameters()
        self.flatten_parameters()

    def _register_parameters(self, device, dtype) -> None:
        """Register weight_ih_l{k}[_reverse] etc. in torch's order and shapes."""
        factory = {"device": device, "dtype": dtype}
        gates = self.num_gates * self.hidden_size
        directions = 2 if self.bidirectional else 1
        self._all_weights: list[list[str]] = []
        for layer in range(self.num_layers):
            layer_in = self.input_size if layer == 0 else self.hidden_size * directions
            for direction in range(directions):
                sfx = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = {f"weight_ih{sfx}": (gates, layer_in), f"weight_hh{sfx}": (gates, self.hidden_size)}
                if self.bias:
                    shapes.update({f"bias_ih{sfx}": (gates,), f"bias_hh{sfx}": (gates,)})
                for name, shape in shapes.items():
                    self.register_parameter(name, nn.Parameter(torch.empty(shape, **factory)))
                self._all_weights.append(list(shapes))
        self._flat_weights_names = [n for names in self._all_weights for n in names]

    @property
    def _flat_weights(self) -> list[Tensor]:
        """Parameters in the order torch's kernels expect, looked up fresh every call
        (so assigning a new Parameter or ``load_state_dict(assign=True)`` just works)."""
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[nn.Parameter]]:
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def reset_parameters(self) -> None:
        """torch's default: every parameter uniform in [-1/sqrt(H), 1/sqrt(H)]."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def flatten_parameters(self) -> None:
        """On CUDA, make the weights views of one buffer so cuDNN need not copy them
        each call (what ``torch.nn.RNNBase.flatten_parameters`` does); else a no-op."""
        ws = self._flat_weights
        first = ws[0]
        if not all(w.is_cuda and w.dtype == first.dtype for w in ws):
            return
        if not all(torch.backends.cudnn.is_acceptable(w) for w in ws):
            return
        if len({w.data_ptr() for w in ws}) != len(ws):  # aliased weights: leave them alone
            return
        from torch.backends.cudnn import rnn as cudnn_rnn

        with torch.cuda.device_of(first), torch.no_grad():
            if torch._use_cudnn_rnn_flatten_weight():
                torch._cudnn_rnn_flatten_weight(
                    ws, 4 if self.bias else 2, self.input_size, cudnn_rnn.get_cudnn_mode(self.mode),
                    self.hidden_size, 0, self.num_layers, self.batch_first, self.bidirectional,
                )

    def _apply(self, fn, recurse=True):
        result = super()._apply(fn, recurse)
        self.flatten_parameters()  # .cuda() / .to(): re-flatten the moved weights
        return result

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        for name, default in (("num_layers", 1), ("bias", True), ("batch_first", False),
                              ("dropout", 0.0), ("bidirectional", False)):
            if getattr(self, name) != default:
                s += f", {name}={getattr(self, name)}"
        return s + f", backend={self.backend!r}" + (", compiled=True" if self.compiled else "")

    # ---- state in and out -------------------------------------------------------

    def _initial_state(self, hx, batch: int, like: Tensor, unbatched: bool) -> State:
        """User's hx (tensor, or (h, c) for LSTM; None = zeros) -> tuple of (L*D, B, H)."""
        shape = (self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)
        if hx is None:
            return tuple(like.new_zeros(shape) for _ in range(self.num_states))
        if isinstance(hx, Tensor) != (self.num_states == 1) or (self.num_states == 2 and len(hx) != 2):
            want = "a pair (h_0, c_0)" if self.num_states == 2 else "one tensor h_0"
            raise SeqlabError(f"{type(self).__name__} takes as initial state {want}, got {type(hx).__name__}")
        state = tuple(hx) if self.num_states == 2 else (hx,)
        if unbatched:
            state = tuple(s.unsqueeze(1) for s in state)
        for s in state:
            if tuple(s.shape) != shape:
                raise SeqlabError(f"initial state has shape {tuple(s.shape)}, expected {shape}")
        return state

    def _user_state(self, state: State, unbatched: bool = False):
        """Tuple of (L*D, B, H) -> torch's return form: h_n, or (h_n, c_n) for LSTM."""
        if unbatched:
            state = tuple(s.squeeze(1) for s in state)
        return state if self.num_states == 2 else state[0]

    # ---- forward ----------------------------------------------------------------

    def forward(self, input, hx=None, lengths: Tensor | None = None):
        """Run the layer stack.

        Args:
            input: (T, B, I), or (B, T, I) with batch_first, or (T, I) unbatched,
                or a PackedSequence.
            hx: initial state, (L*D, B, H) (LSTM: a pair (h_0, c_0)); zeros if None.
            lengths: (B,) true lengths of a padded batch; None = all T steps real.
        Returns what torch returns: (output, h_n), or (output, (h_n, c_n)) for LSTM;
        output is (T, B, D*H) (batch_first: (B, T, D*H)) or a PackedSequence.
        """
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise SeqlabError("pass lengths with a padded tensor, not with a PackedSequence")
            return self._forward_packed(input, hx)
        if input.dim() not in (2, 3) or input.shape[-1] != self.input_size:
            raise SeqlabError(
                f"input must be (T, B, {self.input_size}), (B, T, {self.input_size}) with "
                f"batch_first, or (T, {self.input_size}); got shape {tuple(input.shape)}"
            )
        unbatched = input.dim() == 2
        batch_dim = 0 if self.batch_first else 1
        x = input.unsqueeze(batch_dim) if unbatched else input
        state = self._initial_state(hx, x.shape[batch_dim], x, unbatched)
        if lengths is not None:
            lengths = _check_lengths(lengths, x.shape[batch_dim], x.shape[1 - batch_dim])
        if self.backend == "fused":
            out, state = self._fused_padded(x, state, lengths)
        else:
            xt = x.transpose(0, 1) if self.batch_first else x  # (T, B, I)
            out, state = self._cell_stack(xt, state, lengths)  # (T, B, D*H)
            out = out.transpose(0, 1) if self.batch_first else out
        if unbatched:
            out = out.squeeze(batch_dim)
        return out, self._user_state(state, unbatched)

    def _forward_packed(self, packed: PackedSequence, hx):
        """PackedSequence in, PackedSequence out; hx and h_n in the caller's batch order."""
        sorted_idx, unsorted_idx = packed.sorted_indices, packed.unsorted_indices
        state = self._initial_state(hx, int(packed.batch_sizes[0]), packed.data, False)
        if self.backend == "fused":
            data, state = self._fused_kernel(packed.data, packed.batch_sizes, _permute(state, sorted_idx))
            state = _permute(state, unsorted_idx)
        else:
            x, lengths = pad_packed_sequence(packed)  # (T, B, I) in caller's order, lengths (B,)
            out, state = self._cell_stack(x, state, lengths)  # (T, B, D*H)
            if sorted_idx is not None:  # repack in the input's own (sorted) batch order
                out, lengths = out.index_select(1, sorted_idx), lengths[sorted_idx.cpu()]
            data = pack_padded_sequence(out, lengths, enforce_sorted=True).data
        return PackedSequence(data, packed.batch_sizes, sorted_idx, unsorted_idx), self._user_state(state)

    def _fused_padded(self, x: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        """Fused kernels on a padded batch; with lengths, pack -> kernel -> unpack (zeros)."""
        if lengths is None:
            out, *rest = self._kernel(
                x, self._kernel_state(state), self._flat_weights, self.bias, self.num_layers,
                self.dropout, self.training, self.bidirectional, self.batch_first,
            )
            return out, tuple(rest)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=self.batch_first, enforce_sorted=False)
        data, state = self._fused_kernel(packed.data, packed.batch_sizes, _permute(state, packed.sorted_indices))
        packed_out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
        total = x.shape[1 if self.batch_first else 0]
        out, _ = pad_packed_sequence(packed_out, batch_first=self.batch_first, total_length=total)
        return out, _permute(state, packed.unsorted_indices)

    def _fused_kernel(self, data: Tensor, batch_sizes: Tensor, state: State) -> tuple[Tensor, State]:
        """torch's packed-sequence kernel; state already in the packed (sorted) order."""
        out, *rest = self._kernel(
            data, batch_sizes, self._kernel_state(state), self._flat_weights, self.bias,
            self.num_layers, self.dropout, self.training, self.bidirectional,
        )
        return out, tuple(rest)

    def _kernel_state(self, state: State):
        return state if self.num_states == 2 else state[0]

    def _cell_stack(self, x: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
        """The cell backend: layers x directions of ``run_direction``, dropout between layers.

        Args: x (T, B, I) time-major; state tuple of (L*D, B, H); lengths (B,) or None.
        Returns (output (T, B, D*H), final state tuple of (L*D, B, H)).
        """
        mask = None
        if lengths is not None and int(lengths.min()) < x.shape[0]:  # else nothing is padded
            steps = torch.arange(x.shape[0], device=x.device)  # (T,)
            mask = (steps[:, None] < lengths.to(x.device)[None, :]).unsqueeze(-1)  # (T, B, 1)
        directions = 2 if self.bidirectional else 1
        finals: list[State] = []
        layer_in = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                w_ih, w_hh, b_ih, b_hh = self._layer_weights(k)
                recurrent = (w_hh, b_hh)
                if self.folds_bias_hh:
                    b_ih, recurrent = (None if b_ih is None else b_ih + b_hh), (w_hh,)
                gates_x = F.linear(layer_in, w_ih, b_ih)  # (T, B, G*H): all steps, one GEMM
                out, final = run_direction(
                    self._step, gates_x, tuple(s[k] for s in state), recurrent, mask, reverse=d == 1
                )
                outs.append(out)  # (T, B, H)
                finals.append(final)
            layer_in = outs[0] if directions == 1 else torch.cat(outs, dim=-1)  # (T, B, D*H)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_in = dropout(layer_in, self.dropout)
        return layer_in, tuple(torch.stack(parts) for parts in zip(*finals))

    def _layer_weights(self, k: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None]:
        """(w_ih, w_hh, b_ih, b_hh) of layer*directions+direction k; biases None when bias=False."""
        ws = [getattr(self, n) for n in self._all_weights[k]]
        return (ws[0], ws[1], ws[2], ws[3]) if self.bias else (ws[0], ws[1], None, None)


def _permute(state: State, index: Tensor | None) -> State:
    """Reorder the batch dim of every state tensor (None = keep)."""
    return state if index is None else tuple(s.index_select(1, index) for s in state)


def _check_lengths(lengths: Tensor, batch: int, steps: int) -> Tensor:
    """lengths must be (B,) integers in [1, T]."""
    lengths = torch.as_tensor(lengths)
    if lengths.shape != (batch,):
        raise SeqlabError(f"lengths must have shape ({batch},), got {tuple(lengths.shape)}")
    if lengths.is_floating_point() or bool((lengths < 1).any()) or bool((lengths > steps).any()):
        raise SeqlabError(f"lengths must be integers between 1 and {steps}, got {lengths.tolist()}")
    return lengths


def _check_args(input_size: int, hidden_size: int, num_layers: int, dropout: float, backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigError(f"backend must be one of {list(BACKENDS)}, got {backend!r}")
    for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
        raise ConfigError(f"dropout must be a number in [0, 1], got {dropout!r}")
    if dropout > 0 and num_layers == 1:
        warnings.warn("dropout acts between stacked layers; with num_layers=1 it does nothing", stacklevel=3)


class RNN(_Recurrent):
    """Elman RNN, ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``; like ``torch.nn.RNN``.

    Extra arguments: ``backend`` ("cell" or "fused") and ``compiled`` (cell backend:
    torch.compile the step). ``forward(input, hx=None, lengths=None)``.
    """

    num_gates = 1
    _VARIANTS = {"tanh": ("RNN_TANH", cells.rnn_tanh_step, _VF.rnn_tanh),
                 "relu": ("RNN_RELU", cells.rnn_relu_step, _VF.rnn_relu)}

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
        bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
        bidirectional: bool = False, backend: str = "cell", compiled: bool = False,
        device=None, dtype=None,
    ) -> None:
        if nonlinearity not in self._VARIANTS:
            raise ConfigError(f"nonlinearity must be one of {sorted(self._VARIANTS)}, got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        self.mode, step, kernel = self._VARIANTS[nonlinearity]
        super().__init__(step, kernel, input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, backend, compiled, device, dtype)

    def extra_repr(self) -> str:
        return super().extra_repr() + (", nonlinearity='relu'" if self.nonlinearity == "relu" else "")


class LSTM(_Recurrent):
    """LSTM layer stack (equations in ``seqlab.nn.cells.lstm_step``); like ``torch.nn.LSTM``
    without ``proj_size``. Extra arguments: ``backend`` and ``compiled`` as in ``RNN``."""

    mode, num_gates, num_states = "LSTM", 4, 2

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
        backend: str = "cell", compiled: bool = False, device=None, dtype=None,
    ) -> None:
        super().__init__(cells.lstm_step, _VF.lstm, input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, backend, compiled, device, dtype)


class GRU(_Recurrent):
    """GRU layer stack (equations, and torch's reset-gate placement, in
    ``seqlab.nn.cells.gru_step``); like ``torch.nn.GRU``. Extra: ``backend``, ``compiled``."""

    mode, num_gates, folds_bias_hh = "GRU", 3, False

    def __init__(
        self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
        batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
        backend: str = "cell", compiled: bool = False, device=None, dtype=None,
    ) -> None:
        super().__init__(cells.gru_step, _VF.gru, input_size, hidden_size, num_layers, bias,
                         batch_first, dropout, bidirectional, backend, compiled, device, dtype)
