"""Recurrent layers: training tokens/s of RNN, LSTM and GRU per backend over a (B, H, T) grid.

The measuring itself is ``benchmarks/bench_recurrent.py``'s ``run`` (seqlab's
``cell`` backend, ``cell+compile``, ``fused`` and torch's own module, one layer,
forward + backward to every weight); this section calls it at each grid point
and adds the utilization: FLOPs per token of one layer are 2 G H (D + H)
forward with D = H (G = 1 RNN, 3 GRU, 4 LSTM gate blocks), times 3 for forward
plus backward; achieved FLOP/s is divided by the fp32 GEMM peak.
The script lives in the source tree, not in the installed package: outside a
checkout the section says so instead of measuring.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import torch

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
) -> Section:
    """One row per (arch, variant, B, H, T): time, tokens/s, GFLOP/s, fraction of peak, ratios."""
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
    variants = ("cell", "cell+compile", "fused", "torch") if compiled else ("cell", "fused", "torch")
    for B in batches:
        for H in hidden_sizes:
            for T in lengths:
                rows = script.run(
                    batch=B, steps=T, hidden=H, variants=variants, device=str(device), warmup=warmup, repeats=repeats
                )
                section.rows.extend(_with_utilization(row, peak_flops) for row in rows)
    section.notes.append(f"measured by {SCRIPT.name}.run; of_peak: achieved FLOP/s / fp32 GEMM peak")
    section.notes.append("vs_torch / vs_fused: tokens/s relative to torch's module / seqlab's fused backend")
    return section


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
