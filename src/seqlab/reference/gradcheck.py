"""Check the hand-written backward passes: central finite differences and torch autograd.

The scalar loss is a fixed random projection of every output, L = sum(out * R) +
sum(final_state * R'), so every output (and the final cell state) receives a gradient.

    dL/dtheta_i ~ (L(theta_i + eps) - L(theta_i - eps)) / (2 eps)      error O(eps^2)

Relative error of two gradient arrays: ||a - b|| / max(||a||, ||b||) (norm-wise, so tiny
entries do not blow it up). In float64 with eps = 1e-5 a correct backward gives ~1e-10.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from seqlab.reference import attention
from seqlab.reference.recurrent import Recurrent, torch_named


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / max(||a||, ||b||, 1e-300)."""
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), np.linalg.norm(b), 1e-300))


def numerical_gradient(loss: Callable[[], float], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Central differences of ``loss()`` with respect to every entry of x (perturbed in place)."""
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        up = loss()
        x[idx] = old - eps
        down = loss()
        x[idx] = old
        grad[idx] = (up - down) / (2.0 * eps)  # (L(x+eps) - L(x-eps)) / 2 eps
    return grad


def toy_recurrent(kind: str, num_layers: int, seed: int, B=2, T=4, D=3, H=4):
    """A tiny model, inputs, a non-zero initial state and the loss projections."""
    rng = np.random.default_rng(seed)
    model = Recurrent(kind, D, H, num_layers, seed=seed, scale=0.6)
    x = rng.normal(size=(B, T, D))
    state0 = [tuple(0.5 * rng.normal(size=a.shape) for a in s) for s in model.zero_state(B)]
    r_out = rng.normal(size=(B, T, H))
    r_final = [tuple(rng.normal(size=a.shape) for a in s) for s in state0]
    return model, x, state0, r_out, r_final


def _projected_loss(out, finals, r_out, r_final) -> float:
    """L = sum(out * R) + sum_layers sum(state_T * R')."""
    total = float(np.sum(out * r_out))
    for s, r in zip(finals, r_final):
        total += sum(float(np.sum(a * b)) for a, b in zip(s, r))
    return total


def analytic_recurrent(model, x, state0, r_out, r_final) -> dict[str, np.ndarray]:
    """All gradients from the hand-written BPTT, keyed like torch (plus input, h0_l0, ...)."""
    out, finals, caches = model.forward(x, state0)
    dx, dstate0, grads = model.backward(caches, r_out, r_final)
    named = torch_named(grads)
    named["input"] = dx
    for layer, ds in enumerate(dstate0):
        for name, g in zip(model.cell.STATE_NAMES, ds):
            named[f"{name}0_l{layer}"] = g
    return named


def check_recurrent(kind: str, num_layers: int, seed: int = 0) -> dict[str, float]:
    """Relative error, analytic vs finite differences, for every parameter, input, state."""
    model, x, state0, r_out, r_final = toy_recurrent(kind, num_layers, seed)
    analytic = analytic_recurrent(model, x, state0, r_out, r_final)

    def loss() -> float:
        out, finals, _ = model.forward(x, state0)
        return _projected_loss(out, finals, r_out, r_final)

    arrays = dict(model.state_dict())
    arrays["input"] = x
    for layer, s in enumerate(state0):
        for name, a in zip(model.cell.STATE_NAMES, s):
            arrays[f"{name}0_l{layer}"] = a
    return {k: relative_error(analytic[k], numerical_gradient(loss, a)) for k, a in arrays.items()}


def toy_attention(seed: int, B=2, S=3, Hk=4, Hq=5, A=3):
    rng = np.random.default_rng(seed)
    p = attention.init_params(Hk, Hq, A, rng)
    p = {k: 2.0 * v for k, v in p.items()}  # larger weights: less linear, a harder check
    h, s = rng.normal(size=(B, S, Hk)), rng.normal(size=(B, Hq))
    r_c, r_alpha = rng.normal(size=(B, Hk)), rng.normal(size=(B, S))
    return p, h, s, r_c, r_alpha


def check_attention(seed: int = 0) -> dict[str, float]:
    """Relative errors for W1, W2, v, keys h and query s; loss = sum(c R) + sum(alpha R')."""
    p, h, s, r_c, r_alpha = toy_attention(seed)
    _, _, cache = attention.forward(h, s, p)
    dh, ds, grads = attention.backward(r_c, cache, p, dalpha=r_alpha)

    def loss() -> float:
        c, alpha, _ = attention.forward(h, s, p)
        return float(np.sum(c * r_c) + np.sum(alpha * r_alpha))

    analytic = dict(grads, h=dh, s=ds)
    arrays = dict(p, h=h, s=s)
    return {k: relative_error(analytic[k], numerical_gradient(loss, a)) for k, a in arrays.items()}
