"""seqlab drill NAME [--out DIR] [--seed N]: the chapter's drills on the NumPy reference."""

from __future__ import annotations

from seqlab.cli import seed_value
from seqlab.reference.drills import DRILLS


def add_arguments(parser, name: str) -> None:
    parser.add_argument("drill", choices=list(DRILLS), metavar="DRILL",
                        help="; ".join(f"{k}: {h}" for k, (_, h) in DRILLS.items()))
    parser.add_argument("--out", default="runs/drills",
                        help="folder for the JSON and PNG files (default: runs/drills)")
    parser.add_argument("--seed", type=seed_value, default=0, help="random seed (default: 0)")


def run(args) -> int:
    import importlib
    from pathlib import Path

    from seqlab.errors import SeqlabError

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SeqlabError(f"--out {out} exists and is not a folder")
    module = importlib.import_module(f"seqlab.reference.drills.{DRILLS[args.drill][0]}")
    result = module.run(out, seed=args.seed)
    print(module.summary(result))
    return 0
