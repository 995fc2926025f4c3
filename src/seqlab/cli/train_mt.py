"""seqlab train-mt RECIPE [--set key=value ...] [--out DIR]"""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    parser.add_argument("config", help="a translation recipe, e.g. configs/mt-nt-transformer.toml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value, e.g. --set train.minutes=5 (repeatable)")
    parser.add_argument("--out", default=None, help="run folder (default: the recipe's 'out')")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (on a busy machine, fewer threads can be much faster)")


def run(args) -> int:
    import torch

    from seqlab.translation.config import load_mt_recipe
    from seqlab.translation.loop import train_translator

    if args.threads:
        torch.set_num_threads(args.threads)

    recipe = load_mt_recipe(args.config, args.overrides)
    run_dir = args.out or recipe.out
    result = train_translator(recipe, run_dir)
    last = result.history[-1] if result.history else {}
    print(f"trained {result.steps} steps in {result.train_seconds / 60:.1f} min "
          f"({result.tokens_per_second:,.0f} target tokens/s); dev BLEU {last.get('dev_bleu', float('nan')):.2f}, "
          f"chrF {last.get('dev_chrf', float('nan')):.2f}; "
          f"run folder {run_dir}")
    return 0
