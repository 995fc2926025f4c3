"""Parallel recurrences: minGRU / minLSTM as a log-space scan vs step by step vs nn.GRU.

One training step (forward + backward to every weight) on random inputs of
shape (B, T, H), for each T. The step-by-step rows run the same minGRU/minLSTM
parameters through ``forward_sequential`` (T dependent steps, as a GRU must);
``nn.GRU`` is torch's fused GRU of the same width. Time grows like T^p; the
fitted p is in the notes, with the scan's speed-up at the longest T.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from seqlab.bench.measure import autocast_for, fit_exponent, peak_memory, time_call
from seqlab.bench.table import Section
from seqlab.nn.scan import MinGRU, MinLSTM


def _variants(hidden: int) -> dict[str, tuple[nn.Module, Callable]]:
    """name -> (module, function(module, x) -> outputs (B, T, H))."""
    gru, lstm = MinGRU(hidden, hidden), MinLSTM(hidden, hidden)
    return {
        "minGRU scan": (gru, lambda m, x: m(x)[0]),
        "minGRU step": (gru, lambda m, x: m.forward_sequential(x)[0]),
        "minLSTM scan": (lstm, lambda m, x: m(x)[0]),
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
    device: torch.device, lengths: tuple[int, ...], batch: int, hidden: int, warmup: int, repeats: int
) -> Section:
    """Time and peak memory of one training step per variant and length."""
    section = Section(
        "scan",
        f"Parallel recurrences: fwd+bwd, B={batch} H={hidden}",
        ["model", "T", "median_ms", "spread_ms", "ktok_s", "peak_bytes", "vs_step", "vs_nn_gru"],
    )
    torch.manual_seed(0)
    variants = {name: (m.to(device), f) for name, (m, f) in _variants(hidden).items()}
    medians: dict[tuple[str, int], float] = {}
    for T in lengths:
        x = torch.randn(batch, T, hidden, device=device)  # (B, T, H)
        for name, (module, forward) in variants.items():
            fn = train_step_fn(module, forward, x, device)
            timing = time_call(fn, device, warmup, repeats)
            medians[name, T] = timing.median
            row = {"model": name, "T": T, **timing.as_dict(), "ktok_s": batch * T / timing.median / 1e3}
            row["peak_bytes"] = peak_memory(fn, device)
            section.rows.append(row)
    _add_ratios(section, medians)
    _add_notes(section, medians, lengths)
    return section


def _add_ratios(section: Section, medians: dict[tuple[str, int], float]) -> None:
    """vs_step: the same model's step-by-step time / this time; vs_nn_gru: nn.GRU's time / this time."""
    for row in section.rows:
        name, T, t = row["model"], row["T"], row["median_s"]
        step_name = name.replace("scan", "step")
        row["vs_step"] = medians[step_name, T] / t if name.endswith("scan") else None
        row["vs_nn_gru"] = medians["nn.GRU", T] / t


def _add_notes(section: Section, medians: dict[tuple[str, int], float], lengths: tuple[int, ...]) -> None:
    names = dict.fromkeys(name for name, _ in medians)
    exps = {n: fit_exponent(list(lengths), [medians[n, T] for T in lengths]) for n in names}
    section.notes.append("time ~ T^p, fitted p: " + ", ".join(f"{n} {p:.2f}" for n, p in exps.items()))
    longest = lengths[-1]
    ratio = medians["minGRU step", longest] / medians["minGRU scan", longest]
    vs_gru = medians["nn.GRU", longest] / medians["minGRU scan", longest]
    section.notes.append(f"T={longest}: minGRU scan is {ratio:.1f}x its step mode and {vs_gru:.1f}x nn.GRU")
    section.notes.append("peak: tensor bytes alive during one fwd+bwd (see seqlab.bench.measure)")
