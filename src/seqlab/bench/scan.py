"""Parallel recurrences: minGRU / minLSTM as a log-space scan vs step by step vs nn.GRU.

One training step (forward + backward to every weight) on random inputs of
shape (B, T, H), for each T. "scan" is the log-space scan (the paper's parallel
mode), "chunked" the linear-space chunked scan (``chunk_size=64``); the "step"
rows run the same minGRU/minLSTM through ``forward_sequential`` (T dependent
steps after one input GEMM, as a GRU must); ``nn.GRU`` is torch's fused GRU of
the same width. Time grows like T^p; the fitted p is in the notes, with the
parallel modes' speed-ups at the longest T. ``step_max`` limits the step-by-step
modes to T <= step_max (on a GPU they are launch-bound: about 0.4 ms per step of
fwd+bwd, 1.7 s at T = 4096), so the speed-ups are quoted at the longest T both ran.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from seqlab.bench.measure import autocast_for, fit_exponent, peak_memory, time_call
from seqlab.bench.table import Section
from seqlab.nn.scan import MinGRU, MinLSTM

CHUNK = 64  # chunk length of the chunked scan


def _variants(hidden: int) -> dict[str, tuple[nn.Module, Callable]]:
    """name -> (module, function(module, x) -> outputs (B, T, H)). "<model> step" is each
    model's recurrent mode, the reference of its parallel modes."""
    gru, lstm = MinGRU(hidden, hidden), MinLSTM(hidden, hidden)
    gru_chunked, lstm_chunked = MinGRU(hidden, hidden, chunk_size=CHUNK), MinLSTM(hidden, hidden, chunk_size=CHUNK)
    return {
        "minGRU scan": (gru, lambda m, x: m(x)[0]),
        "minGRU chunked": (gru_chunked, lambda m, x: m(x)[0]),
        "minGRU step": (gru, lambda m, x: m.forward_sequential(x)[0]),
        "minLSTM scan": (lstm, lambda m, x: m(x)[0]),
        "minLSTM chunked": (lstm_chunked, lambda m, x: m(x)[0]),
        "minLSTM step": (lstm, lambda m, x: m.forward_sequential(x)[0]),
        "nn.GRU": (nn.GRU(hidden, hidden, batch_first=True), lambda m, x: m(x)[0]),
    }


def train_step_fn(module: nn.Module, forward: Callable, x: torch.Tensor, device: torch.device) -> Callable:
    """A closure running forward + backward to all weights (gradients returned, not stored)."""
    params = [p for p in module.parameters() if p.requires_grad]

    def step():
        with autocast_for(device):
            out = forward(module, x)  # (B, T, H)
        return torch.autograd.grad(out.float().square().mean(), params)

    return step


def run(
    device: torch.device, lengths: tuple[int, ...], shapes: tuple[tuple[int, int], ...], warmup: int, repeats: int,
    step_max: int | None = None,
) -> Section:
    """Time and peak memory of one training step per (B, H) shape, variant and length
    (the step-by-step variants only up to ``step_max``, None: at every length)."""
    section = Section(
        "scan",
        "Parallel recurrences: one training step (fwd+bwd), input size = H",
        ["model", "B", "H", "T", "median_ms", "spread_ms", "ktok_s", "peak_bytes", "vs_step", "vs_nn_gru"],
    )
    for batch, hidden in shapes:
        torch.manual_seed(0)
        variants = {name: (m.to(device), f) for name, (m, f) in _variants(hidden).items()}
        rows = []
        for T in lengths:
            x = torch.randn(batch, T, hidden, device=device)  # (B, T, H)
            for name, (module, forward) in variants.items():
                if name.endswith(" step") and step_max is not None and T > step_max:
                    continue
                fn = train_step_fn(module, forward, x, device)
                timing = time_call(fn, device, warmup, repeats)
                row = {"model": name, "B": batch, "H": hidden, "T": T, **timing.as_dict()}
                row["ktok_s"] = batch * T / timing.median / 1e3
                row["peak_bytes"] = peak_memory(fn, device)
                rows.append(row)
        medians = {(r["model"], r["T"]): r["median_s"] for r in rows}
        for row in rows:
            name, T, t = row["model"], row["T"], row["median_s"]
            model, mode = name.split(" ") if " " in name else (name, "")
            step = medians.get((f"{model} step", T))
            row["vs_step"] = step / t if mode in ("scan", "chunked") and step is not None else None
            row["vs_nn_gru"] = medians["nn.GRU", T] / t
        section.rows.extend(rows)
        section.notes.extend(_notes(medians, lengths, f"B={batch} H={hidden}"))
    if step_max is not None and lengths[-1] > step_max:
        section.notes.append(f"step-by-step modes timed up to T={step_max} only (they take seconds beyond)")
    section.notes.append("vs_step: the same model run step by step / this; vs_nn_gru: nn.GRU / this (time ratios)")
    section.notes.append("peak: tensor bytes alive during one fwd+bwd (see seqlab.bench.measure)")
    return section


def _notes(medians: dict[tuple[str, int], float], lengths: tuple[int, ...], shape: str) -> list[str]:
    """The fitted exponent per variant (over the lengths it ran) and the minGRU scan's speed-ups
    over its step mode at the longest T the step mode ran, and over nn.GRU at the longest T."""
    names = dict.fromkeys(name for name, _ in medians)
    ran = {n: [T for T in lengths if (n, T) in medians] for n in names}
    exps = {n: fit_exponent(ran[n], [medians[n, T] for T in ran[n]]) for n in names}
    notes = [f"{shape}: time ~ T^p, fitted p: " + ", ".join(f"{n} {p:.2f}" for n, p in exps.items())]
    step_at, longest = ran["minGRU step"][-1], lengths[-1]
    for mode in ("scan", "chunked"):
        name = f"minGRU {mode}"
        vs_step = medians["minGRU step", step_at] / medians[name, step_at]
        vs_gru = medians["nn.GRU", longest] / medians[name, longest]
        if step_at == longest:
            notes.append(f"{shape}, T={longest}: minGRU {mode} is {vs_step:.1f}x its step mode, {vs_gru:.1f}x nn.GRU")
        else:
            notes.append(f"{shape}: minGRU {mode} is {vs_step:.1f}x its step mode at T={step_at}, "
                         f"{vs_gru:.1f}x nn.GRU at T={longest}")
    return notes
