"""Training a model built by hand, and the probes the initialisation claims (C6, C24, C26) share.

``training.fit`` builds its model from a ``ModelConfig``. These claims need to touch
the weights between building and training (twins that differ only in W_hh, a W_ih
scaled into saturation), so :func:`train_built` takes a built model and trains it
with the same ``seqlab.train.Trainer`` and the same batches (seeded by seed and step).

Probes:

* :class:`ScoreCurve` scores the model on fixed held-out batches every few updates
  (for competence and convergence gates and steps-to-competence);
* :class:`MonitorLog` calls seqlab's gradient monitor
  (``seqlab.train.monitor.gradient_health``, thresholds from the trainer's config)
  after every update and keeps its flags and the weight norms;
* :func:`reach` is log10(||dL/de_1|| / ||dL/de_T||), e = the backbone's input.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from seqlab.diagnostics import input_gradient_norms
from seqlab.errors import TrainingDivergedError
from seqlab.experiments.core.training import LossCurve, score
from seqlab.train import TrainConfig, Trainer
from seqlab.train.monitor import gradient_health


@dataclass
class Trained:
    model: nn.Module
    curve: LossCurve  # training loss and pre-clipping gradient norm per update
    wall_time: float
    diverged_at: int | None = None  # the update whose loss or gradient was not finite
    callbacks: list = field(default_factory=list)


def train_built(model: nn.Module, task, steps: int, *, lr: float, seed: int, batch_size: int = 32,
                optimizer: str = "adam", clip_norm: float | None = None, clip_above: float | None = None,
                callbacks: tuple = ()) -> Trained:
    """Train ``model`` (already built and initialised) for ``steps`` updates on ``task``.

    Batch ``k`` of seed ``s`` is the same for every model (the trainer seeds it by
    (s, k)), so variants trained with one seed are paired. A non-finite loss or
    gradient ends the run and is returned as ``diverged_at`` (a measurement here);
    the callbacks see it through ``on_diverged(trainer)`` when they define it.
    """
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, optimizer=optimizer, clip_norm=clip_norm,
                      clip_above=clip_above,
                      eval_every=steps, eval_batches=1, log_every=steps, seed=seed, progress=False)
    curve = LossCurve()
    trainer = Trainer(model, task, cfg, callbacks=(curve, *callbacks))
    start, diverged = time.perf_counter(), None
    try:
        if trainer.fit().stopped == "interrupted":
            raise KeyboardInterrupt
    except TrainingDivergedError:
        diverged = trainer.step + 1
        for cb in callbacks:
            if hasattr(cb, "on_diverged"):
                cb.on_diverged(trainer)
    return Trained(trainer.raw_model, curve, time.perf_counter() - start, diverged, list(callbacks))


class ScoreCurve:
    """Callback: held-out loss / chance and accuracy every ``every`` updates (and after the last).

    ``start(model)`` records update 0 (before training). Scoring uses fixed batches
    (``training.score``), so two models are scored on the same sequences.
    """

    def __init__(self, task, every: int, batches: int = 2) -> None:
        self.task, self.every, self.batches = task, every, batches
        self.steps: list[int] = []
        self.normalized: list[float] = []
        self.accuracy: list[float] = []

    @classmethod
    def of(cls, steps: list[int], accuracy: list[float]) -> "ScoreCurve":
        """A curve from recorded points (a unit's result), for ``first_step`` and ``kept_from``."""
        curve = cls(None, every=1)
        curve.steps, curve.accuracy = list(steps), list(accuracy)
        return curve

    def start(self, model: nn.Module) -> "ScoreCurve":
        self._record(model, 0)
        return self

    def on_step(self, trainer, step: int, metrics: dict) -> None:
        if step % self.every == 0 or step == trainer.cfg.steps:
            self._record(trainer.raw_model, step)

    def _record(self, model: nn.Module, step: int) -> None:
        was = model.training
        s = score(model, self.task, batches=self.batches)
        model.train(was)
        self.steps.append(step)
        self.normalized.append(s["normalized"])
        self.accuracy.append(s["accuracy"])

    def first_step(self, floor: float) -> int | None:
        """The first scored update with accuracy >= floor (None: never within the budget)."""
        return next((st for st, a in zip(self.steps, self.accuracy) if a >= floor), None)

    def kept_from(self, floor: float) -> int | None:
        """The first scored update from which accuracy stays >= floor to the end (None: not at the end)."""
        start = None
        for st, a in zip(self.steps, self.accuracy):
            start = (st if start is None else start) if a >= floor else None
        return start


class MonitorLog:
    """Callback: seqlab's gradient monitor after every update, and the weight norms.

    The monitor (``gradient_health``) flags a parameter whose gradient norm is below
    ``trainer.cfg.monitor_low`` (vanishing) or above ``monitor_high`` or not finite
    (exploding). Gradients are read after the optimizer step, which leaves them as
    they were; so runs watched by this log must train without clipping (clipping
    would rescale them first). ``weights`` holds the norm of all parameters,
    ||theta||_2, after each update (inf once any is not finite).
    """

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.total: list[float] = []  # global gradient norm
        self.smallest: list[float] = []  # smallest per-parameter gradient norm
        self.largest: list[float] = []  # largest per-parameter gradient norm
        self.vanishing: list[list[str]] = []
        self.exploding: list[list[str]] = []
        self.weights: list[float] = []

    def on_step(self, trainer, step: int, metrics: dict) -> None:
        if trainer.cfg.clip_norm is not None or trainer.cfg.clip_value is not None:
            raise ValueError("MonitorLog reads gradients after the update: train without clipping")
        self._record(trainer, step)

    def on_diverged(self, trainer) -> None:
        """The update that diverged: its gradients are still in place (the trainer stopped before clipping)."""
        self._record(trainer, trainer.step + 1)

    def _record(self, trainer, step: int) -> None:
        health = gradient_health(trainer.raw_model, trainer.cfg.monitor_low, trainer.cfg.monitor_high)
        per = list(health.norms.values())
        self.steps.append(step)
        self.total.append(health.total_norm)
        self.smallest.append(min(per))
        self.largest.append(max(per) if all(math.isfinite(v) for v in per) else math.inf)
        self.vanishing.append(list(health.vanishing))
        self.exploding.append(list(health.exploding))
        self.weights.append(weight_norm(trainer.raw_model))

    def flagged(self, kind: str) -> list[int]:
        """Updates at which the monitor flagged ``kind`` ("vanishing" or "exploding")."""
        flags = self.vanishing if kind == "vanishing" else self.exploding
        return [s for s, f in zip(self.steps, flags) if f]


@torch.no_grad()
def weight_norm(model: nn.Module) -> float:
    """||theta||_2 over every parameter of ``model`` together; inf when any entry is not finite."""
    sq = sum(float(p.double().square().sum()) for p in model.parameters())
    return math.sqrt(sq) if math.isfinite(sq) else math.inf


def reach(model: nn.Module, probe_x: torch.Tensor) -> float:
    """log10(||dL/de_1|| / ||dL/de_T||) with e the backbone's input and L the outputs at the last step
    (``diagnostics.input_gradient_norms`` at ``model.inp``); negative = the gradient shrank going back."""
    was = model.training
    model.eval()
    try:
        x = probe_x.to(next(model.parameters()).device)
        norms = input_gradient_norms(model, x, loss_at="last", at=model.inp)  # (T,)
    finally:
        model.train(was)
    return float(np.log10(max(float(norms[0]), 1e-300) / max(float(norms[-1]), 1e-300)))
