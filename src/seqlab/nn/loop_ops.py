"""Autograd ops for step loops whose weight gradients are formed once per sequence.

A step loop (a decoder run one target step at a time) multiplies the same weights at
every step. Left to plain autograd, backward forms their gradient at every step too (T
small GEMMs and T adds). Here a step's backward returns only the gradient of what flows
on in time and files its row block away; the weights' collector then forms the whole sum
as ONE GEMM after the loop:

    dW = sum_t da_t^T X_t = dA^T X,   dA (T*B, N), X (T*B, K);   db = column sums of dA.

``LoopLinear``: a_t = gates_x[t] + [inputs_t] W^T per step, W concatenated (and cast
under autocast) once per sequence by ``_Collect``, applied per step by ``_Step``.
``LoopRead``: the attention read c_t = a_t V over values V (B, S, D) that every step
reads; backward returns da_t = V dc_t per step and forms dV = A^T dC once.

Autograd runs a node's backward only after every use of its outputs has run backward, so
a collector's backward comes after the T step backwards, when its stash is complete.
Limits: no double backward (``once_differentiable``); the loop's batch size is fixed; a
backward that asks for input gradients alone leaves its step gradients filed, and the
next backward through the graph must then reach the same steps. The decoders built on
them are in ``seqlab.nn.fused_decoder``.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable


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
        # Detached: the stash is reached from every step's node (ctx.stash), and a_t's own
        # graph leads back to earlier steps' nodes, so a_t with its grad_fn would close a
        # loop of references through autograd's C++ nodes that Python's collector cannot
        # see: each batch's whole graph would stay in memory for good.
        stash.weights[t] = a.detach()
        ctx.save_for_backward(values)
        ctx.stash, ctx.t = stash, t
        return torch.bmm(a.unsqueeze(1), values).squeeze(1)  # (B, D)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_ctx: Tensor):
        (values,) = ctx.saved_tensors
        ctx.stash.grads[ctx.t] = d_ctx  # dc_t, for the collector
        # da_t = V dc_t (B, S), formed as dc_t^T V^T (B, 1, D) x (B, D, S), as autograd forms it for
        # a plain bmm: the (B, S, D) x (B, D, 1) layout runs at a third of the speed on a CPU.
        d_weights = torch.bmm(d_ctx.to(values.dtype).unsqueeze(1), values.transpose(1, 2)).squeeze(1)
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
