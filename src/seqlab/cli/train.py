"""seqlab train CONFIG [--set key=value ...] [--resume | --overwrite]

Every recipe trains with seqlab.train.Trainer: a task or language model as it is, a
translation recipe ([task] name = "translation", or the older [data] shape) through
seqlab.translation, which fits its tokenizers first. A run folder holds one run: a new
run into a folder that holds one is refused unless --resume (continue it exactly) or
--overwrite (delete its run files first). Under torchrun only rank 0 prints and writes.
"""

from __future__ import annotations


def add_arguments(parser, name: str) -> None:
    parser.add_argument("config", help="a TOML or YAML recipe (see configs/)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set train.lr=3e-4 (repeatable)")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the run folder's newest intact checkpoint (only steps, time "
                             "budgets, evaluation and logging may change)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start over in a run folder that already holds a run (its run files are deleted)")
    parser.add_argument("--out", default=None, help="run folder (default: the recipe's 'out')")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (on a busy machine, fewer threads can be much faster)")


def run(args) -> int:
    import dataclasses
    import os
    from pathlib import Path

    from seqlab.errors import SeqlabError
    from seqlab.recipe import load_recipe

    if args.threads is not None and args.threads < 1:
        raise SeqlabError(f"--threads must be at least 1, got {args.threads}")
    if args.out is not None and not args.out.strip():
        raise SeqlabError("--out must name a folder")
    recipe = load_recipe(args.config, args.overrides)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if int(os.environ.get("RANK", "0")) == 0:
        _announce_budget(args.config, recipe)
    run_dir = Path(args.out or recipe.out)
    recipe = dataclasses.replace(recipe, out=str(run_dir))  # recipe.json says where it ran
    if recipe.translation:
        from seqlab.translation import loop

        result = loop.train_translator(recipe, run_dir, log=print, resume=args.resume, overwrite=args.overwrite)
    else:
        result = _train_task(recipe, run_dir, args.resume, args.overwrite)
    if int(os.environ.get("RANK", "0")) != 0:
        pass
    elif result.stopped == "finished":  # a resumed run that had nothing left to train
        limit = recipe.train.max_minutes
        print(f"the run had finished already at step {result.steps} of {recipe.train.steps}"
              + (f" ({result.wall_time / 60:.1f} of {limit:g} minutes)" if limit is not None else "")
              + ": nothing to train (raise train.steps or train.max_minutes to go on)")
    else:
        print(_summary(recipe, result))
        if result.stopped == "interrupted":
            print(f"interrupted at step {result.steps}; continue with --resume")
    return 130 if result.stopped == "interrupted" else 0


def _announce_budget(path, recipe) -> None:
    """Say up front how long a time-budgeted run lasts, and when it is shorter than the recipe's own
    budget (``--set train.max_minutes=5`` on a 30-minute recipe trains a model that is not done)."""
    import torch

    from seqlab.config import load_file

    minutes = recipe.train.max_minutes
    if minutes is None:
        return
    own = load_file(path).get("train", {})
    own = own.get("max_minutes", own.get("minutes")) if isinstance(own, dict) else None
    line = f"time budget: about {minutes:g} minutes (train.max_minutes) at {torch.get_num_threads()} threads"
    if isinstance(own, (int, float)) and minutes < own:
        line += f"; the recipe is sized for {own:g} minutes, so expect a model that is still learning"
        line += " (an untrained translator repeats one word)" if recipe.translation else ""
    print(line, flush=True)


def _train_task(recipe, run_dir, resume: bool, overwrite: bool):
    from seqlab.build import build_model
    from seqlab.recipe import resumed_recipe
    from seqlab.train import Trainer
    from seqlab.train.device import seed_everything
    from seqlab.train.run_folder import read_recipe, write_recipe

    changes = []
    if resume and (run_dir / "recipe.json").is_file():
        recipe, changes = resumed_recipe(read_recipe(run_dir), recipe)
    seed_everything(recipe.train.seed, recipe.train.deterministic)  # before the model draws its weights
    model = build_model(recipe.model, recipe.task)
    trainer = Trainer(model, recipe.task, recipe.train, run_dir=run_dir, resume=resume, overwrite=overwrite)
    steps = recipe.train.steps
    if trainer.dist.is_main:
        write_recipe(run_dir, recipe.to_dict())
        n = sum(p.numel() for p in model.parameters())
        print(f"training {recipe.model.arch} ({n:,} parameters) on {type(recipe.task).__name__} "
              f"for {steps} steps on {trainer.device}, {trainer.dist.describe()}; run folder {run_dir}")
        if resume:
            print(f"resumed at step {trainer.step} from {trainer.last_checkpoint}"
                  + (f"; changed: {', '.join(changes)}" if changes else ""))
    return trainer.fit()


def _summary(recipe, result) -> str:
    """One line: how the run ended, the final evaluation, and (translation) the training speed."""
    shown = {k: v for k, v in result.final.items() if k not in ("step", "split", "count", "minutes", "targets")}
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in shown.items())
    chance = getattr(recipe.task, "chance_loss", None)
    line = (f"{result.stopped} after {result.steps} steps ({result.updates} updates) in {result.wall_time:.1f} s"
            + (f": {metrics}" if metrics else "") + (f" (chance loss {chance:.4g})" if chance else ""))
    if recipe.translation:
        line += f"; {result.targets_per_second:,.0f} target tokens/s in training; run folder {result.run_dir}"
    return line
