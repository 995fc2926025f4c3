"""`seqlab classify NAME`: train a recurrent sequence classifier, report test accuracy."""

from __future__ import annotations

import argparse

from seqlab.cli import seed_value


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("corpus", metavar="NAME", help="japanese_vowels or gunpoint")
    parser.add_argument("--arch", choices=("lstm", "gru"), default="lstm")
    parser.add_argument("--pooling", choices=("last", "mean"), default="last")
    parser.add_argument("--bidirectional", action="store_true")
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--seed", type=seed_value, default=0)
    parser.add_argument("--device", default="auto")


def run(args: argparse.Namespace) -> int:
    from seqlab.classify import train_classifier
    from seqlab.cli import at_least_one

    at_least_one(args, "hidden", "steps")

    r = train_classifier(args.corpus, arch=args.arch, hidden=args.hidden, pooling=args.pooling,
                         bidirectional=args.bidirectional, steps=args.steps, seed=args.seed,
                         device=args.device)
    kind = ("bi" if args.bidirectional else "") + args.arch.upper()
    print(f"{args.corpus}: {kind}, {args.pooling} pooling, hidden {args.hidden}, "
          f"{args.steps} steps")
    print(f"  dev accuracy  {r['dev_accuracy']:.4f}  (every 10th official training item)")
    print(f"  test accuracy {r['test_accuracy']:.4f}  ({r['test_items']} official test items)")
    return 0
