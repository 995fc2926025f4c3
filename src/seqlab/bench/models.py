"""Model level: LSTM seq2seq, ConvS2S and Transformer at matched parameter counts.

Each architecture gets the width whose total parameter count is closest to one
target (depths fixed: a 2-layer LSTM encoder and decoder, 4+4 ConvS2S blocks,
3+3 Transformer layers), then runs one teacher-forced training step (forward,
cross-entropy, backward to every weight) on random tokens with S = T, for each T.

Model FLOPs of a step are counted, not estimated: ``FlopCounterMode`` records
every matmul, convolution and attention kernel as it runs (forward and
backward). Fused recurrent kernels (``_VF.lstm`` on CPU, cuDNN on CUDA) are
invisible to it, so for each recurrent layer it saw no FLOPs in, we add the
textbook 6 x (its parameters) x (tokens through it): every weight is used in one
multiply-add per token forward, and twice backward. Model-FLOPs utilization is
those FLOPs per second over the GEMM peak measured in the same run. Step time
grows like T^p; the fitted p per model is in the notes (the chapter's claim: the
recurrent models need T sequential steps, the Transformer O(1) of them).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from seqlab.bench.measure import autocast_for, fit_exponent, time_call
from seqlab.bench.table import Section
from seqlab.nn.conv import ConvS2S
from seqlab.nn.seq2seq import Seq2Seq
from seqlab.nn.transformer import Transformer


def builders(vocab: int, max_len: int) -> dict[str, Callable[[int], nn.Module]]:
    """name -> constructor(width); widths are multiples of 8 (4 heads divide them)."""
    return {
        # torch's LSTM kernels (fused=False): at small batches and long T, the fastest LSTM here (C16)
        "lstm seq2seq": lambda w: Seq2Seq(vocab, vocab, embed_dim=w, hidden=w, num_layers=2, fused=False),
        "convs2s": lambda w: ConvS2S(
            vocab, vocab, embed_dim=w, channels=w, enc_layers=4, dec_layers=4, kernel=3, dropout=0.0,
            max_positions=max_len + 2,
        ),
        "transformer": lambda w: Transformer(
            vocab, vocab, d_model=w, heads=4, d_ff=4 * w, enc_layers=3, dec_layers=3, dropout=0.0
        ),
    }


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def match_width(build: Callable[[int], nn.Module], target: int, widths=range(8, 2049, 8)) -> int:
    """The width whose model has the parameter count closest to ``target``.

    Counts grow with width, so a bisection finds the first width at or above the
    target; models are built on the meta device (no memory, no init cost).
    """

    def count(w: int) -> int:
        with torch.device("meta"):
            return count_params(build(w))

    lo, hi = 0, len(widths) - 1
    while lo < hi:  # first index with count >= target (or the last one)
        mid = (lo + hi) // 2
        lo, hi = (mid + 1, hi) if count(widths[mid]) < target else (lo, mid)
    candidates = [widths[i] for i in (lo - 1, lo) if i >= 0]
    return min(candidates, key=lambda w: abs(count(w) - target))


def model_flops(model: nn.Module, step: Callable[[], object], tokens: int) -> float:
    """FLOPs of one call of ``step``: counted ops plus 6 N tokens for each uncounted recurrent layer."""
    with FlopCounterMode(display=False) as counter:
        step()
    counts = counter.get_flop_counts()
    total = float(counter.get_total_flops())
    root = type(model).__name__
    for name, module in model.named_modules():
        if hasattr(module, "weight_hh_l0") and not sum(counts.get(f"{root}.{name}", {}).values()):
            total += 6.0 * count_params(module) * tokens
    return total


def run(
    device: torch.device,
    vocab: int,
    target_params: int,
    batch: int,
    lengths: tuple[int, ...],
    peak_flops: float,
    warmup: int,
    repeats: int,
) -> Section:
    """One row per (model, T): time, target tokens/s, achieved GFLOP/s and MFU."""
    section = Section(
        "models",
        f"Models: training step, B={batch}, S=T, ~{target_params / 1e6:.2g}M parameters",
        ["model", "params", "T", "median_ms", "spread_ms", "ktok_s", "gflop_s", "mfu"],
    )
    torch.manual_seed(0)
    medians: dict[str, list[float]] = {}
    for name, build in builders(vocab, max(lengths)).items():
        model = build(match_width(build, target_params)).to(device)
        params = [p for p in model.parameters() if p.requires_grad]
        medians[name] = []
        for T in lengths:
            src = torch.randint(1, vocab, (batch, T + 1), device=device)  # (B, T+1)
            step = teacher_forced_step(model, params, src, device)
            flops = model_flops(model, step, batch * T)
            timing = time_call(step, device, warmup, repeats)
            medians[name].append(timing.median)
            rate = flops / timing.median
            section.rows.append(
                {"model": name, "params": count_params(model), "T": T, **timing.as_dict(),
                 "ktok_s": batch * T / timing.median / 1e3, "gflop_s": rate / 1e9, "mfu": rate / peak_flops,
                 "model_flops": flops}
            )
    exps = ", ".join(f"{n} {fit_exponent(list(lengths), ts):.2f}" for n, ts in medians.items())
    section.notes.append(f"step time ~ T^p, fitted p: {exps}")
    section.notes.append("ktok_s: target tokens per second (as many source tokens again); mfu: model FLOP/s / peak")
    return section


def teacher_forced_step(model: nn.Module, params: list, tokens: torch.Tensor, device: torch.device) -> Callable:
    """Teacher forcing on random tokens: source = tokens[:, 1:], target in/out shifted by one."""
    src, tgt_in, tgt_out = tokens[:, 1:], tokens[:, :-1], tokens[:, 1:]  # (B, T) each
    src_mask = torch.ones_like(src, dtype=torch.bool)

    def step():
        with autocast_for(device):
            logits, _ = model(src, src_mask, tgt_in)  # (B, T, V)
        loss = F.cross_entropy(logits.float().flatten(0, 1), tgt_out.flatten())
        return torch.autograd.grad(loss, params)

    return step
