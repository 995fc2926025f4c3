"""Training throughput of one translation recipe: target tokens per second, fp32 vs bf16.

Each variant (fp32, and bf16 autocast) builds the recipe's model from the same seed and
trains on the same first batches (tokenized once) of the corpus with the training loop's own step
(forward, label-smoothed loss, backward, clipping, Adam). After ``--warmup`` steps, the
variants take turns for ``--rounds`` rounds of ``--steps`` steps each, so drift of the
machine hits them alike; the table shows the median tokens/s over rounds with the
min-max spread. ``--baseline N`` adds each variant's ratio to a throughput measured
elsewhere (e.g. another toolkit's model of the same shape on the same machine).

    python benchmarks/mt_throughput.py configs/mt-nt-bahdanau-lstm.toml --threads 2 --baseline 1100
    python benchmarks/mt_throughput.py configs/mt-nt-transformer.toml --set train.max_tokens=8192
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from seqlab.data.batching import PairBatcher
from seqlab.train.device import cpu_has_bf16
from seqlab.translation.build import build_translator
from seqlab.translation.config import load_mt_recipe
from seqlab.translation.data import encode_split, fit_tokenizers, load_pairs
from seqlab.translation.loop import lr_factor, train_step

VARIANTS = {"fp32": [], "bf16": ["train.bf16=true"]}


def prepare(recipe, batches: int):
    """The first ``batches`` tokenized training batches of the recipe's corpus and the two vocabulary sizes."""
    corpus = load_pairs(recipe.data)
    with tempfile.TemporaryDirectory(prefix="seqlab-tp-") as folder:
        src_tok, tgt_tok = fit_tokenizers(corpus, recipe.data, Path(folder))
        train = encode_split(corpus, "train", src_tok, tgt_tok, recipe.data.max_len)
    epoch = PairBatcher(train.src, train.tgt, recipe.train.max_tokens, recipe.train.seed).epoch(0)
    return [b for _, b in zip(range(batches), epoch)], (src_tok.vocab_size, tgt_tok.vocab_size)


class Variant:
    """One model + optimizer on the shared batches, stepped a few at a time."""

    def __init__(self, name: str, recipe, batches: list, sizes: tuple[int, int]) -> None:
        self.name, self.recipe, self.batches = name, recipe, batches
        torch.manual_seed(recipe.train.seed)
        self.model = build_translator(recipe.model, *sizes, 1024)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.opt = torch.optim.Adam(self.model.parameters(), lr=recipe.train.lr, betas=(0.9, 0.98))
        warm = recipe.train.warmup_steps
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lambda s: lr_factor(s, warm))
        self.next, self.rates, self.loss = 0, [], float("nan")
        self.model.train()

    def run(self, steps: int) -> float:
        """Train ``steps`` batches; returns target tokens per second."""
        tokens, tic = 0, time.perf_counter()
        for _ in range(steps):
            batch = self.batches[self.next % len(self.batches)]
            self.next += 1
            self.loss = train_step(self.model, batch, self.opt, self.sched, self.recipe.train, torch.device("cpu"))
            tokens += batch.num_target_tokens
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
    pool = args.warmup + args.steps * args.rounds
    batches, sizes = prepare(load_mt_recipe(args.recipe, args.set), pool)  # the variants differ in precision only
    names = [name for name in VARIANTS if name != "bf16" or cpu_has_bf16()]
    if "bf16" not in names:
        print("bf16 left out: this CPU has no bf16 units (AVX512-BF16 or AMX), so autocast would only emulate it")
    variants = [Variant(name, load_mt_recipe(args.recipe, [*args.set, *VARIANTS[name]]), batches, sizes)
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
