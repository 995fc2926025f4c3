"""``seqlab reproduce``: run the claims' experiments and print their verdicts."""

from __future__ import annotations

import argparse
from pathlib import Path

from seqlab.experiments.core.base import PROFILES


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("--list", action="store_true",
                        help="print every claim (id, the chapter's sentence shortened, its section, real data or a "
                             "controlled task) and run nothing")
    parser.add_argument("--profile", choices=PROFILES, default="quick",
                        help="quick: minutes on a laptop CPU; full: the sizes the claims need (GPU-friendly)")
    parser.add_argument("--only", metavar="IDS", default=None, help="comma-separated claim ids, e.g. C1,C4")
    parser.add_argument("--force", action="store_true",
                        help="re-run claims and units whose results are already stored")
    parser.add_argument("--out", metavar="DIR", default=None, help="run folder (default: runs/<profile>)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads of the timed units (default: torch's choice); other units "
                             "always run on one thread each")
    parser.add_argument("--jobs", type=int, default=None,
                        help="worker processes of the local executor (default: one per core, at most 4); with "
                             "--executor ray and no --address, the CPUs of the local Ray instance")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local: a process pool on this machine; ray: Ray tasks (pip install -e '.[ray]')")
    parser.add_argument("--address", metavar="HOST:PORT", default=None,
                        help="with --executor ray: join the Ray cluster there ('auto': the running local one); "
                             "default: start a local Ray instance")


def run(args: argparse.Namespace) -> int:
    if args.list:
        from seqlab.experiments.catalog import listing

        print(listing(), end="")
        return 0
    import torch

    from seqlab.errors import SeqlabError
    from seqlab.experiments.core.executors import default_jobs
    from seqlab.experiments.core.runner import reproduce, summary_table
    from seqlab.experiments.registry import select

    if args.threads is not None:
        if args.threads < 1:
            raise SeqlabError(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.jobs is not None and args.jobs < 1:
        raise SeqlabError(f"--jobs must be at least 1, got {args.jobs}")
    if args.address and args.executor != "ray":
        raise SeqlabError("--address joins a Ray cluster: use it with --executor ray")
    ids = select(args.only)
    out = Path(args.out) if args.out else Path("runs") / args.profile
    print(f"seqlab reproduce: {len(ids)} experiment(s), profile {args.profile}, into {out}", flush=True)
    jobs = args.jobs or default_jobs()
    results = reproduce(ids, args.profile, out, force=args.force, echo=lambda s: print(s, flush=True), jobs=jobs,
                        executor=args.executor, address=args.address, threads=args.threads)
    print()
    print(summary_table(results))
    return 0  # failed claims are in the table and the report; `make run` goes on to the report
