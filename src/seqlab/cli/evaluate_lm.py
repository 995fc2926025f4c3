"""Held-out metrics of a task or language-model run, behind ``seqlab evaluate``."""

from __future__ import annotations


def run(args) -> int:
    import math

    import torch

    from seqlab.data.lm import CorpusLM
    from seqlab.recipe import load_trained
    from seqlab.train.losses import masked_loss, merge_metrics

    recipe, model = load_trained(args.run_dir)
    task = recipe.task
    model.eval()
    parts, state = [], None
    with torch.no_grad():
        if isinstance(task, CorpusLM):
            batches = task.eval_batches(args.batch_size, args.split)
        else:
            gens = (torch.Generator().manual_seed(2_000_000_011 + i) for i in range(recipe.train.eval_batches))
            batches = (task.sample(args.batch_size, g) for g in gens)
        for batch in batches:
            out, state = model(batch.x, state)
            parts.append(masked_loss(out, batch, task.loss_kind)[1])
            state = state if getattr(task, "stateful", False) else None
    metrics = merge_metrics(parts)
    line = f"{args.split}: loss {metrics['loss']:.4f}"
    if "accuracy" in metrics:
        line += f", accuracy {metrics['accuracy']:.4f}"
    if isinstance(task, CorpusLM):
        line += (f", perplexity {math.exp(metrics['loss']):.3f}, "
                 f"bits per character {task.bits_per_char(metrics['loss'], args.split):.4f}")
    print(line + f" ({metrics['count']:,} scored tokens)")
    return 0
