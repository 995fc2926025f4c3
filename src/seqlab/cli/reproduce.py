"""``seqlab reproduce``: run the claims' experiments and print their verdicts."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqlab.experiments.base import PROFILES


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="quick",
                        help="quick: minutes on a laptop CPU; full: the sizes the claims need (GPU-friendly)")
    parser.add_argument("--only", metavar="IDS", default=None, help="comma-separated claim ids, e.g. C1,C4")
    parser.add_argument("--force", action="store_true", help="re-run claims whose results are already stored")
    parser.add_argument("--out", metavar="DIR", default=None, help="run folder (default: runs/<profile>)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")


def run(args: argparse.Namespace) -> int:
    import torch

    from seqlab.errors import SeqlabError
    from seqlab.experiments.registry import select
    from seqlab.experiments.runner import reproduce, summary_table

    if args.threads is not None:
        if args.threads < 1:
            raise SeqlabError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    ids = select(args.only)
    out = Path(args.out) if args.out else Path("runs") / args.profile
    print(f"seqlab reproduce: {len(ids)} experiment(s), profile {args.profile}, into {out}", flush=True)
    results = reproduce(ids, args.profile, out, force=args.force, echo=lambda s: print(s, flush=True))
    print()
    print(summary_table(results))
    return 0  # failed claims are in the table and the report; `make run` goes on to the report
