"""``seqlab report``: render a run folder's results into one self-contained HTML file."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("run_dir", nargs="?", default="runs/quick", help="run folder (default: runs/quick)")
    parser.add_argument("--out", metavar="FILE", default=None, help="HTML file (default: RUN_DIR/report.html)")


def run(args: argparse.Namespace) -> int:
    from seqlab.report.html import write_report

    path = write_report(args.run_dir, args.out)
    print(path)
    return 0
