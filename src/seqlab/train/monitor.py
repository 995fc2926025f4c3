"""Gradient health: global and per-parameter norms, vanishing/exploding flags."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass
class GradientHealth:
    """Gradient norms after one backward pass, with the parameters flagged."""

    total_norm: float
    norms: dict[str, float]
    vanishing: list[str] = field(default_factory=list)
    exploding: list[str] = field(default_factory=list)

    @property
    def finite(self) -> bool:
        return math.isfinite(self.total_norm)

    def as_log(self) -> dict:
        return {
            "grad_norm": self.total_norm,
            "grad_norms": self.norms,
            "vanishing": self.vanishing,
            "exploding": self.exploding,
        }


def gradient_health(model: nn.Module, low: float = 1e-7, high: float = 1e3) -> GradientHealth:
    """Norms of every parameter's gradient; flags norms < ``low`` or > ``high``.

    The global norm is sqrt(sum of squared per-parameter norms), the quantity that
    clipping by norm rescales.
    """
    norms: dict[str, float] = {}
    for name, p in model.named_parameters():
        if p.grad is not None:
            norms[name.removeprefix("module.")] = p.grad.detach().float().norm().item()
    total = math.sqrt(sum(n * n for n in norms.values())) if norms else 0.0
    return GradientHealth(
        total_norm=total,
        norms=norms,
        vanishing=[n for n, v in norms.items() if v < low],
        exploding=[n for n, v in norms.items() if v > high or not math.isfinite(v)],
    )


def clip_gradients(params, clip_norm: float | None, clip_value: float | None, clip_above: float | None = None,
                   total_norm: float | None = None) -> None:
    """Clip in place: rescale to global norm ``clip_norm`` or clamp to +-``clip_value``.

    With ``clip_above``, clipping by norm is conditional, as in the chapter's monitor
    ("if grad_norm > 10: clip to 1.0"): the gradient is rescaled to ``clip_norm`` only when
    its global norm ``total_norm`` exceeds ``clip_above``, and left alone otherwise.
    """
    if clip_norm is not None and clip_above is not None and total_norm is not None and total_norm <= clip_above:
        return
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(params, clip_norm)
    elif clip_value is not None:
        torch.nn.utils.clip_grad_value_(params, clip_value)
