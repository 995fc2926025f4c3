"""Training throughput of seqlab's recurrent layers against torch's own modules.

For RNN (tanh), LSTM and GRU, one training step is forward + backward to every
weight of a one-layer, batch-first layer on a (B, T, H) input (input size = H).
Variants, all on the same sizes and the same machine, in one process:

    cell          seqlab, backend="cell" (equations in a Python loop over time)
    cell+compile  the same with the step compiled by torch.compile (--compile)
    fused         seqlab, backend="fused" (torch's kernels over seqlab's parameters)
    torch         torch.nn.RNN / LSTM / GRU

Threads are fixed (``torch.set_num_threads``) and printed; every variant is
warmed up first (allocator, lazy init, compilation), then timed ``repeats``
times, the variants taking turns. ``run`` measures (``seqlab bench`` calls it at
every grid point); ``main`` prints ``seqlab.bench``'s recurrent section (median
time and spread, tokens/s, GFLOP/s, fraction of the GEMM peak, ratios to torch's
module and to the fused backend) at the sizes of the command line.

    .venv/bin/python benchmarks/bench_recurrent.py                 # B=32, T=256, H=256
    .venv/bin/python benchmarks/bench_recurrent.py --quick         # tiny sizes, seconds
    .venv/bin/python benchmarks/bench_recurrent.py --json out.json --threads 2 --compile

``run(...)`` returns the rows as a list of dicts for ``seqlab bench``.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from seqlab.bench import recurrent
from seqlab.bench.machine import describe, gemm_flops
from seqlab.bench.plan import FULL, QUICK
from seqlab.bench.table import render, write_json
from seqlab.cli import Parser, at_least_one, one_line_errors
from seqlab.errors import SeqlabError
from seqlab.nn.recurrent import GRU, LSTM, RNN
from seqlab.train.device import pick_device

ARCHS = ("RNN", "LSTM", "GRU")
VARIANTS = ("cell", "cell+compile", "fused", "torch")
_SEQLAB = {"RNN": RNN, "LSTM": LSTM, "GRU": GRU}
_TORCH = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}


def make_layer(arch: str, variant: str, hidden: int) -> nn.Module:
    """One batch-first layer (H -> H) of ``arch`` in ``variant``, torch's default init."""
    if variant == "torch":
        return _TORCH[arch](hidden, hidden, batch_first=True)
    backend = "fused" if variant == "fused" else "cell"
    return _SEQLAB[arch](hidden, hidden, batch_first=True, backend=backend, compiled=variant == "cell+compile")


def training_step(layer: nn.Module, x: torch.Tensor) -> Callable[[], None]:
    """One forward+backward step of ``layer`` on ``x`` (gradients of every parameter)."""
    params = list(layer.parameters())

    def step() -> None:
        out, _ = layer(x)  # (B, T, H)
        torch.autograd.grad(out.square().mean(), params)

    return step


def time_interleaved(steps: dict[str, Callable[[], None]], warmup: int, repeats: int,
                     sync: Callable[[], None]) -> dict[str, list[float]]:
    """Seconds per step of each variant, timed in rounds (one step of every variant per
    round) so that drift in the machine's speed hits all variants alike."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            sync()
            start = time.perf_counter()
            step()
            sync()
            times[name].append(time.perf_counter() - start)
    return times


def run(
    batch: int = 32, steps: int = 256, hidden: int = 256, archs: tuple[str, ...] = ARCHS,
    variants: tuple[str, ...] = ("cell", "fused", "torch"), threads: int | None = None,
    device: str = "cpu", warmup: int = 2, repeats: int = 5, seed: int = 0,
) -> list[dict]:
    """Measure every (arch, variant); one dict per pair with tokens/s (median, min, max),
    and ratios to the fused backend and to torch's module of the same arch."""
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    dev = torch.device(device)
    rows = []
    for arch in archs:
        x = torch.randn(batch, steps, hidden, device=dev)  # (B, T, H)
        per_arch = []
        sync: Callable[[], None] = torch.cuda.synchronize if x.is_cuda else (lambda: None)
        layers = {variant: make_layer(arch, variant, hidden).to(dev) for variant in variants}
        timed = time_interleaved({v: training_step(m, x) for v, m in layers.items()}, warmup, repeats, sync)
        for variant, times in timed.items():
            tokens = batch * steps
            per_arch.append({
                "arch": arch, "variant": variant, "B": batch, "T": steps, "H": hidden,
                "device": str(dev), "threads": torch.get_num_threads(), "repeats": repeats,
                "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
                "tokens_per_s": tokens / statistics.median(times),
                "tokens_per_s_min": tokens / max(times), "tokens_per_s_max": tokens / min(times),
            })
        speed = {r["variant"]: r["tokens_per_s"] for r in per_arch}
        for r in per_arch:
            r["vs_fused"] = r["tokens_per_s"] / speed["fused"] if "fused" in speed else None
            r["vs_torch"] = r["tokens_per_s"] / speed["torch"] if "torch" in speed else None
        rows.extend(per_arch)
    return rows


@one_line_errors("bench_recurrent.py")
def main(argv: list[str] | None = None) -> int:
    """The ``seqlab bench --only recurrent`` section (``seqlab.bench.recurrent``, which calls
    ``run`` above) at the sizes given here, with the machine and GEMM peak of ``seqlab.bench``."""
    parser = Parser(prog="bench_recurrent.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=256, help="sequence length T")
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--compile", action="store_true", help="add the cell+compile variant")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--json", metavar="PATH", help="also write machine info and rows as JSON")
    args = parser.parse_args(argv)
    at_least_one(args, "batch", "steps", "hidden", "threads", "repeats")
    if args.warmup < 0:
        raise SeqlabError(f"--warmup must be at least 0, got {args.warmup}")
    if args.quick:
        args.batch, args.steps, args.hidden, args.warmup, args.repeats = 4, 16, 32, 2, 5
    torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    plan = QUICK if args.quick else FULL
    peak, _ = gemm_flops(plan.gemm_n, plan.gemm_n, plan.gemm_n, torch.float32, device, plan.warmup, plan.repeats)
    info = describe(device)
    section = recurrent.run(device, (args.batch,), (args.hidden,), (args.steps,), args.compile, peak,
                            args.warmup, args.repeats)
    print(render([" ".join(f"{k}={v}" for k, v in info.items()), f"GEMM peak {peak / 1e9:.1f} GFLOP/s"], [section]),
          end="")
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)  # e.g. runs/bench/ on a fresh clone
        write_json(Path(args.json), {"machine": info, "peak_flops": peak}, [section])
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
