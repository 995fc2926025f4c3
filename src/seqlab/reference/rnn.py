"""One step of the Elman (tanh) RNN in NumPy, forward and hand-written backward.

Equations (torch.nn.RNN, nonlinearity="tanh"; row-vector convention, batch first):

    a_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh        (B, H)
    h_t = tanh(a_t)                                          (B, H)

Parameters use torch's names and shapes, so ``torch.nn.RNN`` weights load as they are:
W_ih (H, D), W_hh (H, H), b_ih (H,), b_hh (H,). The state is the 1-tuple ``(h,)``.
"""

from __future__ import annotations

import numpy as np

GATES = 1  # W_ih has GATES * H rows
STATE_NAMES = ("h",)


def step_forward(x: np.ndarray, state: tuple[np.ndarray, ...], p: dict[str, np.ndarray]):
    """Advance one step. x (B, D), state = (h_prev (B, H),) -> ((h (B, H),), cache)."""
    (h_prev,) = state
    a = x @ p["W_ih"].T + p["b_ih"] + h_prev @ p["W_hh"].T + p["b_hh"]  # a_t, (B, H)
    h = np.tanh(a)  # h_t = tanh(a_t), (B, H)
    return (h,), (x, h_prev, h)


def step_backward(dstate, cache, p, grads):
    """Differentiate one step.

    Args:
        dstate: (dL/dh_t (B, H),), the total gradient arriving at this step's state.
        cache: what ``step_forward`` saved.
        p: the parameters; grads: same keys, accumulated in place.
    Returns:
        dL/dx_t (B, D) and the state gradient for the previous step, (dL/dh_{t-1},).
    """
    (dh,) = dstate
    x, h_prev, h = cache
    da = dh * (1.0 - h * h)  # dL/da_t = dL/dh_t * tanh'(a_t) = dL/dh_t * (1 - h_t^2), (B, H)
    grads["W_ih"] += da.T @ x  # dL/dW_ih = sum_b da_t^T x_t, (H, D)
    grads["W_hh"] += da.T @ h_prev  # dL/dW_hh = sum_b da_t^T h_{t-1}, (H, H)
    grads["b_ih"] += da.sum(axis=0)  # dL/db_ih = sum_b da_t, (H,)
    grads["b_hh"] += da.sum(axis=0)  # dL/db_hh = sum_b da_t, (H,)
    dx = da @ p["W_ih"]  # dL/dx_t = da_t W_ih, (B, D)
    dh_prev = da @ p["W_hh"]  # dL/dh_{t-1} = da_t W_hh, (B, H)
    return dx, (dh_prev,)
