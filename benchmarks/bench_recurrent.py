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
times; the table shows the median tokens/s (B*T / step time) with its min-max
spread and the ratios fused/torch and cell/fused.

    .venv/bin/python benchmarks/bench_recurrent.py                 # B=32, T=256, H=256
    .venv/bin/python benchmarks/bench_recurrent.py --quick         # tiny sizes, seconds
    .venv/bin/python benchmarks/bench_recurrent.py --json out.json --threads 2 --compile

``run(...)`` returns the rows as a list of dicts for ``seqlab bench``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from typing import Callable

import torch
from torch import nn

from seqlab.nn import recurrent

ARCHS = ("RNN", "LSTM", "GRU")
VARIANTS = ("cell", "cell+compile", "fused", "torch")
_SEQLAB = {"RNN": recurrent.RNN, "LSTM": recurrent.LSTM, "GRU": recurrent.GRU}
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


def describe_machine(device: str) -> dict:
    """Versions, processor and thread counts, printed above the table."""
    info = {
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
        "threads": torch.get_num_threads(), "mkldnn": torch.backends.mkldnn.is_available(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info.update(gpu=torch.cuda.get_device_name(), cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version())
    return info


def format_table(rows: list[dict]) -> str:
    """Rows -> aligned text table, then one ratio line per arch."""
    head = f"{'arch':<5} {'variant':<13} {'tokens/s':>10} {'min-max':>19} {'vs torch':>9} {'vs fused':>9}"
    lines = [head, "-" * len(head)]
    for r in rows:
        spread = f"{r['tokens_per_s_min']:.0f}-{r['tokens_per_s_max']:.0f}"
        vs_t = "" if r["vs_torch"] is None else f"{r['vs_torch']:.2f}"
        vs_f = "" if r["vs_fused"] is None else f"{r['vs_fused']:.2f}"
        lines.append(f"{r['arch']:<5} {r['variant']:<13} {r['tokens_per_s']:>10.0f} {spread:>19} {vs_t:>9} {vs_f:>9}")
    lines.append("")
    for arch in dict.fromkeys(r["arch"] for r in rows):
        by = {r["variant"]: r["tokens_per_s"] for r in rows if r["arch"] == arch}
        parts = [f"{a}/{b} = {by[a] / by[b]:.2f}" for a, b in
                 (("fused", "torch"), ("cell", "fused"), ("cell+compile", "fused")) if a in by and b in by]
        lines.append(f"{arch}: " + ", ".join(parts))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    if args.quick:
        args.batch, args.steps, args.hidden, args.warmup, args.repeats = 4, 16, 32, 2, 5
    variants = ("cell", "cell+compile", "fused", "torch") if args.compile else ("cell", "fused", "torch")
    torch.set_num_threads(args.threads)
    machine = describe_machine(args.device)
    print(" ".join(f"{k}={v}" for k, v in machine.items()))
    print(f"training step = forward + backward, one layer, B={args.batch} T={args.steps} H={args.hidden}, "
          f"median of {args.repeats} after {args.warmup} warm-up")
    rows = run(args.batch, args.steps, args.hidden, ARCHS, variants, args.threads, args.device,
               args.warmup, args.repeats)
    print(format_table(rows))
    if args.json:
        os.makedirs(os.path.dirname(args.json) or ".", exist_ok=True)  # e.g. runs/bench/ on a fresh clone
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"machine": machine, "rows": rows}, f, indent=2)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
