"""`seqlab forecast SERIES...`: seasonal naive, ARIMA, ETS and an LSTM/GRU in one table."""

from __future__ import annotations

import argparse

from seqlab.cli import seed_value


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("series", nargs="+", metavar="SERIES",
                        help="one or more series: co2, sunspots, nile, elnino, macrodata")
    parser.add_argument("--arch", choices=("lstm", "gru"), default="lstm", help="the recurrent net's layer")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units of the net")
    parser.add_argument("--steps", type=int, default=1500, help="training batches of the net")
    parser.add_argument("--stride", type=int, default=1,
                        help="series steps between rolling test origins (larger: fewer forecasts, faster)")
    parser.add_argument("--seed", type=seed_value, default=0, help="seed of the net's weights and batches")
    parser.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (CUDA when there is one)")


def run(args: argparse.Namespace) -> int:
    from seqlab.cli import at_least_one
    from seqlab.errors import SeqlabError
    from seqlab.timeseries import SPECS, format_table, forecast_table

    at_least_one(args, "hidden", "steps", "stride")

    unknown = [s for s in args.series if s not in SPECS]
    if unknown:
        raise SeqlabError(f"unknown series {unknown[0]!r}; choose from: {', '.join(SPECS)}")
    rows = []
    for name in args.series:
        rows += forecast_table(name, arch=args.arch, hidden=args.hidden, steps=args.steps,
                               seed=args.seed, stride=args.stride, device=args.device)
    print(format_table(rows))
    return 0
