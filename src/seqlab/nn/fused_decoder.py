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

Mechanism: ``_Collect`` is applied once to the weight blocks before the loop (it
concatenates and, under autocast, casts them: once per sequence, not per call), ``_Step``
to its output at every step. Autograd runs a node's backward only after every use of its
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
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from seqlab.errors import SeqlabError


def compute_dtype(like: Tensor) -> torch.dtype:
    """The dtype matrix products run in: autocast's when it is on for ``like``'s device."""
    device = like.device.type
    if torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return like.dtype


class _Stash:
    """One loop's record: X, each step's input row block (written in forward), and the
    gradients dA_t of each step's output (written in backward, consumed by ``_Collect``).

    ``groups`` > 0: G independent weights multiplied side by side (the two directions of a
    bidirectional layer); X is then laid out (G, T, B, K), so that X_g is one (T*B, K) block.
    """

    def __init__(self, steps: int, batch: int, sizes: list[int], dtype: torch.dtype, device,
                 groups: int = 0) -> None:
        self.sizes = sizes  # widths of the weight blocks [W_1 | W_2 | ...]
        lead = (groups,) if groups else ()
        self.inputs = torch.empty(*lead, steps, batch, sum(sizes), dtype=dtype, device=device)  # X ([G,] T, B, K)
        self.grads: list[Tensor | None] = [None] * steps  # dA_t ([G,] B, N)
        self.out_features = 0

    def row(self, t: int) -> Tensor:
        """X_t ([G,] B, K), a view into X."""
        return self.inputs[:, t] if self.inputs.dim() == 4 else self.inputs[t]

    def step_grads(self) -> Tensor:
        """dA ([G,] T*B, N): every step's output gradient, zeros where a step's output reached no loss."""
        x = self.inputs
        zeros, rows = None, []
        for g in self.grads:
            if g is None:
                zeros = x.new_zeros(*self.row(0).shape[:-1], self.out_features) if zeros is None else zeros
            rows.append(zeros if g is None else g)
        self.grads = [None] * len(self.grads)  # a second backward (retain_graph) starts clean
        if x.dim() == 3:
            return torch.cat(rows, dim=0).to(x.dtype)  # (T*B, N)
        return torch.stack(rows, dim=1).to(x.dtype).flatten(1, 2)  # (G, T*B, N)


class _Collect(Function):
    """W = [W_1 | W_2 | ...] ([G,] N, K) in the compute dtype (and b ([G,] N)); backward: dW = dA^T X, db."""

    @staticmethod
    def forward(ctx, stash: _Stash, dtype: torch.dtype, bias: Tensor | None, *blocks: Tensor):
        ctx.set_materialize_grads(False)  # the steps send no gradient here, only the stash
        ctx.stash, ctx.has_bias = stash, bias is not None
        weight = torch.cat(blocks, dim=-1).to(dtype)  # ([G,] N, K)
        stash.out_features = weight.size(-2)
        if bias is None:
            return weight
        return weight, bias.to(dtype, copy=True)  # ([G,] N, K), ([G,] N)

    @staticmethod
    @once_differentiable
    def backward(ctx, *unused):
        stash = ctx.stash
        d_out = stash.step_grads()  # dA ([G,] T*B, N)
        x = stash.inputs.flatten(-3, -2)  # X ([G,] T*B, K)
        d_weight = d_out.transpose(-1, -2) @ x  # dW = dA^T X  ([G,] N, K): the one big GEMM (per group)
        d_bias = d_out.sum(-2) if ctx.has_bias else None  # db ([G,] N)
        return (None, None, d_bias, *d_weight.split(stash.sizes, dim=-1))


class _Step(Function):
    """Step t: y = base + [x_1 | ... | x_k] W^T (+ b), ([G,] B, N); W's gradient left to ``_Collect``."""

    @staticmethod
    def forward(ctx, stash: _Stash, t: int, base: Tensor | None, weight: Tensor, bias: Tensor | None,
                *pieces: Tensor):
        x = stash.row(t)  # X_t ([G,] B, K), a row block of X
        torch.cat(pieces, dim=-1, out=x)  # cast into the compute dtype on the way
        w_t = weight.transpose(-1, -2)  # ([G,] K, N)
        if base is None and bias is None:
            y = x @ w_t
        else:
            add = (bias if base is None else base).to(weight.dtype)
            if x.dim() == 2:
                y = torch.addmm(add, x, w_t)  # (B, N)
            else:  # groups side by side: one batched GEMM
                y = torch.baddbmm(add if base is not None else add.unsqueeze(-2), x, w_t)  # (G, B, N)
            if base is not None and bias is not None:
                y = y + (bias if bias.dim() == 1 else bias.unsqueeze(-2))
        ctx.save_for_backward(weight)
        ctx.stash, ctx.t, ctx.has_base = stash, t, base is not None
        ctx.widths = [p.size(-1) for p in pieces]
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, d_y: Tensor):
        (weight,) = ctx.saved_tensors
        ctx.stash.grads[ctx.t] = d_y  # dA_t, for the collector
        d_x = d_y.to(weight.dtype) @ weight  # d[x_1 | ... | x_k] ([G,] B, K)
        return (None, None, d_y if ctx.has_base else None, None, None, *d_x.split(ctx.widths, dim=-1))


class LoopLinear:
    """One weight W = [W_1 | ... | W_k] (N, K), optional bias b, multiplied at each step of one loop.

    ``blocks`` are (N, K_i) weights (parameters or their column slices); ``layer(t, [x_1, ...],
    base)`` returns base + [x_1 | ...] W^T + b for step t (x_i (B, K_i), base (B, N) or None).
    Call it at most once per step t < ``steps``, with the same batch size B every time.
    Blocks (G, N, K_i) (and b (G, N)) hold G weights used side by side: then x_i is (G, B, K_i),
    base (G, B, N), and each step is one batched GEMM.
    """

    def __init__(self, blocks: list[Tensor], bias: Tensor | None, steps: int, batch: int,
                 dtype: torch.dtype) -> None:
        groups = blocks[0].size(0) if blocks[0].dim() == 3 else 0
        self._stash = _Stash(steps, batch, [b.size(-1) for b in blocks], dtype, blocks[0].device, groups)
        out = _Collect.apply(self._stash, dtype, bias, *blocks)
        self.weight, self.bias = (out, None) if bias is None else out

    def __call__(self, t: int, pieces: list[Tensor], base: Tensor | None = None) -> Tensor:
        return _Step.apply(self._stash, t, base, self.weight, self.bias, *pieces)


class _CollectValues(Function):
    """Attention values V (B, S, D) read at every step; backward: dV = A^T dC as one bmm."""

    @staticmethod
    def forward(ctx, stash: "_ReadStash", dtype: torch.dtype, values: Tensor) -> Tensor:
        ctx.set_materialize_grads(False)
        ctx.stash = stash
        return values.to(dtype).view_as(values)  # cast once per sequence, not per read

    @staticmethod
    @once_differentiable
    def backward(ctx, unused):
        stash = ctx.stash
        zeros = None
        cols = []
        for g in stash.grads:
            if g is None:
                zeros = stash.weights[0].new_zeros(stash.weights[0].size(0), stash.width) if zeros is None else zeros
            cols.append(zeros if g is None else g)
        weights = torch.stack(stash.weights, dim=1)  # A (B, T, S)
        d_ctx = torch.stack(cols, dim=1).to(weights.dtype)  # dC (B, T, D)
        stash.grads = [None] * len(stash.grads)
        return None, None, torch.bmm(weights.transpose(1, 2), d_ctx)  # dV = A^T dC (B, S, D)


class _ReadStash:
    """One loop's attention weights a_t (B, S) (forward) and context gradients dc_t (B, D) (backward)."""

    def __init__(self, steps: int, width: int) -> None:
        self.width = width
        self.weights: list[Tensor | None] = [None] * steps
        self.grads: list[Tensor | None] = [None] * steps


class _Read(Function):
    """Step t: c_t = sum_s a_t(s) V_s, (B, D); V's gradient left to ``_CollectValues``."""

    @staticmethod
    def forward(ctx, stash: _ReadStash, t: int, weights: Tensor, values: Tensor) -> Tensor:
        a = weights.to(values.dtype)  # (B, S)
        stash.weights[t] = a
        ctx.save_for_backward(values)
        ctx.stash, ctx.t = stash, t
        return torch.bmm(a.unsqueeze(1), values).squeeze(1)  # (B, D)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_ctx: Tensor):
        (values,) = ctx.saved_tensors
        ctx.stash.grads[ctx.t] = d_ctx  # dc_t, for the collector
        d_weights = torch.bmm(values, d_ctx.to(values.dtype).unsqueeze(-1)).squeeze(-1)  # da_t = V dc_t (B, S)
        return None, None, d_weights, None


class LoopRead:
    """Attention values V (B, S, D) read at each step of one loop: ``read(t, a_t)`` = a_t V.

    The forward is the plain batched product; backward returns da_t = V dc_t per step and
    forms dV = sum_t a_t^T dc_t once, instead of T outer products added into dV one by one.
    """

    def __init__(self, values: Tensor, steps: int, dtype: torch.dtype) -> None:
        self._stash = _ReadStash(steps, values.size(-1))
        self.values = _CollectValues.apply(self._stash, dtype, values)

    def __call__(self, t: int, weights: Tensor) -> Tensor:
        return _Read.apply(self._stash, t, weights, self.values)


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
                pieces, base = [F.dropout(below, self.dropout, training=self.dropout > 0)], None
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
            layer_in = F.dropout(layer_in, rnn.dropout, training=True)
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
