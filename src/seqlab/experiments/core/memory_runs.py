"""Training to competence on the memory tasks: the measuring step of C4, C7 and C25.

Each run trains one model with :func:`seqlab.experiments.core.training.fit` and watches
its *skill* on every training batch before the update is applied. The trainer draws
a fresh batch for every step (``seed * 1_000_003 + step``), so this is a held-out
measurement that costs nothing extra:

    skill = accuracy on the scored steps          (copy, recall: chance = 1 / alphabet)
    skill = 1 - MSE / chance MSE                  (adding: chance = predicting the mean, 0)

The running skill is the mean over the last ``window`` batches (a lagging, hence
conservative, estimate). *Steps to competence* = the first step at which the running
skill reaches the threshold; a model that never does gets ``budget + 1`` (the rule of
C7). With ``stop=True`` training ends there (a competent model needs no more updates
for these verdicts, and it halves the cost of a ledger whose failures run the whole
budget). The curve kept for the convergence gate samples the running skill at 8
evenly spaced points of the steps trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqlab.build import ModelConfig
from seqlab.experiments.core.training import fit, score

CURVE_POINTS = 8  # running-skill samples kept per run (the convergence gate needs >= 4)


def skill(task, metrics: dict) -> float:
    """The task's skill from a metrics dict (``masked_loss``'s or ``score``'s); see the module doc."""
    if task.loss_kind == "ce":
        return float(metrics["accuracy"])
    return 1.0 - float(metrics["loss"]) / task.chance_loss


def chance_skill(task) -> float:
    """The skill of a model that ignores the long-range input."""
    return 1.0 / _answers(task) if task.loss_kind == "ce" else 0.0


def _answers(task) -> int:
    """How many answers are possible at a scored step (the chance accuracy is 1 / this)."""
    for name in ("alphabet", "num_values"):
        if hasattr(task, name):
            return int(getattr(task, name))
    return int(task.output_dim)


class _Competent(Exception):
    """Raised by :class:`Watch` to end a run at competence (caught in :func:`train`)."""


class Watch:
    """Callback: the skill of every training batch and the step the running skill first hits ``threshold``."""

    def __init__(self, task, threshold: float, window: int, stop: bool) -> None:
        self.task, self.threshold, self.window, self.stop = task, threshold, window, stop
        self.skills: list[float] = []
        self.running: list[float] = []
        self.reached: int | None = None
        self.trainer = None

    def on_step(self, trainer, step: int, metrics: dict) -> None:
        self.trainer = trainer
        self.skills.append(skill(self.task, metrics))
        recent = self.skills[-self.window:]
        self.running.append(sum(recent) / len(recent))
        if self.reached is None and len(recent) == self.window and self.running[-1] >= self.threshold:
            self.reached = step
            if self.stop:
                raise _Competent


@dataclass
class Run:
    """One trained model: steps to competence (``None``: never), the updates it was allowed
    (``budget``) and trained, its running-skill curve (``CURVE_POINTS`` samples), its best
    running skill and held-out skill."""

    reached: int | None
    budget: int
    trained: int
    curve: list[float]
    best: float
    held_out: float

    @property
    def steps(self) -> int:
        """Steps to competence, ``budget + 1`` when never reached."""
        return self.budget + 1 if self.reached is None else self.reached

    @property
    def competent(self) -> bool:
        return self.reached is not None


def sample_curve(running: list[float], points: int = CURVE_POINTS) -> list[float]:
    """``points`` evenly spaced values of ``running``, the last one its end."""
    if not running:
        return [math.nan] * points
    n = len(running)
    return [running[max(0, math.ceil(n * (i + 1) / points) - 1)] for i in range(points)]


def train(spec: ModelConfig, task, budget: int, *, seed: int, lr: float, batch_size: int, threshold: float,
          window: int = 10, stop: bool = True, score_batches: int = 2) -> Run:
    """Train ``spec`` on ``task`` for at most ``budget`` updates (clip 1.0, Adam), watching its skill."""
    watch = Watch(task, threshold, window, stop)
    try:
        model = fit(spec, task, budget, lr=lr, seed=seed, batch_size=batch_size, clip_norm=1.0,
                    callbacks=(watch,)).model
    except _Competent:
        model = watch.trainer.raw_model
    held_out = skill(task, score(model, task, batches=score_batches, batch_size=64))
    return Run(watch.reached, budget, len(watch.running), sample_curve(watch.running),
               max(watch.running, default=math.nan), held_out)
