"""Training: one trainer for every model and task (truncated BPTT, clipping, gradient
health, NaN guard, schedules, early stopping, atomic checkpoints, exact resume, DDP)."""

from seqlab.train.config import TrainConfig, TrainResult
from seqlab.train.loop import Trainer
from seqlab.train.task import Task
from seqlab.train.tbptt import plan_windows, tbptt_windows

__all__ = ["Task", "TrainConfig", "Trainer", "TrainResult", "plan_windows", "tbptt_windows"]
