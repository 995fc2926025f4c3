"""Held-out metrics of a task or language-model run, behind ``seqlab evaluate``: the
trainer's own ``evaluate`` on the split asked for."""

from __future__ import annotations


def run(args) -> int:
    import dataclasses
    import math

    import torch

    from seqlab.data.lm import CorpusLM
    from seqlab.recipe import load_trained
    from seqlab.train import Trainer

    recipe, model = load_trained(args.run_dir)
    task = recipe.task
    cfg = dataclasses.replace(recipe.train, batch_size=args.batch_size, device="cpu", bf16=False, progress=False)
    if isinstance(task, CorpusLM):
        batches = task.eval_batches(args.batch_size, args.split)
    else:  # seeded batches of their own, apart from training's and the trainer's validation ones
        gens = (torch.Generator().manual_seed(2_000_000_011 + i) for i in range(recipe.train.eval_batches))
        batches = (task.sample(args.batch_size, g) for g in gens)
    metrics = Trainer(model, task, cfg).evaluate(batches=batches)
    line = f"{args.split}: loss {metrics['loss']:.4f}"
    if "accuracy" in metrics:
        line += f", accuracy {metrics['accuracy']:.4f}"
    if isinstance(task, CorpusLM):
        line += (f", perplexity {math.exp(metrics['loss']):.3f}, "
                 f"bits per character {task.bits_per_char(metrics['loss'], args.split):.4f}")
    print(line + f" ({metrics['count']:,} scored tokens)")
    return 0
