"""Attention alone: naive softmax(QK^T)V vs scaled_dot_product_attention, time and memory.

The same measurement as ``seqlab bench --only attention`` (``seqlab.bench.attention``),
with the sizes on the command line; the fraction of peak uses a GEMM peak measured here:

    python benchmarks/bench_attention.py --threads 2 --lengths 128,1024,4096 --heads 4 --head-dim 64
    python benchmarks/bench_attention.py --quick
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from seqlab.bench import attention
from seqlab.bench.machine import describe, gemm_flops, peak_dtypes
from seqlab.bench.plan import FULL, QUICK
from seqlab.bench.table import render, write_json
from seqlab.cli import Parser, at_least_one, one_line_errors, positive_ints
from seqlab.train.device import pick_device


@one_line_errors("bench_attention.py")
def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="bench_attention.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--lengths", default=",".join(map(str, FULL.att_lengths)))
    parser.add_argument("--batch", type=int, default=FULL.att_batch)
    parser.add_argument("--heads", type=int, default=FULL.att_heads)
    parser.add_argument("--head-dim", type=int, default=FULL.att_head_dim)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--json", type=Path, help="also write the section as JSON")
    args = parser.parse_args(argv)
    at_least_one(args, "threads", "batch", "heads", "head_dim")
    torch.set_num_threads(args.threads)
    plan = QUICK if args.quick else FULL
    lengths = plan.att_lengths if args.quick else positive_ints(args.lengths, "--lengths")
    sizes = (plan.att_batch, plan.att_heads, plan.att_head_dim) if args.quick else (args.batch, args.heads, args.head_dim)
    device = pick_device(args.device)
    dtype = peak_dtypes(device)["bf16" if device.type == "cuda" else "fp32"]
    peak, _ = gemm_flops(plan.gemm_n, plan.gemm_n, plan.gemm_n, dtype, device, plan.warmup, plan.repeats)
    info = describe(device)
    section = attention.run(device, lengths, *sizes, peak, plan.warmup, plan.repeats)
    print(render([" ".join(f"{k}={v}" for k, v in info.items()), f"GEMM peak {peak / 1e9:.1f} GFLOP/s"], [section]), end="")
    if args.json:
        write_json(args.json, {"machine": info, "peak_flops": peak}, [section])
    return 0


if __name__ == "__main__":
    sys.exit(main())
