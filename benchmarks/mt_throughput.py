"""Training throughput of one translation recipe: target tokens/s and model-FLOPs utilization.

Variants: the plain (step-by-step) teacher-forced path and the fused one (weights collected
once per sequence, ``seqlab.nn.fused_decoder``; recurrent encoder-decoders only), each in
fp32 and under bf16 autocast (where the CPU has bf16 units). Each builds the recipe's model
from the same seed and trains on the same batches (tokenized once) with the one trainer's
own ``train_batch`` (forward, label-smoothed loss, backward, gradient check, clipping, Adam).
After ``--warmup`` steps the variants take turns for ``--rounds`` rounds of ``--steps`` steps,
and each round also times the machine's fp32 GEMM peak (``seqlab.bench.machine.gemm_flops``,
an n^3 product), so drift of a shared machine hits them alike. The table shows medians over
rounds: target tokens/s (with the min-max spread), achieved GFLOP/s and the fraction of the
same round's fp32 peak (model-FLOPs utilization).

FLOPs: counted with ``torch.utils.flop_counter`` (matrix products: mm, addmm, bmm, attention;
forward + backward) on every timed batch, once, through the fused fp32 path where the model
has one (torch's LSTM kernels are invisible to the counter; both paths do the same products),
padding positions included. ``--baseline N`` adds each variant's ratio to a throughput
measured elsewhere (e.g. another toolkit's model of the same shape on the same machine).

    python benchmarks/mt_throughput.py configs/mt-nt-bahdanau-lstm.toml --threads 2 --baseline 1100
    python benchmarks/mt_throughput.py configs/mt-nt-transformer.toml --set task.max_tokens=8192
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from seqlab.bench.machine import cpu_line, gemm_flops
from seqlab.build import build_translator
from seqlab.cli import Parser, at_least_one, one_line_errors
from seqlab.errors import SeqlabError
from seqlab.recipe import load_recipe
from seqlab.train import Trainer
from seqlab.train.device import cpu_has_bf16
from seqlab.translation.data import encode_split, fit_tokenizers, load_pairs
from seqlab.translation.task import TranslationTask

# name -> (fused path, recipe overrides)
VARIANTS = {"plain-fp32": (False, []), "fused-fp32": (True, []),
            "plain-bf16": (False, ["train.bf16=true"]), "fused-bf16": (True, ["train.bf16=true"])}


def prepare(recipe):
    """The recipe's training batches (tokenized once) and the two vocabulary sizes."""
    corpus = load_pairs(recipe.task)
    with tempfile.TemporaryDirectory(prefix="seqlab-tp-") as folder:
        src_tok, tgt_tok = fit_tokenizers(corpus, recipe.task, Path(folder))
    train = encode_split(corpus, "train", src_tok, tgt_tok, recipe.task.max_len)
    return TranslationTask(recipe.task, train, train, recipe.train.seed), (src_tok.vocab_size, tgt_tok.vocab_size)


def build(recipe, sizes: tuple[int, int], fused: bool):
    """The recipe's model from its seed, on the fused or the plain teacher-forced path."""
    torch.manual_seed(recipe.train.seed)
    model = build_translator(recipe.model, *sizes, 1024)
    if getattr(model, "has_fused", False):
        model.fused = fused
    return model


class Variant:
    """One model and its trainer on the shared batches, stepped a few at a time."""

    def __init__(self, name: str, recipe, task: TranslationTask, sizes: tuple[int, int]) -> None:
        self.name = name
        model = build(recipe, sizes, VARIANTS[name][0])
        self.params = sum(p.numel() for p in model.parameters())
        cfg = dataclasses.replace(recipe.train, device="cpu", progress=False)
        self.trainer = Trainer(model, task, cfg)
        self.rates, self.flop_rates, self.loss = [], [], float("nan")

    def run(self, steps: int, flops: dict[int, float]) -> tuple[float, float]:
        """Train ``steps`` batches; returns target tokens/s and matmul FLOP/s."""
        tokens, done, tic = 0, 0.0, time.perf_counter()
        for _ in range(steps):
            done += flops.get(self.trainer.step, float("nan"))
            metrics = self.trainer.train_batch()
            self.trainer.step += 1
            self.loss, tokens = metrics["loss"], tokens + metrics["targets"]
        seconds = time.perf_counter() - tic
        return tokens / seconds, done / seconds


def count_flops(recipe, task: TranslationTask, sizes: tuple[int, int], steps: range) -> dict[int, float]:
    """Matmul FLOPs (forward + backward) of each batch in ``steps``, through the fused fp32 path."""
    model = build(recipe, sizes, fused=True).train()
    flops = {}
    for step in steps:
        with FlopCounterMode(display=False) as counter:
            loss, _ = task.loss(model, task.batch_at(step))
            loss.backward()
        model.zero_grad(set_to_none=True)
        flops[step] = float(counter.get_total_flops())
    return flops


@one_line_errors("mt_throughput.py")
def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="mt_throughput.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("recipe", help="a translation recipe (TOML/YAML)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every variant")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated subset of {list(VARIANTS)}")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per variant")
    parser.add_argument("--steps", type=int, default=10, help="steps per variant per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--gemm", type=int, default=1024, help="n of the n^3 fp32 GEMM that measures the peak")
    parser.add_argument("--baseline", type=float, default=None, help="tokens/s to compare against")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)
    at_least_one(args, "threads", "steps", "rounds", "gemm")
    if args.warmup < 0:
        raise SeqlabError(f"--warmup must be at least 0, got {args.warmup}")
    if args.json and not Path(args.json).resolve().parent.is_dir():
        raise SeqlabError(f"--json {args.json}: the folder {Path(args.json).parent} does not exist")
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    print(cpu_line())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, recipe {args.recipe} {args.set or ''}")
    print(f"load average at start {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs")
    recipe = load_recipe(args.recipe, args.set)
    task, sizes = prepare(recipe)
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    if not getattr(build(recipe, sizes, False), "has_fused", False):
        names = [n for n in names if not VARIANTS[n][0]]
        print("fused variants left out: this model has no fused teacher-forced path")
    if not cpu_has_bf16() and any("bf16" in n for n in names):
        names = [n for n in names if "bf16" not in n]
        print("bf16 left out: this CPU has no bf16 units (AVX512-BF16 or AMX), so autocast would only emulate it")
    timed = range(args.warmup, args.warmup + args.rounds * args.steps)
    flops = count_flops(recipe, task, sizes, timed)
    variants = [Variant(n, load_recipe(args.recipe, [*args.set, *VARIANTS[n][1]]), task, sizes) for n in names]
    for v in variants:
        v.run(args.warmup, {})
    peaks = []
    for _ in range(args.rounds):
        peaks.append(gemm_flops(args.gemm, args.gemm, args.gemm, torch.float32, torch.device("cpu"), 1, 5)[0])
        for v in variants:
            rate, flop_rate = v.run(args.steps, flops)
            v.rates.append(rate)
            v.flop_rates.append(flop_rate)
    load = os.getloadavg()
    tokens = sum(task.batch_at(s).pairs.num_target_tokens for s in timed)
    print(f"load average at end {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; fp32 GEMM peak ({args.gemm}^3) median "
          f"{statistics.median(peaks) / 1e9:.1f} GFLOP/s (min-max {min(peaks) / 1e9:.1f}-{max(peaks) / 1e9:.1f}); "
          f"{sum(flops.values()) / tokens / 1e6:.1f} MFLOP per target token (flop_counter, fwd + bwd)")
    rows = []
    print(f"{'variant':11} {'params':>11} {'tgt tok/s':>10} {'min-max':>15} {'GFLOP/s':>8} {'of fp32 peak':>12} "
          f"{'last loss':>9}" + ("  vs baseline" if args.baseline else ""))
    for v in variants:
        med = statistics.median(v.rates)
        mfu = statistics.median(f / p for f, p in zip(v.flop_rates, peaks))
        rows.append({"variant": v.name, "parameters": v.params, "tokens_per_s": med, "rates": v.rates,
                     "flops_per_s": v.flop_rates, "peak_flops_per_s": peaks, "of_peak": mfu, "loss": v.loss,
                     "vs_baseline": med / args.baseline if args.baseline else None})
        line = (f"{v.name:11} {v.params:>11,} {med:>10,.0f} {min(v.rates):>7,.0f}-{max(v.rates):<7,.0f} "
                f"{statistics.median(v.flop_rates) / 1e9:>8.1f} {mfu:>12.2f} {v.loss:>9.3f}")
        print(line + (f"  {med / args.baseline:.2f}x" if args.baseline else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_line(), "recipe": args.recipe, "overrides": args.set, "threads": args.threads,
                                               "load_average_end": load, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
