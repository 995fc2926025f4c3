"""Will a training run fit? A lower bound on its memory, checked before anything large exists.

A recipe can ask for sizes no machine holds (``model.hidden_size = 65536`` is 69 GB of
LSTM weights; ``train.batch_size = 10**12``); allocating them would fail deep inside
torch or, worse, push the machine into swap. ``Footprint`` adds up what training must
hold at once, in float32:

    weights + gradients + optimizer state   4 * P * (2 + m)   (m = 2 Adam, 1 SGD+momentum, 0 SGD)
    the batch                              B * T * (bytes per step of input and target)
    kept for the backward pass             4 * B * T' * (H * L + V)

(P parameters, counted on the meta device without allocating them; T' the steps one
backward pass spans, k2 under truncated BPTT; H the width of each of L layers and V the
outputs per step: every layer's output and the logits must stay for the gradients.)
The true peak is higher (gates, attention, temporaries), so a run this refuses could never
have fit; one it lets through may still run out, and then the allocator's own error is one
line too (``seqlab.cli``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

import torch

from seqlab.errors import SeqlabError

GB = 1e9


@dataclass(frozen=True)
class Footprint:
    """The least memory of one training step, in bytes, by part."""

    weights: int  # weights, gradients and optimizer state
    batch: int
    kept: int  # activations kept for the backward pass

    @property
    def total(self) -> int:
        return self.weights + self.batch + self.kept

    def describe(self) -> str:
        return (f"{self.total / GB:,.1f} GB: {self.weights / GB:,.1f} GB of weights, gradients and optimizer state, "
                f"{self.batch / GB:,.1f} GB of batch, {self.kept / GB:,.1f} GB of activations kept for backward")


def optimizer_slots(optimizer: str, momentum: float = 0.0) -> int:
    """Tensors the optimizer keeps per parameter: Adam's two moments, SGD's momentum buffer."""
    return 2 if optimizer in ("adam", "adamw") else int(momentum > 0)


def count_parameters(build: Callable[[], torch.nn.Module]) -> int:
    """Parameters of the module ``build()`` makes, built on the meta device (no memory used)."""
    with torch.device("meta"):
        model = build()
    return sum(p.numel() for p in model.parameters())


def footprint(params: int, slots: int, batch: int, steps: int, window: int, step_bytes: int, width: int,
              layers: int, outputs: int) -> Footprint:
    """Args: ``params``, the optimizer's ``slots``; a batch of ``batch`` sequences of ``steps``
    steps of ``step_bytes`` each (inputs, targets, mask); ``window`` steps per backward pass;
    ``layers`` of ``width`` features and ``outputs`` logits per step."""
    return Footprint(weights=4 * params * (2 + slots), batch=batch * steps * step_bytes,
                     kept=4 * batch * window * (width * layers + outputs))


def available_bytes(device: torch.device) -> int | None:
    """Memory free for a run on ``device``: CUDA's free memory, else the host's available
    memory (Linux ``MemAvailable``); None where it cannot be told."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def check_fits(need: Footprint, device: torch.device, lower: str) -> None:
    """Refuse a run whose least footprint exceeds the memory free on ``device``, in one line
    that gives the estimate and says which sizes to ``lower``."""
    free = available_bytes(device)
    if free is not None and need.total > free:
        raise SeqlabError(f"this run needs at least {need.describe()}; {device} has {free / GB:,.1f} GB free. "
                          f"Lower {lower}")
