"""Training throughput of one translation recipe: target tokens per second, fp32 vs bf16.

Each variant (fp32, and bf16 autocast) builds the recipe's model from the same seed and
trains on the same first batches (tokenized once) of the corpus with the one trainer's own
``train_batch`` (forward, label-smoothed loss, backward, gradient check, clipping, Adam). After ``--warmup`` steps, the
variants take turns for ``--rounds`` rounds of ``--steps`` steps each, so drift of the
machine hits them alike; the table shows the median tokens/s over rounds with the
min-max spread. ``--baseline N`` adds each variant's ratio to a throughput measured
elsewhere (e.g. another toolkit's model of the same shape on the same machine).

    python benchmarks/mt_throughput.py configs/mt-nt-bahdanau-lstm.toml --threads 2 --baseline 1100
    python benchmarks/mt_throughput.py configs/mt-nt-transformer.toml --set task.max_tokens=8192
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from seqlab.recipe import load_recipe
from seqlab.train import Trainer
from seqlab.train.device import cpu_has_bf16
from seqlab.build import build_translator
from seqlab.translation.data import encode_split, fit_tokenizers, load_pairs
from seqlab.translation.task import TranslationTask

VARIANTS = {"fp32": [], "bf16": ["train.bf16=true"]}


def prepare(recipe):
    """The recipe's training batches (tokenized once) and the two vocabulary sizes."""
    corpus = load_pairs(recipe.task)
    with tempfile.TemporaryDirectory(prefix="seqlab-tp-") as folder:
        src_tok, tgt_tok = fit_tokenizers(corpus, recipe.task, Path(folder))
    train = encode_split(corpus, "train", src_tok, tgt_tok, recipe.task.max_len)
    return TranslationTask(recipe.task, train, train, recipe.train.seed), (src_tok.vocab_size, tgt_tok.vocab_size)


class Variant:
    """One model and its trainer on the shared batches, stepped a few at a time."""

    def __init__(self, name: str, recipe, task: TranslationTask, sizes: tuple[int, int]) -> None:
        self.name = name
        torch.manual_seed(recipe.train.seed)
        model = build_translator(recipe.model, *sizes, 1024)
        self.params = sum(p.numel() for p in model.parameters())
        cfg = dataclasses.replace(recipe.train, device="cpu", progress=False)
        self.trainer = Trainer(model, task, cfg)
        self.rates, self.loss = [], float("nan")

    def run(self, steps: int) -> float:
        """Train ``steps`` batches; returns target tokens per second."""
        tokens, tic = 0, time.perf_counter()
        for _ in range(steps):
            metrics = self.trainer.train_batch()
            self.trainer.step += 1
            self.loss, tokens = metrics["loss"], tokens + metrics["targets"]
        return tokens / (time.perf_counter() - tic)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", help="a translation recipe (TOML/YAML)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every variant")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant")
    parser.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", type=float, default=None, help="tokens/s to compare against")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, recipe {args.recipe} {args.set or ''}")
    task, sizes = prepare(load_recipe(args.recipe, args.set))  # the variants differ in precision only
    names = [name for name in VARIANTS if name != "bf16" or cpu_has_bf16()]
    if "bf16" not in names:
        print("bf16 left out: this CPU has no bf16 units (AVX512-BF16 or AMX), so autocast would only emulate it")
    variants = [Variant(name, load_recipe(args.recipe, [*args.set, *VARIANTS[name]]), task, sizes)
                for name in names]
    for v in variants:
        v.run(args.warmup)
    for _ in range(args.rounds):
        for v in variants:
            v.rates.append(v.run(args.steps))
    rows = []
    print(f"{'variant':8} {'params':>11} {'tgt tok/s':>10} {'min-max':>15} {'last loss':>9}"
          + ("  vs baseline" if args.baseline else ""))
    for v in variants:
        med = statistics.median(v.rates)
        rows.append({"variant": v.name, "parameters": v.params, "tokens_per_s": med, "rates": v.rates,
                     "loss": v.loss, "vs_baseline": med / args.baseline if args.baseline else None})
        line = f"{v.name:8} {v.params:>11,} {med:>10,.0f} {min(v.rates):>7,.0f}-{max(v.rates):<7,.0f} {v.loss:>9.3f}"
        print(line + (f"  {med / args.baseline:.2f}x" if args.baseline else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"recipe": args.recipe, "overrides": args.set,
                                               "threads": args.threads, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
