"""The trainer's configuration: one frozen dataclass, validated on load."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from seqlab.config import ranged


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``steps`` counts batches; under truncated BPTT one batch makes
    ceil(T / k1) parameter updates.

    tbptt_k1 / tbptt_k2: update every k1 steps, backpropagate k2 steps (k1 <= k2).
    Leave both unset for full BPTT; setting only k1 means k2 = k1.
    """

    steps: int = ranged(1000, 1)
    batch_size: int = ranged(32, 1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = ranged(1e-3, 0.0, 10.0)
    momentum: float = ranged(0.0, 0.0, 1.0)
    weight_decay: float = ranged(0.0, 0.0, 1.0)
    schedule: Literal["constant", "cosine", "warmup_invsqrt", "plateau"] = "constant"
    warmup_steps: int = ranged(0, 0)
    clip_norm: float | None = ranged(None, 0.0)
    clip_value: float | None = ranged(None, 0.0)
    tbptt_k1: int | None = ranged(None, 1)
    tbptt_k2: int | None = ranged(None, 1)
    eval_every: int = ranged(100, 1)
    eval_batches: int = ranged(4, 1)
    early_stop_patience: int | None = ranged(None, 1)
    target_loss: float | None = None
    max_minutes: float | None = ranged(None, 0.0)  # wall-clock budget; stops with "time_limit"
    checkpoint_every: int = ranged(0, 0)
    log_every: int = ranged(10, 1)
    seed: int = 0
    deterministic: bool = False
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    bf16: bool = False  # bf16 autocast (CUDA, or CPUs with bf16 units); weights stay float32
    progress: bool = True
    monitor_low: float = ranged(1e-7, 0.0)
    monitor_high: float = ranged(1e3, 0.0)

    def __post_init__(self) -> None:
        from seqlab.errors import ConfigError

        if self.tbptt_k2 is not None and self.tbptt_k1 is None:
            raise ConfigError("'tbptt_k2' needs 'tbptt_k1' (the update interval) to be set too")
        if self.tbptt_k1 is not None and self.tbptt_k2 is not None and self.tbptt_k2 < self.tbptt_k1:
            raise ConfigError(
                f"'tbptt_k2' is {self.tbptt_k2}; it must be >= tbptt_k1 ({self.tbptt_k1})"
            )
        if self.clip_norm is not None and self.clip_value is not None:
            raise ConfigError("set at most one of 'clip_norm' and 'clip_value'")

    @property
    def tbptt(self) -> tuple[int, int] | None:
        if self.tbptt_k1 is None:
            return None
        return self.tbptt_k1, self.tbptt_k2 or self.tbptt_k1
