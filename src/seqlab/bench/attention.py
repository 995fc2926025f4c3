"""Attention: naive softmax(Q K^T / sqrt(d)) V against torch's scaled_dot_product_attention.

The naive version materializes the (B, h, T, T) score and weight matrices, so
its memory grows like T^2; SDPA picks a fused kernel (flash / memory-efficient
on CUDA, a blocked kernel on CPU) that never holds them whole. Both run one
forward + backward to Q, K, V; FLOPs counted as 4 B h T^2 d forward (two
products) and twice that backward. On CUDA SDPA picks among flash, memory-efficient
and cuDNN as torch ranks them for the device. A variant that runs out of GPU memory
(naive attention at T = 16k holds tens of GB of weights) gets a row saying so.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

from seqlab.bench.measure import autocast_for, fit_exponent, peak_memory, time_call
from seqlab.bench.table import Section, format_value


def naive_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d)) V with the weights materialized. q, k, v (B, h, T, d)."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, h, T, T)
    return scores.softmax(dim=-1) @ v  # (B, h, T, d)


VARIANTS: dict[str, Callable] = {"naive": naive_attention, "sdpa": F.scaled_dot_product_attention}


def run(
    device: torch.device,
    lengths: tuple[int, ...],
    batch: int,
    heads: int,
    head_dim: int,
    peak_flops: float,
    warmup: int,
    repeats: int,
) -> Section:
    """Time, achieved FLOP/s (and its fraction of ``peak_flops``) and peak memory per length."""
    section = Section(
        "attention",
        f"Attention fwd+bwd: B={batch} heads={heads} d={head_dim}",
        ["impl", "T", "median_ms", "spread_ms", "gflop_s", "of_peak", "peak_bytes", "sdpa_speedup"],
    )
    gen = torch.Generator(device=device).manual_seed(0)
    medians: dict[tuple[str, int], float] = {}
    for T in lengths:
        q, k, v = (
            torch.randn(batch, heads, T, head_dim, device=device, generator=gen).requires_grad_() for _ in range(3)
        )
        flops = 3 * 4 * batch * heads * T * T * head_dim
        for name, attend in VARIANTS.items():
            fn = attention_step(attend, q, k, v, device)
            try:
                timing = time_call(fn, device, warmup, repeats)
                peak = peak_memory(fn, device)
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                section.rows.append({"impl": f"{name} (out of GPU memory)", "T": T})
                continue
            medians[name, T] = timing.median
            rate = flops / timing.median
            row = {"impl": name, "T": T, **timing.as_dict(), "gflop_s": rate / 1e9, "of_peak": rate / peak_flops}
            row["peak_bytes"] = peak
            section.rows.append(row)
    for row in section.rows:
        both = ("naive", row["T"]) in medians and ("sdpa", row["T"]) in medians
        row["sdpa_speedup"] = medians["naive", row["T"]] / medians["sdpa", row["T"]] \
            if row["impl"] == "sdpa" and both else None
    ran = {n: [T for T in lengths if (n, T) in medians] for n in VARIANTS}
    exps = {n: fit_exponent(ran[n], [medians[n, T] for T in ran[n]]) for n in VARIANTS}
    section.notes.append("time ~ T^p, fitted p: " + ", ".join(f"{n} {p:.2f}" for n, p in exps.items()))
    peaks = {r["impl"]: r["peak_bytes"] for r in section.rows if r["T"] == lengths[-1] and "peak_bytes" in r}
    if set(peaks) == set(VARIANTS):
        section.notes.append(
            f"T={lengths[-1]}: peak memory naive {format_value('peak_bytes', peaks['naive'])}, "
            f"sdpa {format_value('peak_bytes', peaks['sdpa'])} "
            f"({peaks['naive'] / max(peaks['sdpa'], 1):.1f}x less with sdpa)"
        )
    section.notes.append("of_peak: achieved FLOP/s over the GEMM peak of the machine section (same dtype)")
    return section


def attention_step(attend: Callable, q, k, v, device: torch.device) -> Callable:
    def step():
        with autocast_for(device):
            out = attend(q, k, v)  # (B, h, T, d)
        return torch.autograd.grad(out.float().square().mean(), (q, k, v))

    return step
