"""One forecasting table: seasonal naive, ARIMA, ETS and a recurrent net, same split.

Protocol (rolling origin): every method sees only the steps before the test period
to fit. Then, at each origin o in the test period (every ``stride`` steps, while
o + H fits), it forecasts steps [o, o + H) from the history [0, o). MAE and RMSE are
averaged over all origins and horizon steps; MASE divides the MAE by the seasonal-
naive in-sample MAE of the pre-test history.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqlab.data.corpora import load_series
from seqlab.timeseries.baselines import Arima, Ets, SeasonalNaive
from seqlab.timeseries.metrics import mae, mase, mase_scale, rmse
from seqlab.timeseries.neural import NeuralForecaster


@dataclass(frozen=True)
class SeriesSpec:
    """Per-series settings of the comparison (chosen once, written down here)."""

    horizon: int
    context: int
    arima_order: tuple[int, int, int]
    arima_seasonal: tuple[int, int, int, int]
    arima_trend: str
    ets_trend: bool
    ets_damped: bool
    ets_season: bool


SPECS: dict[str, SeriesSpec] = {
    # monthly CO2: the classic airline-type SARIMA, Holt-Winters with trend and season
    "co2": SeriesSpec(12, 36, (1, 1, 1), (0, 1, 1, 12), "n", True, False, True),
    # sunspots: AR(9) around a mean captures the ~11-year cycle; ETS has no cycle
    "sunspots": SeriesSpec(11, 33, (9, 0, 0), (0, 0, 0, 0), "c", False, False, False),
    "nile": SeriesSpec(5, 20, (1, 1, 1), (0, 0, 0, 0), "n", False, False, False),
    "elnino": SeriesSpec(12, 36, (2, 0, 0), (1, 0, 0, 12), "c", False, False, True),
    "macrodata": SeriesSpec(4, 16, (1, 1, 1), (0, 0, 0, 0), "t", True, True, False),
}


@dataclass(frozen=True)
class Row:
    series: str
    method: str
    mae: float
    rmse: float
    mase: float
    origins: int


def test_origins(test_start: int, n: int, horizon: int, stride: int) -> list[int]:
    """Forecast origins inside the test period whose whole horizon is observed."""
    return list(range(test_start, n - horizon + 1, stride))


def score(method, values: np.ndarray, origins: list[int], horizon: int, scale: float):
    """(MAE, RMSE, MASE) of ``method.forecast`` over the rolling origins."""
    actual = np.concatenate([values[o: o + horizon] for o in origins])
    pred = np.concatenate([method.forecast(values[:o], horizon) for o in origins])
    return mae(actual, pred), rmse(actual, pred), mase(actual, pred, scale)


def forecast_table(name: str, arch: str = "lstm", hidden: int = 32, steps: int = 1500,
                   seed: int = 0, stride: int = 1, device: str = "auto") -> list[Row]:
    """The comparison on one statsmodels series (see :data:`SPECS`)."""
    series = load_series(name)
    spec = SPECS[name]
    values, test_start = series.values, series.bounds["test"][0]
    history = values[:test_start]
    period = series.period
    methods = {
        "seasonal naive": SeasonalNaive(period),
        "ARIMA": Arima(spec.arima_order, spec.arima_seasonal, spec.arima_trend),
        "ETS": Ets(spec.ets_trend, spec.ets_damped, period if spec.ets_season else None),
    }
    for method in methods.values():
        method.fit(history)
    net = NeuralForecaster(arch, hidden, spec.context, steps, seed=seed, device=device)
    methods[arch.upper()] = net.fit_horizon(history, spec.horizon)
    origins = test_origins(test_start, len(values), spec.horizon, stride)
    scale = mase_scale(history, period)
    return [Row(name, label, *score(m, values, origins, spec.horizon, scale), len(origins))
            for label, m in methods.items()]


def format_table(rows: list[Row]) -> str:
    """A plain-text table, one line per (series, method)."""
    lines = [f"{'series':<10} {'method':<15} {'MAE':>10} {'RMSE':>10} {'MASE':>7} {'origins':>8}"]
    lines += [f"{r.series:<10} {r.method:<15} {r.mae:>10.4g} {r.rmse:>10.4g} {r.mase:>7.3f} "
              f"{r.origins:>8}" for r in rows]
    return "\n".join(lines)
