"""The trainer's configuration: one frozen dataclass, validated on load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from seqlab.config import MAX_SEED, ranged


@dataclass(frozen=True)
class TrainConfig:
    """How to train. ``steps`` counts batches; under truncated BPTT one batch makes
    ceil(T / k1) parameter updates. ``steps`` None trains until ``max_minutes``.

    max_minutes: wall-clock minutes of the whole run, evaluations included and summed
    over resumes; the run stops with "time_limit" after the step that passes it.
    eval_every_minutes: evaluate (and checkpoint) every that many minutes of the same
    clock instead of every ``eval_every`` steps, for runs whose length is a time budget.
    betas: Adam's (beta1, beta2); Vaswani et al. (2017) train with (0.9, 0.98).

    tbptt_k1 / tbptt_k2: update every k1 steps, backpropagate k2 steps (k1 <= k2).
    Leave both unset for full BPTT; setting only k1 means k2 = k1.

    bf16: bf16 autocast of the forward pass (weights and optimizer stay float32); true on a
    CPU needs bf16 units. "auto": on CUDA, unless the model has recurrent layers with
    torch's kernels (autocast runs cuDNN's RNNs in fp16, with no loss scaling); off elsewhere.
    compile: train through ``torch.compile(model)`` (the first steps compile; checkpoints
    hold the uncompiled module's weights, so a run resumes or evaluates either way).

    clip_norm / clip_value: rescale the gradient to that global norm, or clamp each entry to
    +-value. Unset, "off" or 0 means no clipping (a limit of 0 would scale every gradient to
    zero and freeze the weights, so 0 is read as off and recorded as unset).
    """

    steps: int | None = ranged(1000, 1)
    batch_size: int = ranged(32, 1)
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = ranged(1e-3, 0.0, 10.0)
    momentum: float = ranged(0.0, 0.0, 1.0)
    weight_decay: float = ranged(0.0, 0.0, 1.0)
    betas: tuple[float, float] = (0.9, 0.999)
    schedule: Literal["constant", "cosine", "warmup_invsqrt", "plateau"] = "constant"
    warmup_steps: int = ranged(0, 0)
    clip_norm: float | None = ranged(None, 0.0)
    clip_value: float | None = ranged(None, 0.0)
    clip_above: float | None = ranged(None, 0.0)  # clip to clip_norm only when the norm exceeds this
    tbptt_k1: int | None = ranged(None, 1)
    tbptt_k2: int | None = ranged(None, 1)
    eval_every: int = ranged(100, 1)
    eval_every_minutes: float | None = ranged(None, 0.0)
    eval_batches: int = ranged(4, 1)
    early_stop_patience: int | None = ranged(None, 1)
    target_loss: float | None = None
    max_minutes: float | None = ranged(None, 0.0)  # wall-clock budget; stops with "time_limit"
    checkpoint_every: int = ranged(0, 0)
    log_every: int = ranged(10, 1)
    seed: int = ranged(0, 0, MAX_SEED)
    deterministic: bool = False
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    bf16: bool | Literal["auto"] = False  # bf16 autocast ("auto": on CUDA, see above); weights stay float32
    compile: bool = False  # torch.compile the model for training (evaluation runs it uncompiled)
    progress: bool = True
    monitor_low: float = ranged(1e-7, 0.0)
    monitor_high: float = ranged(1e3, 0.0)

    def __post_init__(self) -> None:
        from seqlab.errors import ConfigError

        for key in ("clip_norm", "clip_value"):  # 0 = off (see the docstring)
            if getattr(self, key) == 0:
                object.__setattr__(self, key, None)

        if self.tbptt_k2 is not None and self.tbptt_k1 is None:
            raise ConfigError("'tbptt_k2' needs 'tbptt_k1' (the update interval) to be set too")
        if self.tbptt_k1 is not None and self.tbptt_k2 is not None and self.tbptt_k2 < self.tbptt_k1:
            raise ConfigError(
                f"'tbptt_k2' is {self.tbptt_k2}; it must be >= tbptt_k1 ({self.tbptt_k1})"
            )
        if self.clip_norm is not None and self.clip_value is not None:
            raise ConfigError("set at most one of 'clip_norm' and 'clip_value'")
        if self.clip_above is not None and self.clip_norm is None:
            raise ConfigError("'clip_above' needs 'clip_norm' (the norm to clip to) to be set too")
        if self.steps is None and self.max_minutes is None:
            raise ConfigError("set 'train.steps' or 'train.max_minutes': a run needs a budget")
        if self.steps is None and self.schedule == "cosine":
            raise ConfigError("the cosine schedule spans 'train.steps': set it")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"'train.betas' is {list(self.betas)}; it must be two numbers in [0, 1)")

    @property
    def tbptt(self) -> tuple[int, int] | None:
        if self.tbptt_k1 is None:
            return None
        return self.tbptt_k1, self.tbptt_k2 or self.tbptt_k1


@dataclass
class TrainResult:
    steps: int
    updates: int
    wall_time: float
    final: dict
    stopped: str  # completed | early_stop | target_reached | time_limit | interrupted
    history: list[dict] = field(default_factory=list)
    run_dir: Path | None = None
    train_seconds: float = 0.0  # in training batches (evaluations left out), over resumes
    targets: int = 0  # scored targets trained on (translation: target tokens of the global batches)
    stop_reason: str | None = None  # what interrupted the run: "SIGINT", "SIGTERM" or "request"

    @property
    def targets_per_second(self) -> float:
        return self.targets / self.train_seconds if self.train_seconds else 0.0
