"""Diagnostics as a trainer callback: record gradient health while training.

The trainer calls ``on_step(trainer, step, metrics)`` after every optimizer step.
Every ``every`` steps this callback probes ``trainer.model`` (any model mapping
(B, T, D) to (B, T, F); see ``DiagnosticsCallback`` for the exact contract) on a fixed
batch and appends one record: orthogonality drift of the recurrent weights, ||dL/dx_t|| at
the first and last step (and their ratio), the saturation fraction of a recurrent layer's
hidden units, and its hidden-state sensitivity ||dh_T / d x_1|| along a random direction
(finite difference). Gradients are taken with ``torch.autograd.grad`` on
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
    """Records diagnostics of any model that maps a (B, T, D) batch to (B, T, F) outputs.

    What the model needs, exactly:

    - ``model(x)`` returns a (B, T, F) tensor, or a tuple whose first item is one (the
      ``(output, state)`` convention of ``seqlab.nn`` and ``torch.nn``). ``probe_x`` is
      (B, T, D) float features, or (B, T) token ids when the model has an ``nn.Embedding``.
    - ||dL/dx_t|| is taken at the model's input; for a model with an ``inp`` submodule
      (``SequenceModel``) or for token ids, at the output of ``inp`` / the first embedding.
    - ``drift`` averages ||W^T W - I||_F over every ``weight_hh*`` parameter (NaN if none).
    - ``saturation`` and ``sensitivity`` probe one recurrent layer run step by step on the
      input it receives inside the model: ``model.backbone`` when it is one, else the
      first submodule that is a ``torch.nn`` RNN/LSTM/GRU or a ``seqlab.nn`` RNN/LSTM/GRU/
      MinGRU/MinLSTM, batch first and unidirectional. Without such a layer both are NaN.

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
            norms = input_gradient_norms(model, x, self.loss_at, at=_input_module(model, x))
            drift = recurrent_drift(model)
            layer = recurrent_layer(model)
            inputs = None if layer is None else _layer_input(model, layer, x)  # (B, T, E)
            if inputs is None:
                saturation, sensitivity = [float("nan")], float("nan")
            else:
                saturation = hidden_saturation(layer, inputs, self.threshold)
                sensitivity = hidden_sensitivity(layer, inputs, position=0)  # moves of h_T per unit x_1
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


def _input_module(model: nn.Module, x: torch.Tensor) -> nn.Module | None:
    """Where "the input" is read: ``model.inp`` if any, else the first embedding for token
    ids, else None (x itself)."""
    inp = getattr(model, "inp", None)
    if isinstance(inp, nn.Module):
        return inp
    if x.is_floating_point():
        return None
    embedding = next((m for m in model.modules() if isinstance(m, nn.Embedding)), None)
    if embedding is None:
        raise ValueError("probe_x holds token ids but the model has no nn.Embedding; "
                         "give (B, T, D) float features")
    return embedding


def _steppable(module: nn.Module) -> bool:
    from seqlab.nn.recurrent import _Recurrent
    from seqlab.nn.scan import _MinStack

    return (isinstance(module, (nn.RNNBase, _Recurrent, _MinStack))
            and getattr(module, "batch_first", True) and not getattr(module, "bidirectional", False))


def recurrent_layer(model: nn.Module) -> nn.Module | None:
    """The recurrent layer the callback probes step by step (see ``DiagnosticsCallback``), or None."""
    backbone = getattr(model, "backbone", None)
    if isinstance(backbone, nn.Module) and _steppable(backbone):
        return backbone
    return next((m for m in model.modules() if _steppable(m)), None)


@torch.no_grad()
def _layer_input(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """The (B, T, E) tensor ``layer`` receives when ``model`` runs on x (its first call)."""
    seen: list = []
    handle = layer.register_forward_pre_hook(lambda m, args: seen.append(args[0]) if not seen else None)
    try:
        model(x)
    finally:
        handle.remove()
    ok = seen and isinstance(seen[0], torch.Tensor) and seen[0].dim() == 3
    return seen[0].detach() if ok else None
