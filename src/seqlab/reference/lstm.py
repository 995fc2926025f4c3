"""One step of the LSTM in NumPy, forward and hand-written backward.

Equations (torch.nn.LSTM; gate order i, f, g, o; row-vector convention, batch first):

    [a_i, a_f, a_g, a_o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh    (B, 4H)
    i_t = sigma(a_i)   f_t = sigma(a_f)   g_t = tanh(a_g)   o_t = sigma(a_o)
    c_t = f_t * c_{t-1} + i_t * g_t                                      (B, H)
    h_t = o_t * tanh(c_t)                                                (B, H)

The cell state c is the "gradient highway": dL/dc_{t-1} = dL/dc_t * f_t has no squashing
derivative in it, only the forget gate. State is the 2-tuple ``(h, c)``.
"""

from __future__ import annotations

import numpy as np

GATES = 4
STATE_NAMES = ("h", "c")


def sigmoid(a: np.ndarray) -> np.ndarray:
    """sigma(a) = 1 / (1 + exp(-a)), written to never overflow."""
    e = np.exp(-np.abs(a))
    return np.where(a >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def step_forward(x: np.ndarray, state: tuple[np.ndarray, ...], p: dict[str, np.ndarray]):
    """Advance one step. x (B, D), state = (h_prev, c_prev) each (B, H)."""
    h_prev, c_prev = state
    a = x @ p["W_ih"].T + p["b_ih"] + h_prev @ p["W_hh"].T + p["b_hh"]  # (B, 4H)
    a_i, a_f, a_g, a_o = np.split(a, 4, axis=1)  # each (B, H)
    i, f, g, o = sigmoid(a_i), sigmoid(a_f), np.tanh(a_g), sigmoid(a_o)
    c = f * c_prev + i * g  # c_t = f_t * c_{t-1} + i_t * g_t, (B, H)
    tc = np.tanh(c)  # tanh(c_t), (B, H)
    h = o * tc  # h_t = o_t * tanh(c_t), (B, H)
    return (h, c), (x, h_prev, c_prev, i, f, g, o, tc)


def step_backward(dstate, cache, p, grads):
    """Differentiate one step.

    Args:
        dstate: (dL/dh_t, dL/dc_t), each (B, H): everything arriving from later steps
            and from this step's output.
        cache: what ``step_forward`` saved; p: parameters; grads: accumulated in place.
    Returns:
        dL/dx_t (B, D) and (dL/dh_{t-1}, dL/dc_{t-1}).
    """
    dh, dc_next = dstate
    x, h_prev, c_prev, i, f, g, o, tc = cache
    do = dh * tc  # dL/do_t = dL/dh_t * tanh(c_t)
    dc = dc_next + dh * o * (1.0 - tc * tc)  # dL/dc_t += dL/dh_t * o_t * (1 - tanh^2(c_t))
    di = dc * g  # dL/di_t = dL/dc_t * g_t
    dg = dc * i  # dL/dg_t = dL/dc_t * i_t
    df = dc * c_prev  # dL/df_t = dL/dc_t * c_{t-1}
    dc_prev = dc * f  # dL/dc_{t-1} = dL/dc_t * f_t
    da = np.concatenate(
        [
            di * i * (1.0 - i),  # dL/da_i = dL/di_t * sigma'(a_i) = di * i (1 - i)
            df * f * (1.0 - f),  # dL/da_f = dL/df_t * f (1 - f)
            dg * (1.0 - g * g),  # dL/da_g = dL/dg_t * (1 - g^2)
            do * o * (1.0 - o),  # dL/da_o = dL/do_t * o (1 - o)
        ],
        axis=1,
    )  # (B, 4H)
    grads["W_ih"] += da.T @ x  # dL/dW_ih = sum_b da^T x_t, (4H, D)
    grads["W_hh"] += da.T @ h_prev  # dL/dW_hh = sum_b da^T h_{t-1}, (4H, H)
    grads["b_ih"] += da.sum(axis=0)  # dL/db_ih = sum_b da, (4H,)
    grads["b_hh"] += da.sum(axis=0)  # dL/db_hh = sum_b da, (4H,)
    dx = da @ p["W_ih"]  # dL/dx_t = da W_ih, (B, D)
    dh_prev = da @ p["W_hh"]  # dL/dh_{t-1} = da W_hh, (B, H)
    return dx, (dh_prev, dc_prev)
