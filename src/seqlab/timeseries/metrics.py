"""Point-forecast errors: MAE, RMSE and MASE.

MASE (Hyndman & Koehler 2006) divides the forecast MAE by the in-sample MAE of the
seasonal-naive forecast on the history, mean |y_t - y_{t-m}|, so MASE < 1 beats
"same as one season ago" and the number compares across series of any scale.
"""

from __future__ import annotations

import numpy as np

from seqlab.errors import SeqlabError


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """mean |y - y_hat|"""
    return float(np.mean(np.abs(np.asarray(actual) - np.asarray(forecast))))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """sqrt(mean (y - y_hat)^2)"""
    return float(np.sqrt(np.mean((np.asarray(actual) - np.asarray(forecast)) ** 2)))


def mase_scale(history: np.ndarray, period: int) -> float:
    """mean_{t > m} |y_t - y_{t-m}| over the history: the seasonal-naive in-sample MAE."""
    history = np.asarray(history, dtype=np.float64)
    if len(history) <= period:
        raise SeqlabError(f"MASE needs more than {period} history steps, got {len(history)}")
    scale = float(np.mean(np.abs(history[period:] - history[:-period])))
    if scale == 0.0:
        raise SeqlabError("MASE is undefined: the history is constant at lag "
                          f"{period}")
    return scale


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """MAE / scale, with ``scale`` from :func:`mase_scale` on the training history."""
    return mae(actual, forecast) / scale
