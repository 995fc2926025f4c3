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
                warmup: int = 1, clock: str = "wall") -> dict[str, list[float]]:
    """Seconds per call of each function: ``warmup`` untimed rounds, then ``rounds`` timed ones.

    ``clock="cpu"`` reads this process's CPU time instead of the wall clock, on a CPU device
    only: for a claim about *work* at one thread it leaves out the time other processes held
    the core (a call preempted mid-way by a busy neighbour), which the minimum over rounds
    cannot always remove when every round is preempted.
    """
    if clock not in ("wall", "cpu"):
        raise ValueError(f"clock must be 'wall' or 'cpu', got {clock!r}")
    now = time.process_time if clock == "cpu" and device.type == "cpu" else time.perf_counter
    names = list(fns)
    for _ in range(warmup):
        for name in names:
            fns[name]()
    synchronize(device)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[: r % len(names)]:  # rotate the order
            start = now()
            fns[name]()
            synchronize(device)
            times[name].append(now() - start)
    return times


def median_ms(seconds: list[float]) -> float:
    return 1e3 * statistics.median(seconds)


def range_ms(seconds: list[float]) -> str:
    return f"{1e3 * min(seconds):.3g}-{1e3 * max(seconds):.3g}"
