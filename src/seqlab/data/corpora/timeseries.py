"""Univariate time series shipped with statsmodels, cut chronologically.

| name      | series                                   | step      | period |
|-----------|------------------------------------------|-----------|--------|
| co2       | Mauna Loa CO2 (ppm), weekly -> monthly mean, gaps interpolated | month | 12 |
| sunspots  | yearly sunspot activity 1700-2008        | year      | 11     |
| nile      | Nile flow at Aswan 1871-1970             | year      | 1      |
| elnino    | Nino sea surface temperature 1950-2010   | month     | 12     |
| macrodata | US real GDP 1959-2009                    | quarter   | 4      |

Split (no official one exists for these): the last 20% of the steps are test, the 10%
before them dev, the rest train; a forecaster sees only the past of what it predicts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from seqlab.data.corpora.base import SeriesCorpus, Source, require_module

INSTALL = "pip install statsmodels"
DEV_FRACTION = 0.1
TEST_FRACTION = 0.2
SPLIT_RULE = "chronological: last 20% test, the 10% before it dev, the rest train"


def chronological_bounds(n: int) -> dict[str, tuple[int, int]]:
    """[start, stop) of train, dev, test: the last 20% test, the 10% before dev."""
    test = max(1, round(n * TEST_FRACTION))
    dev = max(1, round(n * DEV_FRACTION))
    return {"train": (0, n - test - dev), "dev": (n - test - dev, n - test), "test": (n - test, n)}


def _dataset(name: str):
    sm_datasets = require_module("statsmodels.datasets", INSTALL)
    return getattr(sm_datasets, name).load_pandas().data


def _co2() -> tuple[np.ndarray, list[str]]:
    series = _dataset("co2")["co2"].resample("MS").mean().interpolate()
    return series.to_numpy(), [t.strftime("%Y-%m") for t in series.index]


def _sunspots() -> tuple[np.ndarray, list[str]]:
    df = _dataset("sunspots")
    return df["SUNACTIVITY"].to_numpy(), [str(int(y)) for y in df["YEAR"]]


def _nile() -> tuple[np.ndarray, list[str]]:
    df = _dataset("nile")
    return df["volume"].to_numpy(), [str(int(y)) for y in df["year"]]


def _elnino() -> tuple[np.ndarray, list[str]]:
    df = _dataset("elnino")
    months = [c for c in df.columns if c != "YEAR"]  # JAN..DEC
    values = df[months].to_numpy().reshape(-1)  # (years * 12,) row-major: year, then month
    times = [f"{int(y)}-{m + 1:02d}" for y in df["YEAR"] for m in range(12)]
    return values, times


def _macrodata() -> tuple[np.ndarray, list[str]]:
    df = _dataset("macrodata")
    return df["realgdp"].to_numpy(), [f"{int(y)}Q{int(q)}" for y, q in
                                      zip(df["year"], df["quarter"])]


# name -> (reader, seasonal period, step, description)
SERIES: dict[str, tuple[Callable[[], tuple[np.ndarray, list[str]]], int, str, str]] = {
    "co2": (_co2, 12, "month", "Mauna Loa atmospheric CO2 (ppm), monthly means of weekly data"),
    "sunspots": (_sunspots, 11, "year", "yearly sunspot activity, 1700-2008"),
    "nile": (_nile, 1, "year", "yearly flow of the Nile at Aswan, 1871-1970"),
    "elnino": (_elnino, 12, "month", "El Nino sea surface temperature (C), 1950-2010"),
    "macrodata": (_macrodata, 4, "quarter", "US real GDP (billions of 2005 dollars)"),
}


def load_series(name: str) -> SeriesCorpus:
    """One of :data:`SERIES` as float64 values with a chronological split."""
    reader, period, step, description = SERIES[name]
    values, times = reader()
    values = np.asarray(values, dtype=np.float64)
    source = Source(
        package="statsmodels (PyPI), statsmodels.datasets",
        origin=description,
        license="see the statsmodels.datasets documentation (public/government data)",
        attribution=f"statsmodels.datasets.{name}",
        split_rule=SPLIT_RULE,
    )
    return SeriesCorpus(name, source, values, tuple(times), chronological_bounds(len(values)),
                        period, step)
