"""Gradient clipping by global norm (Pascanu et al., 2013), for lists of gradient dicts.

    norm = sqrt(sum over every gradient array of sum(g^2))
    g   <- g * max_norm / norm        only when norm > max_norm

The direction of the update is kept; only its length is capped. Same rule (and the same
small epsilon) as ``torch.nn.utils.clip_grad_norm_``.
"""

from __future__ import annotations

import numpy as np

from seqlab.errors import ConfigError

Grads = list[dict[str, np.ndarray]]


def global_norm(grads: Grads) -> float:
    """sqrt of the sum of squares of every entry of every gradient."""
    return float(np.sqrt(sum(float(np.sum(g * g)) for d in grads for g in d.values())))


def clip_by_global_norm(grads: Grads, max_norm: float) -> tuple[Grads, float]:
    """Return (clipped copies of grads, norm before clipping)."""
    if not max_norm > 0:
        raise ConfigError(f"max_norm must be > 0, got {max_norm}")
    norm = global_norm(grads)
    scale = min(1.0, max_norm / (norm + 1e-6))  # 1 when the norm is already small enough
    return [{k: g * scale for k, g in d.items()} for d in grads], norm
