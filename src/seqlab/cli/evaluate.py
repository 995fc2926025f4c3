"""seqlab evaluate RUN_DIR [--split test]: held-out scores of any trained run.

A translation run gets BLEU, chrF, scores by source length and attention AER; a task or
language-model run gets loss, accuracy, perplexity and bits per character.
"""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    parser.add_argument("run_dir", help="a run folder written by seqlab train")
    parser.add_argument("--split", default="test", choices=("train", "dev", "test"), help="which split to score")
    parser.add_argument("--batch-size", type=int, default=32, help="task and language-model runs: batch size")
    parser.add_argument("--beam", type=int, default=5, help="translation: beam size, 1 (greedy) to 64 (default 5)")
    parser.add_argument("--alpha", type=float, default=0.6, help="translation: GNMT length penalty (default 0.6)")
    parser.add_argument("--limit", type=int, default=None, help="translation: score only the first N pairs")
    parser.add_argument("--no-aer", action="store_true", help="translation: skip the alignment error rate")
    parser.add_argument("--json", default=None, metavar="FILE", help="translation: also write the scores as JSON")
    parser.add_argument("--device", default=None, help="translation: cpu, cuda, ... (default: the recipe's)")


def check_options(args) -> None:
    import math
    from pathlib import Path

    from seqlab.errors import SeqlabError

    from seqlab.decode import MAX_BEAM

    if not 1 <= args.beam <= MAX_BEAM:
        raise SeqlabError(f"--beam must be between 1 and {MAX_BEAM}, got {args.beam}")
    if args.batch_size < 1:
        raise SeqlabError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.limit is not None and args.limit < 1:
        raise SeqlabError(f"--limit must be at least 1, got {args.limit}")
    if not math.isfinite(args.alpha) or args.alpha < 0:
        raise SeqlabError(f"--alpha must be a number >= 0, got {args.alpha}")
    if args.json is not None:
        path = Path(args.json)
        if not path.parent.is_dir():
            raise SeqlabError(f"--json {path}: the folder {path.parent} does not exist")
        if path.is_dir():
            raise SeqlabError(f"--json {path} is a folder; name a file")


def run(args) -> int:
    from seqlab.cli import evaluate_lm, evaluate_mt
    from seqlab.recipe import is_translation
    from seqlab.train.run_folder import read_recipe

    check_options(args)
    if is_translation(read_recipe(args.run_dir)):
        return evaluate_mt.run(args)
    return evaluate_lm.run(args)
