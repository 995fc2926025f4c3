"""How every benchmark measures: warm-up, median of repeats, peak memory, scaling fits.

Timing: ``time_call`` runs the function ``warmup`` times untimed (allocator,
caches, lazy init, compilation), then ``repeats`` timed runs; on CUDA it
synchronizes around each run so the clock sees the kernels, not their launch.
The median is reported with the min-max spread.

Peak memory (``peak_memory``) is measured in a separate, untimed run:
- CUDA: ``torch.cuda.max_memory_allocated`` minus the allocation before the call,
  i.e. the caching allocator's high-water mark of live tensor bytes.
- CPU: torch has no allocator statistics on CPU, so ``_LiveTensorBytes`` counts
  the storages created by every ATen op during the call (a dispatch mode) and
  frees them when their storage dies. The peak is the most tensor bytes the
  call held alive at once: activations saved for backward, gradients and
  temporaries. Tensors that existed before the call (weights, inputs) are not
  counted, nor is allocator slack or non-tensor memory (process RSS is not used:
  it never shrinks and mixes in Python and library state).
"""

from __future__ import annotations

import math
import statistics
import time
import weakref
from dataclasses import dataclass
from typing import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median of ``repeats`` runs with their min and max."""

    median: float
    low: float
    high: float
    repeats: int

    def as_dict(self) -> dict:
        """Row fields: ``median_ms`` and ``spread_ms`` for the screen, seconds for the JSON."""
        return {
            "median_ms": self.median * 1e3,
            "spread_ms": f"{self.low * 1e3:.3g}-{self.high * 1e3:.3g}",
            "median_s": self.median,
            "min_s": self.low,
            "max_s": self.high,
            "repeats": self.repeats,
        }


def synchronize(device: torch.device) -> None:
    """Wait for queued kernels on accelerators; no-op on CPU."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, warmup: int, repeats: int) -> Timing:
    """Warm up, then time ``repeats`` calls of ``fn`` (seconds, wall clock)."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return Timing(statistics.median(times), min(times), max(times), repeats)


class _LiveTensorBytes(TorchDispatchMode):
    """Dispatch mode tracking the bytes of tensor storages created inside it (CPU peak memory)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _release(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor) or t.device.type != "cpu":
                continue
            storage = t.untyped_storage()
            key, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or key in self._seen:  # views and in-place results share a storage
                continue
            self._seen.add(key)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._release, key, nbytes)
        return out


def peak_memory(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes of tensors allocated and alive during one call of ``fn`` (see module doc)."""
    if device.type == "cuda":
        synchronize(device)
        base = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        fn()
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    with _LiveTensorBytes() as tracker:
        fn()
    return int(tracker.peak)


def fit_exponent(sizes: list[float], seconds: list[float]) -> float:
    """Slope p of log(time) = p * log(size) + c by least squares: time grows like size^p."""
    if len(sizes) < 2:
        return float("nan")
    xs = [math.log(s) for s in sizes]
    ys = [math.log(max(t, 1e-12)) for t in seconds]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var


def autocast_for(device: torch.device):
    """bf16 autocast on CUDA (the fast path), a disabled context elsewhere (fp32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
