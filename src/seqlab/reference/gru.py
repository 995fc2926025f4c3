"""One step of the GRU in NumPy, forward and hand-written backward.

Equations (torch.nn.GRU; gate order r, z, n; row-vector convention, batch first):

    [gi_r, gi_z, gi_n] = x_t W_ih^T + b_ih            (B, 3H)  input part
    [gh_r, gh_z, gh_n] = h_{t-1} W_hh^T + b_hh        (B, 3H)  recurrent part
    r_t = sigma(gi_r + gh_r)                          reset gate
    z_t = sigma(gi_z + gh_z)                          update gate
    n_t = tanh(gi_n + r_t * gh_n)                     candidate
    h_t = (1 - z_t) * n_t + z_t * h_{t-1}

As in torch (and unlike Cho et al. 2014), the reset gate multiplies W_hn h_{t-1} + b_hn,
after the matrix product. State is the 1-tuple ``(h,)``.
"""

from __future__ import annotations

import numpy as np

from seqlab.reference.lstm import sigmoid

GATES = 3
STATE_NAMES = ("h",)


def step_forward(x: np.ndarray, state: tuple[np.ndarray, ...], p: dict[str, np.ndarray]):
    """Advance one step. x (B, D), state = (h_prev (B, H),) -> ((h (B, H),), cache)."""
    (h_prev,) = state
    gi = x @ p["W_ih"].T + p["b_ih"]  # (B, 3H)
    gh = h_prev @ p["W_hh"].T + p["b_hh"]  # (B, 3H)
    gi_r, gi_z, gi_n = np.split(gi, 3, axis=1)  # each (B, H)
    gh_r, gh_z, gh_n = np.split(gh, 3, axis=1)  # each (B, H)
    r = sigmoid(gi_r + gh_r)  # r_t, (B, H)
    z = sigmoid(gi_z + gh_z)  # z_t, (B, H)
    n = np.tanh(gi_n + r * gh_n)  # n_t = tanh(gi_n + r_t * gh_n), (B, H)
    h = (1.0 - z) * n + z * h_prev  # h_t, (B, H)
    return (h,), (x, h_prev, r, z, n, gh_n)


def step_backward(dstate, cache, p, grads):
    """Differentiate one step.

    Args:
        dstate: (dL/dh_t (B, H),). cache: what ``step_forward`` saved.
        p: parameters; grads: same keys, accumulated in place.
    Returns:
        dL/dx_t (B, D) and (dL/dh_{t-1},).
    """
    (dh,) = dstate
    x, h_prev, r, z, n, gh_n = cache
    dn = dh * (1.0 - z)  # dL/dn_t = dL/dh_t * (1 - z_t)
    dz = dh * (h_prev - n)  # dL/dz_t = dL/dh_t * (h_{t-1} - n_t)
    dh_prev = dh * z  # dL/dh_{t-1} (direct path) = dL/dh_t * z_t
    dan = dn * (1.0 - n * n)  # dL/d(pre-tanh of n) = dL/dn_t * (1 - n_t^2)
    dr = dan * gh_n  # dL/dr_t = dL/d(pre n) * gh_n
    dar = dr * r * (1.0 - r)  # dL/d(pre r) = dL/dr_t * r (1 - r)
    daz = dz * z * (1.0 - z)  # dL/d(pre z) = dL/dz_t * z (1 - z)
    dgi = np.concatenate([dar, daz, dan], axis=1)  # dL/dgi = [dar, daz, dan], (B, 3H)
    dgh = np.concatenate([dar, daz, dan * r], axis=1)  # dL/dgh_n = dan * r_t, (B, 3H)
    grads["W_ih"] += dgi.T @ x  # dL/dW_ih = sum_b dgi^T x_t, (3H, D)
    grads["b_ih"] += dgi.sum(axis=0)  # dL/db_ih = sum_b dgi, (3H,)
    grads["W_hh"] += dgh.T @ h_prev  # dL/dW_hh = sum_b dgh^T h_{t-1}, (3H, H)
    grads["b_hh"] += dgh.sum(axis=0)  # dL/db_hh = sum_b dgh, (3H,)
    dx = dgi @ p["W_ih"]  # dL/dx_t = dgi W_ih, (B, D)
    dh_prev = dh_prev + dgh @ p["W_hh"]  # dL/dh_{t-1} += dgh W_hh (through r, z, n), (B, H)
    return dx, (dh_prev,)
