"""Forecasting as a task of the one trainer: the [task] of a recipe with ``name = "forecast"``.

The series is a built-in one (``co2``, ``sunspots``, ... from statsmodels) or a column of the
user's CSV file (``value_column``; ``time_column`` names each step, optional), cut
chronologically: the last 20% of the steps test, the 10% before them dev. A window reads
``context`` past values and predicts the next ``horizon`` at once from the model's last step
(direct multi-step forecasting), every value relative to the window's last observed one and
divided by the train split's mean absolute step (``seqlab.timeseries.neural``). Training
windows lie inside the train split; a dev or test window's future lies inside its split (its
context may reach back before it: the past is known when forecasting).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from seqlab.config import ranged
from seqlab.data.batch import SeqBatch
from seqlab.data.corpora import corpus_value, open_corpus
from seqlab.errors import SeqlabError
from seqlab.timeseries.neural import window_batch
from seqlab.train.losses import masked_loss


@dataclass(frozen=True)
class Forecast:
    """Multi-step forecasting of one series (see the module docstring).

    Args:
        corpus: a built-in series name or the user's CSV file.
        value_column, time_column: the CSV's columns (time is optional).
        context: C, past values a window reads.  horizon: H, future values it predicts.

    The model is ``seqlab.build.build_model``'s: x (B, C, 1) -> (B, C, H); ``loss`` reads its
    last step (B, 1, H) against y (B, 1, H): MSE of the scaled values, and MAE in the series' units.
    """

    corpus: str = "co2"
    value_column: str = "value"
    time_column: str | None = None
    context: int = ranged(36, 1)
    horizon: int = ranged(12, 1)

    loss_kind = "mse"
    input_dim = 1
    vocab_size = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "corpus", corpus_value(self.corpus, "series"))

    @cached_property
    def source(self):
        """The series (a SeriesCorpus), built-in or from the user's CSV."""
        from seqlab.data.corpora.user import load_series_csv

        return open_corpus(self.corpus, "series",
                           lambda file: load_series_csv(file, self.value_column, self.time_column))

    @cached_property
    def _windows(self) -> tuple[torch.Tensor, float, dict[str, torch.Tensor]]:
        """(values, scale, split -> origins: the first future step of each window)."""
        series, C, H = self.source, self.context, self.horizon
        values = torch.as_tensor(np.asarray(series.values, dtype=np.float32))  # (N,)
        lo, hi = series.bounds["train"]
        steps = np.abs(np.diff(series.values[lo:hi]))  # the train split's mean absolute step is the unit
        scale = float(steps.mean()) if len(steps) and steps.mean() > 0 else 1.0
        origins = {}
        for split, (start, stop) in series.bounds.items():
            first = max(start, C)
            origins[split] = torch.arange(first, stop - H + 1)
            if len(origins[split]) == 0:
                raise SeqlabError(f"{self._where()}: the {split} split (steps {start + 1}-{stop}) holds no window of "
                                  f"task.context {C} past and task.horizon {H} future values inside it: give a "
                                  f"longer series or lower the context or the horizon")
        return values, scale, origins

    def _where(self) -> str:
        record = getattr(self.source, "record", None)
        return record["corpus"] if record else f"series {self.source.name}"

    @property
    def output_dim(self) -> int:
        return self.horizon

    @property
    def scale(self) -> float:
        return self._windows[1]

    @property
    def chance_loss(self) -> float:
        """MSE of the no-change forecast (z = 0) over the training windows."""
        return float(self._batch(self._windows[2]["train"]).y.pow(2).mean())

    def prepare(self, batch_size: int) -> None:
        """Read and check the series and that every split holds a window."""
        _ = self._windows

    def data_record(self) -> dict:
        from seqlab.data.corpora import data_record

        return data_record(self.source)

    def _batch(self, origins: torch.Tensor) -> SeqBatch:
        values, scale, _ = self._windows
        return window_batch(values, origins, self.context, self.horizon, scale)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        train = self._windows[2]["train"]
        pick = torch.randint(0, len(train), (batch_size,), generator=generator)
        return self._batch(train[pick])

    def eval_batches(self, batch_size: int, split: str = "dev"):
        """Every window of the split, in time order."""
        origins = self._windows[2][split]
        for i in range(0, len(origins), batch_size):
            yield self._batch(origins[i: i + batch_size])

    def loss(self, model, batch: SeqBatch) -> tuple[torch.Tensor, dict]:
        out, _ = model(batch.x, None)  # (B, C, H)
        last = out[:, -1:, :].float()  # (B, 1, H): the forecast made after the last observed step
        loss, metrics = masked_loss(last, batch, "mse")
        metrics["mae"] = float((last.detach() - batch.y).abs().mean()) * self.scale  # in the series' own units
        return loss, metrics
