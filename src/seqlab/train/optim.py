"""Optimizers and learning-rate schedules named by the trainer's config."""

from __future__ import annotations

import math

import torch

from seqlab.train.config import TrainConfig


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in params if p.requires_grad]
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def lr_factor(step: int, cfg: TrainConfig) -> float:
    """Multiplier of the base LR after ``step`` batches (for the LambdaLR schedules).

    constant: 1 after a linear warm-up. cosine: warm-up, then 0.5 (1 + cos(pi p)) with
    p the fraction of the remaining steps. warmup_invsqrt (Vaswani et al. 2017):
    min(s / w, sqrt(w / s)), peaking at 1 when s = w.
    """
    s, w = step + 1, cfg.warmup_steps
    if cfg.schedule == "warmup_invsqrt":
        w = max(w, 1)
        return min(s / w, math.sqrt(w / s))
    if w and s <= w:
        return s / w
    if cfg.schedule == "cosine":
        p = min(1.0, (s - w) / max(1, cfg.steps - w))
        return 0.5 * (1.0 + math.cos(math.pi * p))
    return 1.0


def make_scheduler(opt: torch.optim.Optimizer, cfg: TrainConfig):
    """A scheduler stepped once per batch, or ReduceLROnPlateau stepped at each eval."""
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=2)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: lr_factor(step, cfg))
