"""Parallel recurrences: minGRU / minLSTM as a log-space scan vs step by step vs nn.GRU.

One training step (forward + backward to every weight) on random inputs of
shape (B, T, H), for each T. "scan" is the log-space scan (the paper's parallel
mode), "chunked" the linear-space chunked scan (``chunk_size=64``); the "step"
rows run the same minGRU/minLSTM through ``forward_sequential`` (T dependent
steps after one input GEMM, as a GRU must); ``nn.GRU`` is torch's fused GRU of
the same width. Time grows like T^p; the fitted p is in the notes, with the
parallel modes' speed-ups at the longest T.
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
    device: torch.device, lengths: tuple[int, ...], shapes: tuple[tuple[int, int], ...], warmup: int, repeats: int
) -> Section:
    """Time and peak memory of one training step per (B, H) shape, variant and length."""
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
            row["vs_step"] = medians[f"{model} step", T] / t if mode in ("scan", "chunked") else None
            row["vs_nn_gru"] = medians["nn.GRU", T] / t
        section.rows.extend(rows)
        section.notes.extend(_notes(medians, lengths, f"B={batch} H={hidden}"))
    section.notes.append("vs_step: the same model run step by step / this; vs_nn_gru: nn.GRU / this (time ratios)")
    section.notes.append("peak: tensor bytes alive during one fwd+bwd (see seqlab.bench.measure)")
    return section


def _notes(medians: dict[tuple[str, int], float], lengths: tuple[int, ...], shape: str) -> list[str]:
    """The fitted exponent per variant and the minGRU scan's speed-ups at the longest T."""
    names = dict.fromkeys(name for name, _ in medians)
    exps = {n: fit_exponent(list(lengths), [medians[n, T] for T in lengths]) for n in names}
    longest = lengths[-1]
    step, gru = medians["minGRU step", longest], medians["nn.GRU", longest]
    notes = [f"{shape}: time ~ T^p, fitted p: " + ", ".join(f"{n} {p:.2f}" for n, p in exps.items())]
    for mode in ("scan", "chunked"):
        t = medians[f"minGRU {mode}", longest]
        notes.append(f"{shape}, T={longest}: minGRU {mode} is {step / t:.1f}x its step mode, {gru / t:.1f}x nn.GRU")
    return notes
