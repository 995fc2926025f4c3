"""seqlab train CONFIG [--set key=value ...] [--resume]

A recipe with a [task] table trains a task model with seqlab.train.Trainer; one with a
[data] table (configs/mt-*.toml) trains a translation model (seqlab.translation).
"""

from __future__ import annotations

import json


def add_arguments(parser, name: str) -> None:
    parser.add_argument("config", help="a TOML or YAML recipe (see configs/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.lr=3e-4 (repeatable)")
    parser.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    parser.add_argument("--out", default=None, help="run folder (default: the recipe's 'out')")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (on a busy machine, fewer threads can be much faster)")


def run(args) -> int:
    from pathlib import Path

    from seqlab.config import load_file

    if "data" in load_file(args.config):  # a translation recipe ([data], [model], [train])
        from seqlab.cli import train_mt

        return train_mt.run(args)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    from seqlab.build import build_model
    from seqlab.recipe import load_recipe
    from seqlab.train import Trainer
    from seqlab.train.device import seed_everything

    recipe = load_recipe(args.config, args.overrides)
    run_dir = Path(args.out or recipe.out)
    seed_everything(recipe.train.seed, recipe.train.deterministic)  # before the model draws its weights
    model = build_model(recipe.model, recipe.task)
    trainer = Trainer(model, recipe.task, recipe.train, run_dir=run_dir, resume=args.resume)
    if trainer.dist.is_main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "recipe.json").write_text(json.dumps(recipe.to_dict(), indent=2) + "\n")
        n = sum(p.numel() for p in model.parameters())
        print(f"training {recipe.model.arch} ({n:,} parameters) on {type(recipe.task).__name__} "
              f"for {recipe.train.steps} steps on {trainer.device}; run folder {run_dir}")
    result = trainer.fit()
    trainer.save()
    if trainer.dist.is_main:
        metrics = ", ".join(f"{k} {v:.4g}" for k, v in result.final.items() if k not in ("step", "split", "count"))
        chance = getattr(recipe.task, "chance_loss", None)
        print(f"{result.stopped} after {result.steps} steps ({result.updates} updates) in "
              f"{result.wall_time:.1f} s: {metrics}" + (f" (chance loss {chance:.4g})" if chance else ""))
    return 0
