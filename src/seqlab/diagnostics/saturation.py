"""Saturation of tanh and sigmoid units, and why it kills gradients.

tanh'(z) = 1 - tanh(z)^2, so a unit whose activation a = tanh(z) sits near +-1
passes almost no gradient: a = 0.99 gives 1 - 0.99^2 = 0.0199, a = 0.8 gives
0.36, a = 0.2 gives 0.96. For the sigmoid, s'(z) = s(1 - s), at most 1/4.

A tanh unit counts as saturated when |a| > threshold; a sigmoid unit when
max(s, 1 - s) > threshold (it sits near 0 or 1). The default threshold 0.95
means tanh' < 0.0975 and s' < 0.0475.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seqlab.diagnostics.stepwise import unroll


def tanh_derivative_from_activation(a: np.ndarray | float) -> np.ndarray | float:
    """tanh'(z) written in terms of a = tanh(z): 1 - a^2."""
    return 1.0 - np.square(a)


def sigmoid_derivative_from_activation(s: np.ndarray | float) -> np.ndarray | float:
    """sigma'(z) written in terms of s = sigma(z): s (1 - s)."""
    return np.asarray(s) * (1.0 - np.asarray(s))


def tanh_saturated(a: torch.Tensor, threshold: float = 0.95) -> torch.Tensor:
    """Bool mask of saturated tanh activations: |a| > threshold."""
    return a.abs() > threshold


def sigmoid_saturated(s: torch.Tensor, threshold: float = 0.95) -> torch.Tensor:
    """Bool mask of saturated sigmoid activations: max(s, 1 - s) > threshold."""
    return torch.maximum(s, 1 - s) > threshold


def hidden_saturation(layer: nn.Module, x: torch.Tensor, threshold: float = 0.95) -> np.ndarray:
    """Fraction of top-layer hidden units with |h_t| > threshold, for each step t.

    For a tanh RNN, h_t is the tanh output itself, so this is its saturation. For
    an LSTM, h_t = o_t * tanh(c_t); |h_t| > threshold implies tanh(c_t) saturated.
    Returns (T,): the fraction over batch and units at each step.
    """
    with torch.no_grad():
        hs = torch.stack(unroll(layer, x.detach())[1], dim=1)  # (B, T, H)
    return tanh_saturated(hs, threshold).double().mean(dim=(0, 2)).cpu().numpy()


class SaturationProbe:
    """Counts saturated units of every ``nn.Tanh`` / ``nn.Sigmoid`` module in a model.

    Use as a context manager around forward passes; ``fractions`` then maps each
    module's qualified name to the fraction of its outputs that were saturated.
    Activation modules applied functionally (``torch.tanh`` inside a fused RNN)
    are invisible to hooks: use :func:`hidden_saturation` for those.
    """

    def __init__(self, model: nn.Module, threshold: float = 0.95) -> None:
        self.model = model
        self.threshold = threshold
        self._counts: dict[str, list[float]] = {}
        self._handles: list = []

    def __enter__(self) -> "SaturationProbe":
        for name, mod in self.model.named_modules():
            if isinstance(mod, (nn.Tanh, nn.Sigmoid)):
                self._handles.append(mod.register_forward_hook(self._hook(name, isinstance(mod, nn.Tanh))))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, name: str, is_tanh: bool):
        def record(module, inputs, out):
            mask = tanh_saturated(out, self.threshold) if is_tanh else sigmoid_saturated(out, self.threshold)
            total = self._counts.setdefault(name, [0.0, 0.0])
            total[0] += mask.sum().item()
            total[1] += mask.numel()

        return record

    @property
    def fractions(self) -> dict[str, float]:
        return {name: sat / max(n, 1.0) for name, (sat, n) in self._counts.items()}
