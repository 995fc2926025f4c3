"""`seqlab classify NAME`: train a recurrent sequence classifier, report test accuracy."""

from __future__ import annotations

import argparse

from seqlab.cli import seed_value


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("corpus", metavar="NAME", help="a classification set: " + ", ".join(_sets()))
    parser.add_argument("--arch", choices=("lstm", "gru"), default="lstm", help="the recurrent layer")
    parser.add_argument("--pooling", choices=("last", "mean"), default="last",
                        help="how the hidden states become one vector: the last step's or their mean")
    parser.add_argument("--bidirectional", action="store_true", help="read each series both ways")
    parser.add_argument("--hidden", type=int, default=64, help="hidden units per direction")
    parser.add_argument("--steps", type=int, default=600, help="training batches")
    parser.add_argument("--seed", type=seed_value, default=0, help="seed of the weights and batches")
    parser.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (CUDA when there is one)")


def _sets() -> list[str]:
    """The names this command takes: the classification sets of ``seqlab data list``."""
    from seqlab.data.corpora.classification import SETS

    return list(SETS)


def run(args: argparse.Namespace) -> int:
    from seqlab.classify import train_classifier
    from seqlab.cli import at_least_one

    at_least_one(args, "hidden", "steps")
    _check_name(args.corpus)

    r = train_classifier(args.corpus, arch=args.arch, hidden=args.hidden, pooling=args.pooling,
                         bidirectional=args.bidirectional, steps=args.steps, seed=args.seed,
                         device=args.device)
    kind = ("bi" if args.bidirectional else "") + args.arch.upper()
    print(f"{args.corpus}: {kind}, {args.pooling} pooling, hidden {args.hidden}, "
          f"{args.steps} steps")
    print(f"  dev accuracy  {r['dev_accuracy']:.4f}  (every 10th official training item)")
    print(f"  test accuracy {r['test_accuracy']:.4f}  ({r['test_items']} official test items)")
    return 0


def _check_name(name: str) -> None:
    """A name that is no classification set (and no file) fails naming only the sets."""
    from pathlib import Path

    from seqlab.errors import SeqlabError

    if name not in _sets() and not Path(name).exists():
        raise SeqlabError(f"unknown classification set {name!r}; choose from: {', '.join(_sets())}")
