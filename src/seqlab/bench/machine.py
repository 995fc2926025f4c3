"""The machine's own ceilings, measured in the same run as everything else.

- GEMM peak: a large square (n, n) @ (n, n) product, FLOPs = 2 n^3, in fp32
  (and bf16 on CUDA). Every "fraction of peak" in the report divides by this.
- GEMM at each model's per-step shape: how close a recurrent step (B, H) @ (H, G*H)
  can come to that peak, against the large GEMMs a Transformer or a ConvS2S runs
  (in the dtype the models train in: bf16 on CUDA, fp32 elsewhere).
- Memory bandwidth: a large tensor copy, counting bytes read plus bytes written.
"""

from __future__ import annotations

import os
import platform
import sys

import numpy as np
import torch

from seqlab.bench.measure import time_call
from seqlab.bench.plan import StepShape
from seqlab.bench.table import Section


def describe(device: torch.device) -> dict:
    """Versions, processor and threads: printed above the table, stored in the JSON."""
    info = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
        "device": str(device),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
        info["cudnn"] = torch.backends.cudnn.version()
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or sys.platform


# the instruction sets that decide a CPU's fp32 and bf16 GEMM speed
GEMM_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def cpu_flags() -> list[str]:
    """Which of ``GEMM_FLAGS`` the CPU reports (/proc/cpuinfo; empty where it cannot be read)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((set(line.split(":", 1)[1].split()) for line in f if line.startswith("flags")), set())
    except OSError:
        return []
    return [f for f in GEMM_FLAGS if f in flags]


def cpu_line() -> str:
    """One line for a benchmark's header: the CPU model and its GEMM-relevant flags."""
    return f"cpu {_cpu_model()}; flags: {' '.join(cpu_flags()) or 'unknown'}"


def gemm_flops(m: int, k: int, n: int, dtype: torch.dtype, device: torch.device, warmup: int, repeats: int):
    """FLOP/s of (m, k) @ (k, n) in ``dtype``: 2 m k n FLOPs per product. Returns (flops, Timing)."""
    a = torch.randn(m, k, device=device, dtype=dtype)
    b = torch.randn(k, n, device=device, dtype=dtype)
    out = torch.empty(m, n, device=device, dtype=dtype)
    timing = time_call(lambda: torch.mm(a, b, out=out), device, warmup, repeats)
    return 2.0 * m * k * n / timing.median, timing


def copy_bandwidth(mib: int, device: torch.device, warmup: int, repeats: int):
    """Bytes/s of a copy of ``mib`` MiB (read + write counted). Returns (bytes_per_s, Timing)."""
    src = torch.ones(mib * 2**20 // 4, device=device)
    dst = torch.empty_like(src)
    timing = time_call(lambda: dst.copy_(src), device, warmup, repeats)
    return 2.0 * src.numel() * 4 / timing.median, timing


def peak_dtypes(device: torch.device) -> dict[str, torch.dtype]:
    """fp32 everywhere; bf16 too on CUDA, where autocast runs the models in it."""
    if device.type == "cuda":
        return {"fp32": torch.float32, "bf16": torch.bfloat16}
    return {"fp32": torch.float32}


def run(
    device: torch.device, gemm_n: int, copy_mib: int, step_shapes: tuple[StepShape, ...], warmup: int, repeats: int
) -> tuple[Section, dict[str, float]]:
    """Measure the ceilings. Returns the section and ``{"fp32": FLOP/s, ["bf16": FLOP/s]}``."""
    section = Section("machine", "Machine ceilings", ["what", "dtype", "median_ms", "spread_ms", "rate", "of_peak"])
    peaks: dict[str, float] = {}
    for name, dtype in peak_dtypes(device).items():
        flops, t = gemm_flops(gemm_n, gemm_n, gemm_n, dtype, device, warmup, repeats)
        peaks[name] = flops
        section.rows.append(_row(f"GEMM peak {gemm_n}^3", name, t, flops, 1.0, "GFLOP/s"))
    model_dtype = "bf16" if "bf16" in peaks else "fp32"  # what autocast runs the models in
    for label, m, k, n in step_shapes:
        flops, t = gemm_flops(m, k, n, peak_dtypes(device)[model_dtype], device, warmup, repeats)
        section.rows.append(_row(f"GEMM {label} ({m}x{k}x{n})", model_dtype, t, flops, flops / peaks[model_dtype],
                                 "GFLOP/s"))
    bw, t = copy_bandwidth(copy_mib, device, warmup, repeats)
    section.rows.append(_row(f"copy {copy_mib} MiB", "fp32", t, bw, None, "GB/s"))
    section.notes.append("rate: GFLOP/s for GEMMs (2mkn per product), GB/s for the copy (read + write)")
    return section, peaks


def _row(what: str, dtype: str, timing, rate: float, of_peak: float | None, unit: str) -> dict:
    return {"what": what, "dtype": dtype, **timing.as_dict(), "rate": rate / 1e9, "unit": unit, "of_peak": of_peak}
