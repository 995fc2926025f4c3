"""A stacked recurrent network in NumPy: the loop over time and over layers, and BPTT.

A cell module (``rnn``, ``lstm`` or ``gru``) knows one step; this module runs it over
T steps (``layer_forward``), stacks layers (each layer's hidden states are the next
layer's inputs) and runs backpropagation through time in reverse order
(``layer_backward``). Parameters follow ``torch.nn.RNN/LSTM/GRU`` names
(``weight_ih_l0``...), so :meth:`Recurrent.load_state_dict` takes a torch state dict.

Everything is float64 and batch first: inputs (B, T, D), outputs (B, T, H).
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from seqlab.errors import ConfigError
from seqlab.reference import gru, lstm, rnn

CELLS: dict[str, ModuleType] = {"rnn": rnn, "lstm": lstm, "gru": gru}

State = tuple[np.ndarray, ...]  # (h,) or (h, c), each (B, H)
TORCH_NAMES = {"W_ih": "weight_ih", "W_hh": "weight_hh", "b_ih": "bias_ih", "b_hh": "bias_hh"}


def layer_forward(cell: ModuleType, x: np.ndarray, state0: State, p: dict[str, np.ndarray]):
    """Run one layer over time. x (B, T, D) -> hs (B, T, H), final state, per-step caches."""
    state, caches, hs = state0, [], []
    for t in range(x.shape[1]):
        state, cache = cell.step_forward(x[:, t], state, p)  # h_t = cell(x_t, h_{t-1})
        hs.append(state[0])
        caches.append(cache)
    return np.stack(hs, axis=1), state, caches


def layer_backward(cell: ModuleType, dhs: np.ndarray, dstate_T: State, caches, p):
    """Backpropagation through time for one layer.

    Args:
        dhs: dL/dh_t from the layer's outputs (the loss or the layer above), (B, T, H).
        dstate_T: dL/d(final state), e.g. (dL/dh_T, dL/dc_T).
    Returns:
        dL/dx (B, T, D), dL/d(initial state), parameter gradients.
    """
    grads = {k: np.zeros_like(v) for k, v in p.items()}
    dstate, dxs = dstate_T, []
    for t in reversed(range(dhs.shape[1])):
        # dL/dh_t = (from the output at t) + (from step t+1), the two paths that meet at h_t
        dstate = (dstate[0] + dhs[:, t],) + tuple(dstate[1:])
        dx, dstate = cell.step_backward(dstate, caches[t], p, grads)
        dxs.append(dx)
    return np.stack(dxs[::-1], axis=1), dstate, grads


def init_layer(cell: ModuleType, input_size: int, hidden_size: int, scale: float, rng):
    """torch's default init: every weight and bias ~ U(-scale, scale), scale = 1/sqrt(H)."""
    G, H, D = cell.GATES, hidden_size, input_size
    shapes = {"W_ih": (G * H, D), "W_hh": (G * H, H), "b_ih": (G * H,), "b_hh": (G * H,)}
    return {k: rng.uniform(-scale, scale, size=s) for k, s in shapes.items()}


def torch_named(layers: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Per-layer dicts (params or their grads) -> one dict under torch's names.

    ``torch_named(grads)["weight_hh_l1"]`` is the gradient torch puts in
    ``lstm.weight_hh_l1.grad``: ``[{"W_ih": ..., "W_hh": ...}, ...] -> {"weight_ih_l0": ..., ...}``.
    """
    return {f"{TORCH_NAMES[k]}_l{layer}": v for layer, p in enumerate(layers) for k, v in p.items()}


class Recurrent:
    """A one- or more-layer RNN / LSTM / GRU with explicit forward and backward.

    ``forward`` returns a cache; ``backward`` takes it back. Nothing is kept on ``self``
    between calls except the parameters (``self.params``: one dict per layer).
    """

    def __init__(self, kind: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 seed: int = 0, scale: float | None = None):
        if kind not in CELLS:
            raise ConfigError(f"unknown cell kind {kind!r}; choose from {sorted(CELLS)}")
        if num_layers < 1 or hidden_size < 1 or input_size < 1:
            raise ConfigError("input_size, hidden_size and num_layers must be >= 1")
        self.kind, self.cell = kind, CELLS[kind]
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        rng = np.random.default_rng(seed)
        s = 1.0 / np.sqrt(hidden_size) if scale is None else scale
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.params = [init_layer(self.cell, d, hidden_size, s, rng) for d in sizes]

    def zero_state(self, batch_size: int) -> list[State]:
        """All-zero initial state for every layer."""
        shape = (batch_size, self.hidden_size)
        return [tuple(np.zeros(shape) for _ in self.cell.STATE_NAMES)
                for _ in range(self.num_layers)]

    def forward(self, x: np.ndarray, state0: list[State] | None = None):
        """x (B, T, D) -> (top-layer outputs (B, T, H), final state per layer, cache)."""
        if x.ndim != 3 or x.shape[2] != self.input_size:
            raise ConfigError(f"expected inputs (B, T, {self.input_size}), got {x.shape}")
        state0 = self.zero_state(x.shape[0]) if state0 is None else state0
        finals, caches, inp = [], [], x
        for p, s0 in zip(self.params, state0):
            inp, s_T, layer_caches = layer_forward(self.cell, inp, s0, p)  # (B, T, H)
            finals.append(s_T)
            caches.append(layer_caches)
        return inp, finals, caches

    def layer_outputs(self, x: np.ndarray, state0: list[State] | None = None) -> list[np.ndarray]:
        """Hidden states of every layer, bottom first: a list of (B, T, H)."""
        state0 = self.zero_state(x.shape[0]) if state0 is None else state0
        outputs, inp = [], x
        for p, s0 in zip(self.params, state0):
            inp, _, _ = layer_forward(self.cell, inp, s0, p)  # (B, T, H)
            outputs.append(inp)
        return outputs

    def backward(self, caches, dout: np.ndarray, dfinal: list[State] | None = None):
        """BPTT through the stack, top layer first.

        Args:
            caches: from ``forward``. dout: dL/d(top outputs), (B, T, H).
            dfinal: dL/d(final state) per layer, or None for zeros.
        Returns:
            dL/dx (B, T, D), dL/d(initial state) per layer, gradients per layer: dicts
            keyed like ``self.params`` (``W_ih``, ``W_hh``, ``b_ih``, ``b_hh``), so an
            optimizer can pair them with the parameters; ``torch_named(grads)`` gives
            them under torch's names (``weight_ih_l0``, ...).
        """
        if dfinal is None:
            dfinal = [tuple(np.zeros_like(a) for a in s) for s in self.zero_state(dout.shape[0])]
        grads, dstate0 = [None] * self.num_layers, [None] * self.num_layers
        dh = dout
        for k in reversed(range(self.num_layers)):
            # the layer below's outputs are this layer's inputs: dL/dh^{k-1}_t = dL/dx^k_t
            dh, dstate0[k], grads[k] = layer_backward(
                self.cell, dh, dfinal[k], caches[k], self.params[k])
        return dh, dstate0, grads

    def state_dict(self) -> dict[str, np.ndarray]:
        """Parameters under torch.nn.RNN/LSTM/GRU names (``weight_ih_l0``, ...)."""
        return torch_named(self.params)

    def load_state_dict(self, state_dict) -> None:
        """Copy weights from a torch-style state dict (torch tensors or arrays)."""
        for layer, p in enumerate(self.params):
            for k in p:
                name = f"{TORCH_NAMES[k]}_l{layer}"
                if name not in state_dict:
                    raise ConfigError(f"state dict has no {name!r}")
                value = state_dict[name]
                if hasattr(value, "detach"):  # a torch tensor, possibly on a GPU
                    value = value.detach().cpu().double().numpy()
                value = np.array(value, dtype=np.float64)
                if value.shape != p[k].shape:
                    raise ConfigError(f"{name}: shape {value.shape}, expected {p[k].shape}")
                p[k] = value
