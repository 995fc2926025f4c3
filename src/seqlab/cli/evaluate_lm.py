"""Held-out metrics of a task run, behind ``seqlab evaluate``: the trainer's own ``evaluate``
on the split asked for. A task on data (lm, classify, forecast) scores that split of its
corpus, the same lines the run's ``data.json`` recorded (other data are refused); a
synthetic task scores seeded batches of its own."""

from __future__ import annotations


def run(args) -> int:
    import dataclasses
    import math

    import torch

    from seqlab.data.lm import CorpusLM
    from seqlab.recipe import check_same_data, load_trained
    from seqlab.train import Trainer

    recipe, model = load_trained(args.run_dir)
    task = recipe.task
    cfg = dataclasses.replace(recipe.train, batch_size=args.batch_size, device="cpu", bf16=False, progress=False)
    if hasattr(task, "data_record"):
        check_same_data(args.run_dir, task, f"the {args.split} split would not be the run's")
        batches = task.eval_batches(args.batch_size, args.split)
    else:  # seeded batches of their own, apart from training's and the trainer's validation ones
        gens = (torch.Generator().manual_seed(2_000_000_011 + i) for i in range(recipe.train.eval_batches))
        batches = (task.sample(args.batch_size, g) for g in gens)
    metrics = Trainer(model, task, cfg).evaluate(batches=batches)
    line = f"{args.split}: loss {metrics['loss']:.4f}"
    line += "".join(f", {k} {v:.4f}" for k, v in metrics.items() if k not in ("loss", "count"))
    if isinstance(task, CorpusLM):
        line += (f", perplexity {math.exp(metrics['loss']):.3f}, "
                 f"bits per character {task.bits_per_char(metrics['loss'], args.split):.4f}")
    print(line + f" ({metrics['count']:,} scored {'tokens' if isinstance(task, CorpusLM) else 'targets'})")
    return 0
