"""Parallel recurrences alone: minGRU/minLSTM scans vs step by step vs nn.GRU.

The same measurement as ``seqlab bench --only scan`` (``seqlab.bench.scan``),
with the sizes on the command line:

    python benchmarks/bench_scan.py --threads 2 --lengths 64,1024,4096 --shapes 1x128,16x256
    python benchmarks/bench_scan.py --quick --json scan.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from seqlab.bench import scan
from seqlab.bench.machine import describe
from seqlab.bench.plan import FULL, QUICK
from seqlab.bench.table import render, write_json
from seqlab.cli import Parser, at_least_one, one_line_errors, positive_ints
from seqlab.errors import SeqlabError
from seqlab.train.device import pick_device


@one_line_errors("bench_scan.py")
def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="bench_scan.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--lengths", default=",".join(map(str, FULL.scan_lengths)), help="T values, e.g. 64,4096")
    parser.add_argument("--shapes", default="1x128,16x256", help="BxH pairs, e.g. 1x128,16x256")
    parser.add_argument("--repeats", type=int, default=FULL.repeats)
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks that it runs")
    parser.add_argument("--json", type=Path, help="also write the section as JSON")
    args = parser.parse_args(argv)
    at_least_one(args, "threads", "repeats")
    torch.set_num_threads(args.threads)
    lengths = positive_ints(args.lengths, "--lengths")
    shapes = tuple(positive_ints(s, "--shapes", "x") for s in args.shapes.split(","))
    if any(len(s) != 2 for s in shapes):
        raise SeqlabError(f"--shapes {args.shapes!r}: give BxH pairs, e.g. 1x128,16x256")
    plan = QUICK if args.quick else FULL
    if args.quick:
        lengths, shapes = plan.scan_lengths, plan.scan_shapes
    device = pick_device(args.device)
    info = describe(device)
    section = scan.run(device, lengths, shapes, plan.warmup, plan.repeats if args.quick else args.repeats)
    print(render([" ".join(f"{k}={v}" for k, v in info.items())], [section]), end="")
    if args.json:
        write_json(args.json, {"machine": info}, [section])
    return 0


if __name__ == "__main__":
    sys.exit(main())
