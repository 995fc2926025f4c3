"""Diagnostics as a trainer callback: record gradient health while training.

The trainer calls ``on_step(trainer, step, metrics)`` after every optimizer step.
Every ``every`` steps this callback probes ``trainer.model`` on a fixed batch and
appends one record: orthogonality drift of the recurrent weights, ||dL/dx_t|| at
the first and last step (and their ratio), and the saturation fraction of the
backbone's hidden units, and the hidden-state sensitivity ||dh_T / d x_1|| along a
random direction (finite difference). Gradients are taken with ``torch.autograd.grad`` on
activations only, so parameter ``.grad`` buffers the trainer uses stay untouched.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seqlab.diagnostics.gradflow import hidden_sensitivity, input_gradient_norms
from seqlab.diagnostics.orthogonality import recurrent_drift
from seqlab.diagnostics.saturation import hidden_saturation


class DiagnosticsCallback:
    """Records diagnostics of a ``SequenceModel``-like model (``.inp``, ``.backbone``).

    Args:
        probe_x: a fixed input batch, (B, T) token ids or (B, T, D) features.
        every: probe every this many steps (and at step 1).
        threshold: saturation threshold for |h_t| (see ``saturation``).
        loss_at: "last" or "sum", the probe loss of the gradient flow.
    """

    def __init__(self, probe_x: torch.Tensor, every: int = 10, threshold: float = 0.95, loss_at: str = "last") -> None:
        self.probe_x = probe_x
        self.every = every
        self.threshold = threshold
        self.loss_at = loss_at
        self.records: list[dict] = []

    def on_step(self, trainer, step: int, metrics: dict) -> None:
        if step != 1 and step % self.every:
            return
        model = getattr(trainer, "raw_model", trainer.model)  # not the DDP wrapper
        self.records.append(self.probe(model, step, metrics))

    def on_eval(self, trainer, step: int, metrics: dict) -> None:
        """Evaluation needs nothing from the diagnostics."""

    def probe(self, model: nn.Module, step: int, metrics: dict | None = None) -> dict:
        """One record for ``model`` now (also usable without a trainer)."""
        was_training = model.training
        model.eval()
        try:
            x = self.probe_x.to(next(model.parameters()).device)
            norms = input_gradient_norms(model, x, self.loss_at, at=model.inp)
            drift = recurrent_drift(model)
            with torch.no_grad():
                embedded = model.inp(x)  # (B, T, E)
            saturation = hidden_saturation(model.backbone, embedded, self.threshold)
            sensitivity = hidden_sensitivity(model.backbone, embedded, position=0)  # moves of h_T per unit x_1
        finally:
            model.train(was_training)
        first, last = float(norms[0]), float(norms[-1])
        return {
            "step": step,
            "loss": None if not metrics else metrics.get("loss"),
            "grad_first": first,
            "grad_last": last,
            "grad_ratio": first / last if last > 0 else float("nan"),
            "drift": float(np.mean(list(drift.values()))) if drift else float("nan"),
            "saturation": float(np.mean(saturation)),
            "sensitivity": sensitivity,
        }

    def series(self, key: str) -> np.ndarray:
        """One recorded quantity over the probes, as an array."""
        return np.asarray([r[key] if r[key] is not None else np.nan for r in self.records], dtype=float)
