"""Train one configuration and score it: the ledger's common measuring step.

Experiments call :func:`fit` with plain numbers; it builds the model through
``seqlab.build`` (the one factory), trains it with ``seqlab.train.Trainer``
(progress bars off) and returns the model, the trainer's result and the loss /
gradient-norm curve. Divergence (NaN) is a measurement here, not a crash: it is
returned as ``Fit.diverged_at``.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.errors import TrainingDivergedError
from seqlab.train import TrainConfig, Trainer
from seqlab.train.losses import masked_loss

ADDING_TOLERANCE = 0.04  # an adding-problem answer counts as right within +-0.04


class LossCurve:
    """Callback: the training loss and pre-clipping gradient norm of every step."""

    def __init__(self) -> None:
        self.steps: list[int] = []
        self.loss: list[float] = []
        self.grad_norm: list[float] = []

    def on_step(self, trainer, step: int, metrics: dict) -> None:
        self.steps.append(step)
        self.loss.append(float(metrics["loss"]))
        self.grad_norm.append(float(trainer.last_grad_norm))


@dataclass
class Fit:
    model: torch.nn.Module
    final: dict
    curve: LossCurve
    wall_time: float
    diverged_at: int | None = None
    callbacks: list = field(default_factory=list)


def fit(model_cfg: ModelConfig, task, steps: int, *, lr: float = 3e-3, seed: int = 0, batch_size: int = 32,
        optimizer: str = "adam", clip_norm: float | None = None, tbptt: tuple[int, int] | None = None,
        callbacks: tuple = (), schedule: str = "constant") -> Fit:
    """Build ``model_cfg`` for ``task`` (seeded), train ``steps`` batches (learning-rate ``schedule``, e.g.
    "cosine" to anneal a short budget to a settled end), return the Fit."""
    torch.manual_seed(seed)
    model = build_model(model_cfg, task)
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, optimizer=optimizer, clip_norm=clip_norm,
                      schedule=schedule,
                      tbptt_k1=None if tbptt is None else tbptt[0], tbptt_k2=None if tbptt is None else tbptt[1],
                      eval_every=steps, eval_batches=2, log_every=max(steps, 1), seed=seed, progress=False)
    curve = LossCurve()
    trainer = Trainer(model, task, cfg, callbacks=(curve, *callbacks))
    start, diverged = time.perf_counter(), None
    try:
        done = trainer.fit()
        if done.stopped == "interrupted":  # Ctrl-C: the trainer stopped cleanly; stop the ledger too
            raise KeyboardInterrupt
        final = done.final
    except TrainingDivergedError:
        diverged, final = trainer.step + 1, {"loss": math.nan}
    return Fit(trainer.raw_model, final, curve, time.perf_counter() - start, diverged, list(callbacks))


@torch.no_grad()
def score(model: torch.nn.Module, task, batches: int = 4, batch_size: int = 64, seed: int = 12345) -> dict:
    """Held-out loss, loss / chance, and accuracy on the scored steps.

    Accuracy is argmax == target for classification tasks, and |error| < 0.04 for
    regression (the adding problem's usual criterion).
    """
    model.eval()
    device = next(model.parameters()).device
    losses, hits, count = [], 0.0, 0
    for i in range(batches):
        b = task.sample(batch_size, torch.Generator().manual_seed(seed + i)).to(device)
        out, _ = model(b.x)  # (B, T, O)
        losses.append(masked_loss(out.float(), b, task.loss_kind)[1]["loss"])  # the trainer's loss
        out, y = out[b.mask].float(), b.y[b.mask]  # (N, O), (N,) or (N, O)
        if task.loss_kind == "ce":
            hits += (out.argmax(-1) == y).sum().item()
        else:
            hits += ((out - y).abs() < ADDING_TOLERANCE).all(-1).sum().item()
        count += y.shape[0]
    loss = float(np.mean(losses))
    return {"loss": loss, "normalized": loss / task.chance_loss, "accuracy": hits / max(count, 1)}


def spearman(a, b) -> float:
    """Spearman rank correlation of two equal-length sequences (NaN pairs dropped)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    if len(a) < 3:
        return math.nan
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def step_seconds(model: torch.nn.Module, x: torch.Tensor, reps: int = 5) -> float:
    """Median wall time of one forward + backward pass on ``x`` (after one warm-up)."""
    times = []
    for i in range(reps + 1):
        if x.is_cuda:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out, _ = model(x)
        out.float().sum().backward()
        if x.is_cuda:
            torch.cuda.synchronize()
        if i:
            times.append(time.perf_counter() - t0)
    model.zero_grad(set_to_none=True)
    return float(np.median(times))


def train_pass(model: torch.nn.Module, x: torch.Tensor):
    """A closure running one forward + backward pass of ``model`` on ``x``, for timing.

    The gradients are returned by ``torch.autograd.grad``, not stored, so repeated
    calls (``seqlab.experiments.core.timing.interleaved``) do the same work each time.
    """
    params = [p for p in model.parameters() if p.requires_grad]

    def step():
        out, _ = model(x)
        return torch.autograd.grad(out.float().sum(), params, allow_unused=True)

    return step


@contextlib.contextmanager
def one_thread():
    """Run the block on one torch thread (restored after).

    The ledger's small models gain nothing from a second thread, which only spins on a
    busy machine; and one thread gives the same numbers on machines with any core count.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
