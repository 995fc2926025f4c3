"""Teacher-forced recurrent decoders whose weight work is done once per sequence.

Trained step by step (the reference path: one ``recur`` per target step), a recurrent
decoder multiplies the same weights T times and, in backward, forms their gradient T times:

    forward    a_t = W_ih x_t + b + W_hh h_{t-1}                  (B, G*H) per step
    backward   d[x_t ; h_{t-1}] = da_t [W_ih | W_hh]              the chain through time
               dW_ih += da_t^T x_t,  dW_hh += da_t^T h_{t-1}      T small GEMMs + T adds

Only the chain must run in order. Here, for a sequence of T steps and a batch of B:

* the part of the input known before the loop (the target embeddings) is projected for
  all steps in one GEMM, biases folded in: ``gates_x = X_emb W_emb^T + b``  (T, B, G*H);
* a step computes only what depends on the previous one, as one ``addmm``: the blocks of
  the weights that multiply per-step inputs (the attention context, the fed-back
  attentional vector, the layer below, h_{t-1}) are concatenated once, W = [W_c | W_hh],
  and a_t = gates_x[t] + [c_t ; h_{t-1}] W^T;
* W's gradient is not formed per step. A step's backward returns d[c_t ; h_{t-1}] =
  da_t W only and files da_t away (its input row block X_t was written in forward);
  the weights' collector then forms the whole sum as ONE GEMM over T*B rows:

      dW = sum_t da_t^T X_t = dA^T X,   dA (T*B, N), X (T*B, K);   db = column sums of dA.

Mechanism (``seqlab.nn.loop_ops``): ``_Collect`` is applied once to the weight blocks before
the loop (it concatenates and, under autocast, casts them: once per sequence, not per call),
``_Step`` to its output at every step. Autograd runs a node's backward only after every use of its
outputs has run backward, so ``_Collect.backward`` comes after the T step backwards, when
the stash is complete. The cell's pointwise math stays in plain autograd.

The attention read is handled alike (``LoopRead``): c_t = a_t V over values V (B, S, D)
that every step reads; backward returns da_t = V dc_t per step and forms
dV = sum_t a_t^T dc_t = A^T dC once, not as T outer products added into dV one by one.

``DecoderStack`` runs the L layers of a seqlab ``LSTM``/``GRU`` this way, one target step at
a time, so an attention read can sit between steps (Bahdanau, Luong with input feeding);
``run_layers`` runs whole layers when nothing feeds back (the encoders, with padding, and the
decoders of Seq2Seq and Luong without input feeding). The models use them when their
``fused`` attribute says so (``seqlab.nn.seq2seq.EncoderDecoder``).

Limits: no double backward (``once_differentiable``); the loop's batch size is fixed; a
backward that asks for input gradients alone (not the weights') leaves its step gradients
filed, and the next backward through the graph must then reach the same steps.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from seqlab.errors import SeqlabError
from seqlab.nn.dropout import dropout
from seqlab.nn.loop_ops import LoopLinear, compute_dtype


def lstm_pointwise(a: Tensor, c: Tensor) -> tuple[Tensor, Tensor]:
    """The LSTM's elementwise half (equations in ``seqlab.nn.cells.lstm_step``).

    a (B, 4H) = W_ih x_t + b + W_hh h_{t-1}, blocks i, f, g, o; c (B, H) = c_{t-1}.
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g);  h_t = sigmoid(o) * tanh(c_t).
    """
    a_i, a_f, a_g, a_o = a.chunk(4, dim=-1)  # 4 x (B, H)
    c = torch.sigmoid(a_f) * c + torch.sigmoid(a_i) * torch.tanh(a_g)
    return torch.sigmoid(a_o) * torch.tanh(c), c


def gru_pointwise(gx: Tensor, gh: Tensor, h: Tensor) -> Tensor:
    """The GRU's elementwise half (equations and torch's variant in ``seqlab.nn.cells.gru_step``).

    gx (B, 3H) = W_ih x_t + b_ih, gh (B, 3H) = W_hh h_{t-1} + b_hh, blocks r, z, n; h = h_{t-1}.
    r = sigmoid(xr + hr), z = sigmoid(xz + hz), n = tanh(xn + r * hn), h_t = (1 - z) n + z h.
    """
    xr, xz, xn = gx.chunk(3, dim=-1)  # 3 x (B, H)
    hr, hz, hn = gh.chunk(3, dim=-1)
    r = torch.sigmoid(xr + hr)
    z = torch.sigmoid(xz + hz)
    n = torch.tanh(xn + r * hn)
    return n + z * (h - n)


def _plus(a: Tensor | None, b: Tensor | None) -> Tensor | None:
    return b if a is None else a if b is None else a + b


class DecoderStack:
    """The layers of a seqlab ``LSTM``/``GRU`` (unidirectional) run one step at a time with
    weights collected once per sequence (module docstring).

    Layer 0's input at step t is [x_t ; e_t]: x_t (B, E) is known before the loop (the
    target embedding, ``inputs`` (B, T, E)), e_t (B, X), ``extra`` wide (0 = none), is made
    inside it (Bahdanau's context c_i, Luong's fed-back ~h_{t-1}). Layer l > 0 reads the
    layer below, through dropout p = rnn.dropout in training, as ``torch.nn.LSTM`` does.

    Per step and layer, LSTM: a = gates_x[t] + [e_t ; h_{t-1}] [W_ie | W_hh]^T (layer 0),
    a = [h^{l-1}_t ; h_{t-1}] [W_ih | W_hh]^T + b (l > 0): one ``addmm`` each. GRU keeps
    the input and the recurrent products apart (its reset gate scales W_hn h + b_hn only).
    """

    def __init__(self, rnn, inputs: Tensor, extra: int = 0, training: bool = False) -> None:
        if rnn.bidirectional or not rnn.batch_first:
            raise SeqlabError("DecoderStack runs unidirectional, batch-first recurrent layers")
        batch, steps, width = inputs.shape  # (B, T, E)
        if width + extra != rnn.input_size:
            raise SeqlabError(f"decoder input is {width} + {extra} wide, the recurrent layer takes {rnn.input_size}")
        self.is_lstm = rnn.num_states == 2
        self.num_layers, self.steps = rnn.num_layers, steps
        self.dropout = rnn.dropout if training else 0.0
        self.dtype = dtype = compute_dtype(inputs)
        self.layers: list[tuple[LoopLinear | None, LoopLinear]] = []  # (input part, recurrent part)
        for layer in range(rnn.num_layers):
            w_ih, w_hh, b_ih, b_hh = rnn._layer_weights(layer)
            if layer == 0:
                bias = _plus(b_ih, b_hh) if self.is_lstm else b_ih  # GRU keeps b_hh apart
                x = inputs.transpose(0, 1)  # (T, B, E)
                self.gates_x = F.linear(x, w_ih[:, :width], bias).unbind(0)  # T x (B, G*H): one GEMM
                in_blocks, in_bias = ([w_ih[:, width:]] if extra else []), None
            else:
                in_blocks, in_bias = [w_ih], _plus(b_ih, b_hh) if self.is_lstm else b_ih
            if self.is_lstm:  # one GEMM per step: [input ; h_{t-1}] [W_in | W_hh]^T
                rec = LoopLinear([*in_blocks, w_hh], in_bias, steps, batch, dtype)
                self.layers.append((None, rec))
            else:
                inp = LoopLinear(in_blocks, in_bias, steps, batch, dtype) if in_blocks else None
                self.layers.append((inp, LoopLinear([w_hh], b_hh, steps, batch, dtype)))

    def initial(self, final) -> list:
        """(L, B, H) tensors, (h, c) for LSTM, -> per-layer states [(h, c), ...] or [h, ...]."""
        if self.is_lstm:
            return [(final[0][layer], final[1][layer]) for layer in range(self.num_layers)]
        return [final[layer] for layer in range(self.num_layers)]

    @staticmethod
    def top(state: list) -> Tensor:
        """h of the last layer (B, H)."""
        return state[-1][0] if isinstance(state[-1], tuple) else state[-1]

    def step(self, t: int, extra: Tensor | None, state: list) -> tuple[Tensor, list]:
        """Step t: extra e_t (B, X) or None; returns the top layer's h_t (B, H) and the new state."""
        pieces, base = ([] if extra is None else [extra]), self.gates_x[t]
        new = []
        for layer, (inp, rec) in enumerate(self.layers):
            if layer > 0:
                below = new[-1][0] if self.is_lstm else new[-1]
                pieces, base = [dropout(below, self.dropout, training=self.dropout > 0)], None
            if self.is_lstm:
                h_prev, c_prev = state[layer]
                new.append(lstm_pointwise(rec(t, [*pieces, h_prev], base), c_prev))  # (h_t, c_t)
            else:
                gx = inp(t, pieces, base) if inp is not None else base  # (B, 3H)
                new.append(gru_pointwise(gx, rec(t, [state[layer]]), state[layer]))
        return self.top(new), new



def run_layers(rnn, x: Tensor, state=None, lengths: Tensor | None = None, training: bool = False):
    """A seqlab ``LSTM``/``GRU`` (batch-first, any layers and directions) over a whole sequence
    with nothing fed back, layer by layer: per layer the input projection is one GEMM over all
    T steps (both directions together), the loop does h_{t-1} W_hh^T only, W_hh's gradient is
    one GEMM. A bidirectional layer runs its two directions in the same loop, side by side
    (step t reads position t forward and T-1-t backward): one batched GEMM and one set of
    pointwise ops per step for both, half the steps of running them one after the other.

    Same function as ``rnn(x, state, lengths=lengths)``: with ``lengths`` (B,) the steps past a
    row's length leave its state unchanged and output zeros, so the final state is the one at
    its last real step and the reverse direction starts there (right padding).
    Args: x (B, T, I); state as the module takes it, None = zeros. Returns (out (B, T, D*H), final).
    """
    if not rnn.batch_first:
        raise SeqlabError("run_layers takes batch-first recurrent layers")
    batch, steps, _ = x.shape
    is_lstm, directions = rnn.num_states == 2, 2 if rnn.bidirectional else 1
    shape = (rnn.num_layers * directions, batch, rnn.hidden_size)
    if state is None:
        state = (x.new_zeros(shape), x.new_zeros(shape)) if is_lstm else x.new_zeros(shape)
    states = tuple(state) if is_lstm else (state,)
    mask = None
    if lengths is not None and int(lengths.min()) < steps:  # else nothing is padded
        positions = torch.arange(steps, device=x.device)[:, None]  # (T, 1)
        mask = (positions < lengths.to(x.device)[None, :]).unsqueeze(-1)  # (T, B, 1), True = real step
        if directions == 2:
            mask = torch.stack([mask, mask.flip(0)], 1)  # (T, 2, B, 1): position t forward, T-1-t backward
    dtype = compute_dtype(x)
    layer_in, finals = x.transpose(0, 1), []  # (T, B, I)
    for layer in range(rnn.num_layers):
        ks = range(layer * directions, (layer + 1) * directions)
        cur = tuple(s[ks.start] if directions == 1 else s[ks.start:ks.stop] for s in states)  # ([2,] B, H) each
        layer_in, cur = _run_layer(rnn, [rnn._layer_weights(k) for k in ks], layer_in, cur, mask, is_lstm, dtype)
        finals += [cur] if directions == 1 else [tuple(c[d] for c in cur) for d in range(2)]
        if training and rnn.dropout > 0 and layer < rnn.num_layers - 1:
            layer_in = dropout(layer_in, rnn.dropout)
    final = tuple(torch.stack(parts) for parts in zip(*finals))  # each (L*D, B, H)
    return layer_in.transpose(0, 1), final if is_lstm else final[0]


def _stack(tensors: list[Tensor | None]) -> Tensor | None:
    """One tensor, or the two directions' stacked (2, ...); None stays None (no bias)."""
    if tensors[0] is None:
        return None
    return tensors[0] if len(tensors) == 1 else torch.stack(tensors)


def _run_layer(rnn, weights: list, layer_in: Tensor, cur: tuple, mask: Tensor | None, is_lstm: bool,
               dtype: torch.dtype) -> tuple[Tensor, tuple]:
    """One layer, one direction or both side by side (``weights`` per direction: (w_ih, w_hh, b_ih, b_hh)).

    layer_in (T, B, I); cur = (h,) or (h, c), each (B, H) or (2, B, H); mask (T, [2,] B, 1) or None.
    Returns the layer's output (T, B, D*H) and its final state (as ``cur``).
    """
    steps, batch, _ = layer_in.shape
    both = len(weights) == 2
    in_bias = [_plus(b_ih, b_hh) if is_lstm else b_ih for _, _, b_ih, b_hh in weights]
    w_in = torch.cat([w[0] for w in weights]) if both else weights[0][0]  # (D*G*H, I)
    gates_x = F.linear(layer_in, w_in, None if in_bias[0] is None else torch.cat(in_bias))  # (T, B, D*G*H): one GEMM
    if both:  # (T, 2, B, G*H): at step t the backward direction reads position T-1-t
        forward, backward = gates_x.view(steps, batch, 2, -1).unbind(2)
        gates_x = torch.stack([forward, backward.flip(0)], 1)
    rec = LoopLinear([_stack([w[1] for w in weights])], None if is_lstm else _stack([w[3] for w in weights]),
                     steps, batch, dtype)  # W_hh h_{t-1} (+ b_hh)
    gates_x = gates_x.unbind(0)
    out: list[Tensor] = [None] * steps
    for t in range(steps):
        h = cur[0]
        new = (lstm_pointwise(rec(t, [h], gates_x[t]), cur[1]) if is_lstm
               else (gru_pointwise(gates_x[t], rec(t, [h]), h),))
        if mask is None:
            cur, out[t] = new, new[0]
        else:  # padded step: state carried, output zero
            cur = tuple(torch.where(mask[t], n, c) for n, c in zip(new, cur))
            out[t] = torch.where(mask[t], new[0], 0.0)
    hs = torch.stack(out)  # (T, [2,] B, H)
    return (torch.cat([hs[:, 0], hs[:, 1].flip(0)], dim=-1) if both else hs), cur  # (T, B, D*H)
