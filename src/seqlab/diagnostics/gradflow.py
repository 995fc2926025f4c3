"""Per-time-step gradient flow: ||dL/dx_t||, ||dL/dh_t|| and ||dh_t/dh_{t-1}||.

The loss is a probe, not a training loss: L = sum of the model's outputs at the
last step (``loss_at="last"``: how much each input still matters for the final
prediction) or summed over every step (``loss_at="sum"``). For a linear RNN
h_t = W h_{t-1} + U x_t with L = 1^T h_T, the chain rule gives
dL/dx_t = U^T (W^T)^(T-t) 1, so with W = s I the norm is proportional to s^(T-t):
that is the exponential vanishing/exploding the chapter describes, and the test.

Norms are Euclidean over features, averaged over the batch: every function
returns a NumPy array of length T (index 0 is t = 1).

Probes usually run in eval mode (no dropout), and cuDNN refuses to backpropagate
through its recurrent kernels outside training mode; every probe therefore runs
with cuDNN disabled (``_no_cudnn``), which changes nothing on CPU.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

from seqlab.diagnostics.stepwise import flatten_state, unflatten_state, unroll

LOSS_AT = ("last", "sum")


def _no_cudnn(fn):
    """Run ``fn`` with cuDNN off, so eval-mode recurrent layers can be differentiated on CUDA."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with torch.backends.cudnn.flags(enabled=False):
            return fn(*args, **kwargs)

    return wrapper


def _probe_loss(out: torch.Tensor, loss_at: str) -> torch.Tensor:
    """L from outputs (B, T, F): sum at the last step, or over all steps."""
    if loss_at not in LOSS_AT:
        raise ValueError(f"loss_at is {loss_at!r}; allowed: {', '.join(LOSS_AT)}")
    return out[:, -1].sum() if loss_at == "last" else out.sum()


def _first(out):
    """Models return a tensor or (output, state): keep the output."""
    return out[0] if isinstance(out, tuple) else out


def _per_step_norm(grad: torch.Tensor) -> np.ndarray:
    """(B, T, ...) gradient -> (T,) mean over the batch of the per-step L2 norm."""
    g = grad.detach().flatten(2) if grad.dim() > 2 else grad.detach().unsqueeze(-1)
    return g.double().norm(dim=-1).mean(dim=0).cpu().numpy()


@_no_cudnn
def input_gradient_norms(
    model: nn.Module, x: torch.Tensor, loss_at: str = "last", at: nn.Module | None = None
) -> np.ndarray:
    """||dL/dx_t|| for t = 1..T.

    Args:
        model: maps x to outputs (B, T, F) (or a tuple whose first item is that).
        x: (B, T, D) float inputs, or token ids (B, T) when ``at`` is given.
        loss_at: "last" or "sum" (see module docstring).
        at: optional submodule whose output (B, T, E) counts as "the input", e.g.
            the embedding of a token model; gradients are taken w.r.t. it.
    """
    captured: list[torch.Tensor] = []
    handle = None
    if at is None:
        x = x.detach().clone().requires_grad_(True)
        captured.append(x)
    else:
        handle = at.register_forward_hook(lambda m, i, o: captured.append(o) or None)
    try:
        out = _first(model(x))  # (B, T, F)
    finally:
        if handle is not None:
            handle.remove()
    (grad,) = torch.autograd.grad(_probe_loss(out, loss_at), captured[0])  # (B, T, D)
    return _per_step_norm(grad)


@_no_cudnn
def hidden_gradient_norms(
    layer: nn.Module, x: torch.Tensor, loss_at: str = "last", readout: nn.Module | None = None
) -> np.ndarray:
    """||dL/dh_t|| for a recurrent layer, h_t the top layer's hidden state.

    The layer runs step by step (see :mod:`seqlab.diagnostics.stepwise`) so the
    gradient includes every path through later steps. L is taken on
    ``readout(h_t)`` (identity when None) at the last step or summed over steps.
    """
    _, hs = unroll(layer, x)  # T x (B, H)
    outs = torch.stack([h if readout is None else readout(h) for h in hs], dim=1)  # (B, T, F)
    grads = torch.autograd.grad(_probe_loss(outs, loss_at), hs)
    return _per_step_norm(torch.stack(grads, dim=1))  # (B, T, H) -> (T,)


@_no_cudnn
def output_gradient_norms(model: nn.Module, x: torch.Tensor, module: nn.Module, loss_at: str = "last") -> np.ndarray:
    """||dL/dh_t|| where h is the (B, T, F) output of ``module`` inside ``model``.

    Use this for models without recurrence (Transformer blocks): each position's
    hidden vector is its own tensor slice. For recurrent layers prefer
    :func:`hidden_gradient_norms`: a fused kernel's output misses the recurrent path.
    """
    captured: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda m, i, o: captured.append(_first(o)) or None)
    try:
        out = _first(model(x))
    finally:
        handle.remove()
    (grad,) = torch.autograd.grad(_probe_loss(out, loss_at), captured[0])
    return _per_step_norm(grad)


@_no_cudnn
def jacobian_norms(layer: nn.Module, x: torch.Tensor, steps: list[int] | None = None, sample: int = 0) -> np.ndarray:
    """Spectral norms ||ds_t/ds_{t-1}||_2 of the one-step state map, at chosen steps.

    s_t is everything the layer carries (h, and c for an LSTM). The Jacobian is
    taken for one sequence of the batch (``sample``) at steps ``steps`` (0-based;
    default: about 20 evenly spaced). Returns (len(steps),) norms.
    """
    x = x[sample : sample + 1].detach()  # (1, T, E)
    T = x.shape[1]
    steps = list(steps) if steps is not None else sorted(set(np.linspace(1, T - 1, min(20, T - 1)).astype(int)))
    with torch.no_grad():
        states, _ = unroll(layer, x)
    norms = []
    for t in steps:
        prev = states[t - 1]

        def step(flat: torch.Tensor, t: int = t, prev=prev) -> torch.Tensor:
            _, new = layer(x[:, t : t + 1], unflatten_state(flat, prev))
            return flatten_state(new)[0]  # (S,)

        J = torch.autograd.functional.jacobian(step, flatten_state(prev))  # (S, 1, S)
        norms.append(torch.linalg.matrix_norm(J[:, 0].double(), ord=2).item())
    return np.asarray(norms)


def hidden_sensitivity(layer: nn.Module, x: torch.Tensor, position: int = 0, eps: float = 1e-3, seed: int = 0) -> float:
    """How far h_T moves per unit nudge of x at ``position``: ||h_T(x + eps d) - h_T(x)|| / eps.

    ``d`` is a random unit direction per sequence (seeded), so the number is a
    finite-difference directional derivative, averaged over the batch.
    """
    gen = torch.Generator().manual_seed(seed)
    d = torch.randn(x.shape[0], x.shape[2], generator=gen).to(x)
    d = d / d.norm(dim=1, keepdim=True)
    nudged = x.detach().clone()
    nudged[:, position] += eps * d
    with torch.no_grad():
        base = unroll(layer, x.detach())[1][-1]  # h_T (B, H)
        moved = unroll(layer, nudged)[1][-1]
    return ((moved - base).double().norm(dim=1) / eps).mean().item()
