"""A recurrent multi-step forecaster and the window task that trains it.

The model reads a context window of C past values and emits all H future values at
once from its last hidden state (direct multi-step forecasting: no feeding back of
its own predictions, so errors do not compound within the horizon).

Scaling: each window is expressed relative to its last observed value,
z = (y - y_last) / s, with s = mean |y_t - y_{t-1}| on the training history. A
trending series (CO2) then looks the same at every level, so the network never has
to extrapolate outside the range it was trained on.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from seqlab.data.batch import SeqBatch


class Forecaster(nn.Module):
    """(B, C, 1) context -> backbone -> last hidden state -> (B, 1, H) forecast.

    Args:
        backbone: batch-first recurrent layer, ``backbone(x, state) -> (out, state)``,
            input size 1.
        features: its output width F.
        horizon: H, the steps predicted at once.
    """

    def __init__(self, backbone: nn.Module, features: int, horizon: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = nn.Linear(features, horizon)

    def forward(self, x: torch.Tensor, state=None):
        out, state = self.backbone(x, state)  # (B, C, F)
        return self.head(out[:, -1:, :]), state  # (B, 1, H)


def make_forecaster(arch: str, hidden: int, num_layers: int, horizon: int,
                    backend: str = "fused") -> Forecaster:
    """An LSTM or GRU forecaster built from seqlab's recurrent layers (fused kernels by
    default: same parameters as the cell backend, torch's speed)."""
    from seqlab.build import ModelConfig, build_backbone

    cfg = ModelConfig(arch=arch, hidden_size=hidden, num_layers=num_layers, backend=backend)
    return Forecaster(build_backbone(cfg, 1), hidden, horizon)


def window_batch(values: torch.Tensor, origins: torch.Tensor, context: int, horizon: int, scale: float) -> SeqBatch:
    """The windows whose first future step is at ``origins``, relative to their last observed value.

    x (B, C, 1) = (past - last) / scale; y (B, 1, H) = (future - last) / scale; mask (B, 1).
    """
    past = values[origins[:, None] + torch.arange(-context, 0)]  # (B, C)
    future = values[origins[:, None] + torch.arange(horizon)]  # (B, H)
    last = past[:, -1:]  # (B, 1)
    x = ((past - last) / scale).unsqueeze(-1)  # (B, C, 1)
    y = ((future - last) / scale).unsqueeze(1)  # (B, 1, H)
    return SeqBatch(x, y, torch.ones(len(origins), 1, dtype=torch.bool))


class WindowTask:
    """Random (context, future) windows from a training history, for the Trainer.

    Training windows end before ``len(history)``; the fixed validation batches are
    the last ``eval_windows`` windows of the history (monitoring only).
    """

    loss_kind = "mse"
    input_dim = 1
    vocab_size = None

    def __init__(self, history: np.ndarray, context: int, horizon: int,
                 eval_windows: int = 32) -> None:
        self.values = torch.as_tensor(np.asarray(history, dtype=np.float32))  # (N,)
        self.context, self.horizon = context, horizon
        self.scale = float(np.mean(np.abs(np.diff(history)))) or 1.0
        self.origins = torch.arange(context, len(history) - horizon + 1)  # first future step
        if len(self.origins) < 1:
            raise ValueError(f"history of {len(history)} steps is too short for context "
                             f"{context} + horizon {horizon}")
        self.eval_origins = self.origins[-eval_windows:]

    @property
    def output_dim(self) -> int:
        return self.horizon

    @property
    def chance_loss(self) -> float:
        """MSE of the no-change forecast (z = 0) over all training windows."""
        return float(self._batch(self.origins).y.pow(2).mean())

    def _batch(self, origins: torch.Tensor) -> SeqBatch:
        return window_batch(self.values, origins, self.context, self.horizon, self.scale)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        pick = torch.randint(0, len(self.origins), (batch_size,), generator=generator)
        return self._batch(self.origins[pick])

    def eval_batches(self, batch_size: int):
        for i in range(0, len(self.eval_origins), batch_size):
            yield self._batch(self.eval_origins[i: i + batch_size])


class NeuralForecaster:
    """Train a :class:`Forecaster` on a history, then forecast from any longer history."""

    def __init__(self, arch: str, hidden: int, context: int, steps: int, seed: int = 0,
                 num_layers: int = 1, lr: float = 3e-3, batch_size: int = 64,
                 device: str = "auto") -> None:
        self.arch, self.hidden, self.context, self.steps = arch, hidden, context, steps
        self.seed, self.num_layers, self.lr, self.batch_size = seed, num_layers, lr, batch_size
        self.device = device
        self.model: Forecaster | None = None
        self.task: WindowTask | None = None
        self.result = None

    def fit_horizon(self, history: np.ndarray, horizon: int) -> "NeuralForecaster":
        from seqlab.train import Trainer, TrainConfig

        torch.manual_seed(self.seed)
        self.task = WindowTask(history, self.context, horizon)
        self.model = make_forecaster(self.arch, self.hidden, self.num_layers, horizon)
        cfg = TrainConfig(steps=self.steps, batch_size=self.batch_size, lr=self.lr,
                          schedule="cosine", clip_norm=1.0, eval_every=max(self.steps // 4, 1),
                          seed=self.seed, progress=False, device=self.device)
        self.result = Trainer(self.model, self.task, cfg).fit()
        return self

    def forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        if self.model is None or self.task is None or horizon != self.task.horizon:
            raise RuntimeError("call fit_horizon(history, horizon) first")
        past = torch.as_tensor(np.asarray(history[-self.context:], dtype=np.float32))
        last, scale = past[-1], self.task.scale
        x = ((past - last) / scale).view(1, -1, 1)  # (1, C, 1)
        self.model.eval()
        with torch.no_grad():
            z, _ = self.model(x.to(next(self.model.parameters()).device))  # (1, 1, H)
        return (z.view(-1).cpu() * scale + last).double().numpy()

