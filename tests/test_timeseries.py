"""Forecasting: metrics and seasonal naive by hand, ARIMA against a known AR(1), the
window scaling by hand, a tiny recurrent forecaster, and the table on the Nile."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqlab.timeseries import (
    Arima, NeuralForecaster, SeasonalNaive, WindowTask, forecast_table, mae, mase,
    mase_scale, rmse,
)


def test_metrics_by_hand():
    y, f = np.array([1.0, 2.0, 4.0]), np.array([2.0, 2.0, 1.0])
    assert mae(y, f) == pytest.approx(4 / 3)
    assert rmse(y, f) == pytest.approx(math.sqrt(10 / 3))
    assert mase_scale(np.array([1.0, 3.0, 2.0, 6.0]), 1) == pytest.approx(7 / 3)
    assert mase_scale(np.array([1.0, 3.0, 2.0, 6.0]), 2) == pytest.approx(2.0)  # |2-1|,|6-3|
    assert mase(y, f, 2.0) == pytest.approx(2 / 3)


def test_seasonal_naive_repeats_the_last_season():
    history = np.array([1.0, 2, 3, 4, 5, 6])
    assert SeasonalNaive(3).forecast(history, 5).tolist() == [4, 5, 6, 4, 5]
    assert SeasonalNaive(1).forecast(history, 2).tolist() == [6, 6]


def test_arima_recovers_an_ar1_and_rolls_forward():
    rng = np.random.default_rng(0)
    y = np.zeros(400)
    for t in range(1, 400):
        y[t] = 0.7 * y[t - 1] + rng.normal()
    model = Arima((1, 0, 0)).fit(y[:300])
    assert model.result.params[0] == pytest.approx(0.7, abs=0.1)
    phi = model.result.params[0]
    # with fixed parameters, a longer history moves the origin: y_hat = phi^h y_T
    f = model.forecast(y[:350], 3)
    np.testing.assert_allclose(f, [phi * y[349], phi**2 * y[349], phi**3 * y[349]], rtol=1e-6)


def test_window_task_scaling_by_hand():
    task = WindowTask(np.arange(20.0), context=4, horizon=2)  # mean |diff| = 1
    batch = task._batch(torch.tensor([10]))
    assert batch.x.view(-1).tolist() == [-3.0, -2.0, -1.0, 0.0]  # 6..9 relative to 9
    assert batch.y.view(-1).tolist() == [1.0, 2.0]  # 10, 11
    assert task.origins[0] == 4 and task.origins[-1] == 18
    assert batch.x.shape == (1, 4, 1) and batch.y.shape == (1, 1, 2)


def test_recurrent_forecaster_learns_a_sine(one_thread):
    t = np.arange(300)
    history = np.sin(2 * np.pi * t / 12)
    net = NeuralForecaster("gru", hidden=16, context=24, steps=200, seed=0, lr=2e-2,
                           batch_size=32, device="cpu").fit_horizon(history, 6)
    assert net.result.final["loss"] < 0.02 * net.task.chance_loss
    f = net.forecast(history, 6)
    np.testing.assert_allclose(f, np.sin(2 * np.pi * np.arange(300, 306) / 12), atol=0.1)


def test_forecast_table_on_the_nile(one_thread):
    rows = forecast_table("nile", arch="lstm", hidden=8, steps=20, device="cpu")
    assert [r.method for r in rows] == ["seasonal naive", "ARIMA", "ETS", "LSTM"]
    assert all(r.origins == 16 for r in rows)  # 20 test years, horizon 5
    assert all(np.isfinite([r.mae, r.rmse, r.mase]).all() for r in rows)
    naive = rows[0]
    assert naive.rmse >= naive.mae
