"""seqlab train CONFIG [--set key=value ...] [--resume | --overwrite]

Every recipe trains with seqlab.train.Trainer: a task as it is, a translation recipe
([task] name = "translation") through seqlab.translation, which fits its tokenizers first.
A task's data (a built-in corpus or the user's files) are read and checked before anything
is written: a bad file is one line naming the file and line, and the run folder stays as it
was. A run folder holds one run: a new run into a folder that holds one is refused unless
--resume (continue it exactly) or --overwrite (delete the files seqlab wrote there first; a
folder holding other files under a run's names is refused). Under torchrun only rank 0
prints and writes.

Ctrl-C or SIGTERM (what a cluster scheduler sends before it kills a job) stops the run
after the batch in progress, with a checkpoint: exit status 130 or 143, and --resume
continues exactly.
"""

from __future__ import annotations

import argparse

RECIPE_SHAPE = """A recipe (TOML or YAML) has the same three tables for every task:

  [task]   name = adding | copy | recall | lm | translation | classify | forecast, and the task's keys.
           A task on data names a built-in corpus (seqlab data list) or your own files:
             lm           corpus = "text.txt"                      (UTF-8 text, split by lines)
             translation  corpus = "pairs.tsv"                     (source<TAB>target lines)
                          corpus = {src = "train.de", tgt = "train.en"}   (parallel files)
             classify     corpus = "labelled.csv"                  (text_column, label_column)
             forecast     corpus = "series.csv"                    (value_column, time_column)
           or per split: corpus = {train = "...", dev = "...", test = "..."} (a missing dev or
           test split is carved from train; the split goes into the run folder's data.json)
  [model]  arch = a name from `seqlab models`, and its sizes
  [train]  steps, batch_size, lr, schedule, clip_norm, eval_every, max_minutes, seed, ...

Any key can be set on the command line, e.g.
  seqlab train configs/lm-bsb-char-lstm.toml --set task.corpus=my.txt --set train.steps=50 --out runs/mine
`seqlab data check CONFIG` shows what a recipe's data will be before training."""


def add_arguments(parser, name: str) -> None:
    parser.epilog = RECIPE_SHAPE
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
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
            by = f" by {result.stop_reason}" if result.stop_reason == "SIGTERM" else ""
            print(f"interrupted{by} at step {result.steps}; continue with --resume")
    return exit_status(result)


def exit_status(result) -> int:
    """0; or 128 + the signal that interrupted the run (130 Ctrl-C, 143 SIGTERM), as a shell reports it."""
    from seqlab.train.signals import EXIT_STATUS

    if result.stopped != "interrupted":
        return 0
    return EXIT_STATUS.get(result.stop_reason, EXIT_STATUS["SIGINT"])


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
    from seqlab.recipe import checked_resume, resumed_recipe, write_data_record
    from seqlab.train import Trainer
    from seqlab.train.device import seed_everything
    from seqlab.train.run_folder import read_recipe, write_recipe

    changes, has_json = [], resume and (run_dir / "recipe.json").is_file()
    if has_json:
        recipe, changes = resumed_recipe(read_recipe(run_dir), recipe)
    check_data(recipe.task, recipe.train.batch_size, run_dir, resume)  # before anything is written
    _check_memory(recipe)
    seed_everything(recipe.train.seed, recipe.train.deterministic)  # before the model draws its weights
    model = build_model(recipe.model, recipe.task)
    trainer = Trainer(model, recipe.task, recipe.train, run_dir=run_dir, resume=resume, overwrite=overwrite,
                      recipe=recipe.to_dict())
    if resume:
        changes = checked_resume(trainer, recipe, has_json, changes)
    steps = recipe.train.steps
    if trainer.dist.is_main:
        write_recipe(run_dir, recipe.to_dict())
        write_data_record(run_dir, recipe.task)
        n = sum(p.numel() for p in model.parameters())
        print(f"training {recipe.model.arch} ({n:,} parameters) on {type(recipe.task).__name__} "
              f"for {steps} steps on {trainer.device}, {trainer.dist.describe()}; run folder {run_dir}")
        if resume:
            print(f"resumed at step {trainer.step} from {trainer.last_checkpoint}"
                  + (f"; changed: {', '.join(changes)}" if changes else ""))
    return trainer.fit()


def _check_memory(recipe) -> None:
    """Refuse, before building it, a task model and batch that cannot fit (``seqlab.train.memory``)."""
    import os

    from seqlab.build import build_model
    from seqlab.train.device import pick_device
    from seqlab.train.memory import check_fits, count_parameters, footprint, optimizer_slots

    task, model, train = recipe.task, recipe.model, recipe.train
    # time steps of one example: a synthetic task's length, an LM's seq_len, a text's max_len, a series' context
    steps = next((v for v in (getattr(task, k, None) for k in ("length", "seq_len", "max_len", "context")) if v), 1)
    window = min(steps, train.tbptt[1]) if train.tbptt else steps
    inputs = 4 * task.input_dim if task.input_dim else 8  # float features, or one token id
    step_bytes = inputs + (4 * task.output_dim if task.loss_kind == "mse" else 8) + 1  # + target + mask
    batch = max(1, train.batch_size // int(os.environ.get("WORLD_SIZE", "1")))
    params = count_parameters(lambda: build_model(model, task))
    need = footprint(params, optimizer_slots(train.optimizer, train.momentum), batch, steps, window, step_bytes,
                     model.features, model.num_layers, task.output_dim)
    check_fits(need, pick_device(train.device), "model.hidden_size, model.num_layers, train.batch_size or the "
                                                 "task's length")


def check_data(task, batch_size: int, run_dir, resume: bool) -> None:
    """Read and check everything a task on data trains from (``task.prepare``); a resumed run
    must find the data it began on (``data.json``)."""
    from seqlab.recipe import check_same_data

    if hasattr(task, "prepare"):
        task.prepare(batch_size)
    if resume:
        check_same_data(run_dir, task, "--resume continues a run on the data it began with")


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
