"""Classical forecasters: seasonal naive, ARIMA and exponential smoothing (ETS).

Every forecaster here has ``fit(history)`` (estimate on everything before the test
period) and ``forecast(history, horizon) -> (horizon,)`` (predict the next steps
after ``history``, which may be longer than the fitted one as the origin rolls
forward). ARIMA keeps its fitted parameters and only re-runs its filter on the longer
history; ETS is re-estimated at each origin (it is cheap and has no filter-only mode).
"""

from __future__ import annotations

import warnings

import numpy as np

from seqlab.data.corpora.base import require_module

INSTALL = "pip install statsmodels"


class SeasonalNaive:
    """y_hat_{T+h} = y_{T+h-m k}, k = ceil(h / m): the last observed season, repeated."""

    def __init__(self, period: int) -> None:
        self.period = period

    def fit(self, history: np.ndarray) -> "SeasonalNaive":
        return self

    def forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        m = self.period
        last_season = np.asarray(history, dtype=np.float64)[-m:]  # (m,)
        return np.array([last_season[h % m] for h in range(horizon)])


class Arima:
    """(Seasonal) ARIMA(p, d, q)(P, D, Q, m) through statsmodels' SARIMAX.

    Args:
        order: (p, d, q).
        seasonal_order: (P, D, Q, m), or (0, 0, 0, 0) for none.
        trend: "n" none, "c" constant, "t" linear in time (statsmodels' codes).
    """

    def __init__(self, order: tuple[int, int, int],
                 seasonal_order: tuple[int, int, int, int] = (0, 0, 0, 0),
                 trend: str = "n") -> None:
        self.order, self.seasonal_order, self.trend = order, seasonal_order, trend
        self.result = None

    def fit(self, history: np.ndarray) -> "Arima":
        sarimax = require_module("statsmodels.tsa.statespace.sarimax", INSTALL).SARIMAX
        model = sarimax(np.asarray(history, dtype=np.float64), order=self.order,
                        seasonal_order=self.seasonal_order, trend=self.trend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence chatter; the errors say enough
            self.result = model.fit(disp=False)
        return self

    def forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        if self.result is None:
            raise RuntimeError("call fit() before forecast()")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rolled = self.result.apply(np.asarray(history, dtype=np.float64))  # same params
            return np.asarray(rolled.forecast(horizon), dtype=np.float64)


class Ets:
    """Holt-Winters exponential smoothing: additive error, optional (damped) additive
    trend, optional additive season of ``period`` steps."""

    def __init__(self, trend: bool, damped: bool, seasonal_period: int | None) -> None:
        self.trend, self.damped, self.seasonal_period = trend, damped, seasonal_period

    def fit(self, history: np.ndarray) -> "Ets":
        return self

    def forecast(self, history: np.ndarray, horizon: int) -> np.ndarray:
        hw = require_module("statsmodels.tsa.holtwinters", INSTALL)
        model = hw.ExponentialSmoothing(
            np.asarray(history, dtype=np.float64),
            trend="add" if self.trend else None, damped_trend=self.trend and self.damped,
            seasonal="add" if self.seasonal_period else None,
            seasonal_periods=self.seasonal_period, initialization_method="estimated")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.asarray(model.fit().forecast(horizon), dtype=np.float64)
