"""Plain SGD and Adam for lists of NumPy parameter dicts (updated in place)."""

from __future__ import annotations

import numpy as np

Params = list[dict[str, np.ndarray]]


def sgd_step(params: Params, grads: Params, lr: float) -> None:
    """theta <- theta - lr * dL/dtheta."""
    for p, g in zip(params, grads):
        for k in p:
            p[k] -= lr * g[k]


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction; moments kept per array."""

    def __init__(self, params: Params, lr: float = 1e-2, betas=(0.9, 0.999), eps: float = 1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = params, lr, betas, eps, 0
        self.m = [{k: np.zeros_like(v) for k, v in p.items()} for p in params]
        self.v = [{k: np.zeros_like(v) for k, v in p.items()} for p in params]

    def step(self, grads: Params) -> None:
        b1, b2 = self.betas
        self.t += 1
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            for k in p:
                m[k] = b1 * m[k] + (1 - b1) * g[k]  # m_t = b1 m_{t-1} + (1 - b1) g
                v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2  # v_t = b2 v_{t-1} + (1 - b2) g^2
                m_hat = m[k] / (1 - b1**self.t)  # bias-corrected moments
                v_hat = v[k] / (1 - b2**self.t)
                p[k] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
