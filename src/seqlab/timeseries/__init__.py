"""Forecasting on real series: classical baselines, a recurrent forecaster, one table."""

from seqlab.timeseries.baselines import Arima, Ets, SeasonalNaive
from seqlab.timeseries.compare import SPECS, Row, forecast_table, format_table
from seqlab.timeseries.metrics import mae, mase, mase_scale, rmse
from seqlab.timeseries.neural import Forecaster, NeuralForecaster, WindowTask

__all__ = ["Arima", "Ets", "Forecaster", "NeuralForecaster", "Row", "SPECS", "SeasonalNaive",
           "WindowTask", "format_table", "forecast_table", "mae", "mase", "mase_scale", "rmse"]
