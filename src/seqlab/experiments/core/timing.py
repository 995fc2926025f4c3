"""Timing variants against each other: interleaved rounds in one process.

A verdict that rests on speed compares variants measured side by side: each round
calls every variant once, in an order that rotates from round to round, so machine
drift (other processes, frequency changes, a warm cache) falls on all of them alike.
The rounds' seconds go to :func:`seqlab.experiments.core.rules.clearly_faster`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from seqlab.bench.measure import synchronize


def interleaved(fns: dict[str, Callable[[], object]], device: torch.device, rounds: int,
                warmup: int = 1) -> dict[str, list[float]]:
    """Seconds per call of each function: ``warmup`` untimed rounds, then ``rounds`` timed ones."""
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order
            start = time.perf_counter()
            fns[name]()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def median_ms(seconds: list[float]) -> float:
    return 1e3 * statistics.median(seconds)


def range_ms(seconds: list[float]) -> str:
    return f"{1e3 * min(seconds):.3g}-{1e3 * max(seconds):.3g}"
