"""Recurrent layers: training tokens/s of RNN, LSTM and GRU per backend over a (B, H, T) grid.

The measuring itself is ``benchmarks/bench_recurrent.py``'s ``run`` (seqlab's
``cell`` backend, ``cell+compile``, ``fused`` and torch's own module, one layer,
forward + backward to every weight); this section calls it at each grid point
and adds the utilization: FLOPs per token of one layer are 2 G H (D + H)
forward with D = H (G = 1 RNN, 3 GRU, 4 LSTM gate blocks), times 3 for forward
plus backward; achieved FLOP/s is divided by the fp32 GEMM peak. With ``bf16``
(the GPU plan) the steps run under bf16 autocast on CUDA, where torch casts cuDNN's
RNNs to fp16 (the note names the dtype, probed), and the peak given is the bf16 one
(the same tensor-core rate as fp16); nothing changes on a CPU.
The script lives in the source tree, not in the installed package: outside a
checkout the section says so instead of measuring.
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path
from types import ModuleType

import torch

from seqlab.bench.measure import autocast_for
from seqlab.bench.table import Section

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "bench_recurrent.py"


def load_script(path: Path = SCRIPT) -> ModuleType:
    """Import a script of ``benchmarks/`` by path (default bench_recurrent.py; benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"seqlab_benchmarks_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(
    device: torch.device,
    batches: tuple[int, ...],
    hidden_sizes: tuple[int, ...],
    lengths: tuple[int, ...],
    compiled: bool,
    peak_flops: float,
    warmup: int,
    repeats: int,
    archs: tuple[str, ...] = tuple(GATES),
    variants: tuple[str, ...] = ("cell", "fused", "torch"),
    bf16: bool = False,
) -> Section:
    """One row per (arch, variant, B, H, T): time, tokens/s, GFLOP/s, fraction of peak, ratios.

    ``compiled`` adds the ``cell+compile`` variant after ``cell``; ``bf16`` runs every step
    under bf16 autocast on CUDA (``peak_flops`` should then be the bf16 peak)."""
    section = Section(
        "recurrent",
        "Recurrent layers: training step (fwd+bwd), one layer, input size = H",
        ["arch", "variant", "B", "H", "T", "median_ms", "spread_ms", "ktok_s", "gflop_s", "of_peak",
         "vs_torch", "vs_fused"],
    )
    if not SCRIPT.is_file():
        section.notes.append(f"skipped: {SCRIPT} not found (run seqlab bench from a source checkout)")
        return section
    script = load_script()
    if compiled and "cell" in variants:
        i = variants.index("cell") + 1
        variants = (*variants[:i], "cell+compile", *variants[i:])
    precision = autocast_for(device) if bf16 else contextlib.nullcontext()
    with precision:
        for B in batches:
            for H in hidden_sizes:
                for T in lengths:
                    rows = script.run(batch=B, steps=T, hidden=H, archs=archs, variants=variants, device=str(device),
                                      warmup=warmup, repeats=repeats)
                    section.rows.extend(_with_utilization(row, peak_flops) for row in rows)
    dtype = run_dtype(device) if bf16 else "fp32"
    section.notes.append(f"measured by {SCRIPT.name}.run in {dtype}; of_peak: achieved FLOP/s / "
                         f"{'bf16' if bf16 and device.type == 'cuda' else 'fp32'} GEMM peak")
    section.notes.append("vs_torch / vs_fused: tokens/s relative to torch's module / seqlab's fused backend")
    return section


def run_dtype(device: torch.device) -> str:
    """The dtype torch's LSTM computes in under ``autocast_for(device)`` (probed: bf16 on CUDA)."""
    layer = torch.nn.LSTM(8, 8, batch_first=True).to(device)
    with autocast_for(device):
        out, _ = layer(torch.zeros(1, 2, 8, device=device))  # (1, 2, 8)
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(out.dtype, "fp32")


def _with_utilization(row: dict, peak_flops: float) -> dict:
    """Add screen fields (ms, spread, ktok/s) and FLOP/s from the script's row."""
    B, T, H = row["B"], row["T"], row["H"]
    flops = 3 * 2 * GATES[row["arch"]] * H * (H + H) * B * T
    rate = flops / row["median_s"]
    return {
        **row,
        "median_ms": row["median_s"] * 1e3,
        "spread_ms": f"{row['min_s'] * 1e3:.3g}-{row['max_s'] * 1e3:.3g}",
        "ktok_s": row["tokens_per_s"] / 1e3,
        "gflop_s": rate / 1e9,
        "of_peak": rate / peak_flops,
    }
