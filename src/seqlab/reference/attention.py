"""Additive (Bahdanau) attention in NumPy, forward and hand-written backward.

Bahdanau, Cho & Bengio (2015), Sec. A.1.2, without biases:

    e_j     = v^T tanh(W1 h_j + W2 s)        score of source position j    (B, S)
    alpha   = softmax(e)                     attention weights              (B, S)
    c       = sum_j alpha_j h_j              context vector                 (B, Hk)

h_j are the encoder states ("keys", (B, S, Hk)), s the decoder state ("query", (B, Hq)).
Parameters: W1 (A, Hk), W2 (A, Hq), v (A,). Stateless: forward returns its cache.
"""

from __future__ import annotations

import numpy as np


def init_params(key_size: int, query_size: int, attn_size: int, rng) -> dict[str, np.ndarray]:
    """Small uniform init, scale 1/sqrt(fan_in) as torch's nn.Linear does."""
    return {
        "W1": rng.uniform(-1, 1, size=(attn_size, key_size)) / np.sqrt(key_size),
        "W2": rng.uniform(-1, 1, size=(attn_size, query_size)) / np.sqrt(query_size),
        "v": rng.uniform(-1, 1, size=(attn_size,)) / np.sqrt(attn_size),
    }


def forward(h: np.ndarray, s: np.ndarray, p: dict[str, np.ndarray], mask=None):
    """Attend from s over h.

    Args:
        h: keys/values (B, S, Hk). s: query (B, Hq). mask: optional (B, S) bool, True = keep.
    Returns:
        context (B, Hk), weights alpha (B, S), cache for ``backward``.
    """
    u = np.tanh(h @ p["W1"].T + (s @ p["W2"].T)[:, None, :])  # tanh(W1 h_j + W2 s), (B, S, A)
    e = u @ p["v"]  # e_j = v^T u_j, (B, S)
    if mask is not None:
        e = np.where(mask, e, -np.inf)  # masked positions get alpha_j = 0
    e_max = e.max(axis=1, keepdims=True)  # for a stable softmax, (B, 1)
    w = np.exp(e - e_max)  # (B, S)
    alpha = w / w.sum(axis=1, keepdims=True)  # alpha = softmax(e), (B, S)
    c = np.einsum("bs,bsk->bk", alpha, h)  # c = sum_j alpha_j h_j, (B, Hk)
    return c, alpha, (h, s, u, alpha)


def backward(dc: np.ndarray, cache, p: dict[str, np.ndarray], dalpha=None):
    """Differentiate attention.

    Args:
        dc: dL/dc (B, Hk). dalpha: optional extra dL/dalpha (B, S) (a loss on the weights).
    Returns:
        dL/dh (B, S, Hk), dL/ds (B, Hq), grads {"W1", "W2", "v"}.
    """
    h, s, u, alpha = cache
    da = np.einsum("bk,bsk->bs", dc, h)  # dL/dalpha_j = dL/dc . h_j, (B, S)
    if dalpha is not None:
        da = da + dalpha
    dh = alpha[:, :, None] * dc[:, None, :]  # dL/dh_j (via c) = alpha_j dL/dc, (B, S, Hk)
    # softmax: dL/de_j = alpha_j (dL/dalpha_j - sum_k alpha_k dL/dalpha_k)
    de = alpha * (da - (alpha * da).sum(axis=1, keepdims=True))  # (B, S)
    dv = np.einsum("bs,bsa->a", de, u)  # dL/dv = sum_{b,j} de_j u_j, (A,)
    du = de[:, :, None] * p["v"]  # dL/du_j = de_j v, (B, S, A)
    dpre = du * (1.0 - u * u)  # dL/d(W1 h_j + W2 s) = du_j * (1 - u_j^2), (B, S, A)
    dW1 = np.einsum("bsa,bsk->ak", dpre, h)  # dL/dW1 = sum_{b,j} dpre_j h_j^T, (A, Hk)
    dh = dh + dpre @ p["W1"]  # dL/dh_j (via e_j) += dpre_j W1, (B, S, Hk)
    dq = dpre.sum(axis=1)  # s feeds every position: dL/d(W2 s) = sum_j dpre_j, (B, A)
    dW2 = dq.T @ s  # dL/dW2 = sum_b dq^T s, (A, Hq)
    ds = dq @ p["W2"]  # dL/ds = dq W2, (B, Hq)
    return dh, ds, {"W1": dW1, "W2": dW2, "v": dv}
