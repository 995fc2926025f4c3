"""`seqlab embed compare WORD`: one static vector vs the spread of contextual vectors."""

from __future__ import annotations

import argparse

from seqlab.cli import seed_value


def add_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    cmp = sub.add_parser("compare", help="static (skip-gram) vs contextual (BiLSTM LM) "
                         "vectors of WORD over its occurrences in bsb_en")
    cmp.add_argument("word", metavar="WORD")
    cmp.add_argument("-k", type=int, default=5, help="nearest neighbours to show (default 5)")
    cmp.add_argument("--contexts", type=int, default=20, help="occurrences to show (default 20)")
    cmp.add_argument("--steps", type=int, default=800,
                     help="training batches per LM direction (default 800; cached on disk)")
    cmp.add_argument("--hidden", type=int, default=128, help="hidden units of the BiLSTM language model")
    cmp.add_argument("--seed", type=seed_value, default=0, help="seed of both models' training")
    cmp.add_argument("--device", default="auto", help="cpu, cuda, mps or auto (CUDA when there is one)")


def run(args: argparse.Namespace) -> int:
    from seqlab.cli import at_least_one
    from seqlab.embeddings import EmbedSettings, compare_word, format_comparison

    at_least_one(args, "k", "contexts", "steps", "hidden")

    settings = EmbedSettings(steps=args.steps, hidden=args.hidden, seed=args.seed,
                             device=args.device)
    result = compare_word(args.word, settings, k=args.k, max_contexts=args.contexts)
    print(format_comparison(result))
    return 0
