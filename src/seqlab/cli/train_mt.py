"""Translation training behind ``seqlab train RECIPE`` when the recipe has a [data] table."""

from __future__ import annotations


def run(args) -> int:
    import dataclasses
    from pathlib import Path

    import torch

    from seqlab.translation.config import load_mt_recipe
    from seqlab.translation.loop import train_translator

    if args.threads:
        torch.set_num_threads(args.threads)

    recipe = load_mt_recipe(args.config, args.overrides)
    run_dir = Path(args.out or recipe.out)
    recipe = dataclasses.replace(recipe, out=str(run_dir))  # recipe.json says where it ran
    result = train_translator(recipe, run_dir, resume=args.resume, overwrite=args.overwrite)
    if result.stopped == "interrupted":
        return 130
    if result.stopped == "finished":  # a resumed run that had nothing left to train
        return 0
    last = result.history[-1] if result.history else {}
    print(f"trained {result.steps} steps in {result.train_seconds / 60:.1f} min "
          f"({result.tokens_per_second:,.0f} target tokens/s); dev BLEU {last.get('dev_bleu', float('nan')):.2f}, "
          f"chrF {last.get('dev_chrf', float('nan')):.2f}; "
          f"run folder {run_dir}")
    return 0
