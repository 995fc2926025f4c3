"""Per-step time of the first training steps of a translation recipe, before and after the stall fix.

On an H200 with torch 2.11 the NT Transformer's first ~40 steps took ~0.7 s each, then ~0.03 s.
The suspected cause: for every new padded batch shape, the attention that torch prefers on
Hopper GPUs (cuDNN's) builds a kernel graph. Each mode trains the recipe's model for ``--steps``
steps in a fresh process (so no mode inherits another's warm caches) and records the time of
every step (synchronized, so a step's kernels are inside its time):

    before   attention as before the fix: explicit bool masks, torch's own kernel choice, no padding
    kernels  the fix's kernel choice only: flash / memory-efficient / math, is_causal; no padding
    after    the fix as shipped: that kernel choice, and S and T padded to multiples of 8

    PYTHONPATH=src python scripts/stall_probe.py --out runs/stall            # every mode, table at the end
    PYTHONPATH=src python scripts/stall_probe.py --mode before --steps 100   # one mode

Writes ``<out>/<mode>.json`` (the step times and the device) and prints, per mode, the mean
step time over steps 1-10, 11-40 and 41-N, the median over the last half, and the sum of all.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("before", "kernels", "after")


def train_once(recipe_path: str, mode: str, steps: int, device: str, overrides: list[str] = ()) -> dict:
    """Train ``steps`` steps in ``mode``; returns {"mode", "device", "times": [seconds per step], ...}."""
    import torch

    from seqlab.build import build_translator
    from seqlab.nn import transformer as tf
    from seqlab.recipe import load_recipe
    from seqlab.train import Trainer
    from seqlab.translation.data import encode_split, fit_tokenizers, load_pairs
    from seqlab.translation.task import TranslationTask

    recipe = load_recipe(recipe_path, list(overrides))
    corpus = load_pairs(recipe.task)
    with tempfile.TemporaryDirectory(prefix="seqlab-stall-") as folder:
        src_tok, tgt_tok = fit_tokenizers(corpus, recipe.task, Path(folder))
    train = encode_split(corpus, "train", src_tok, tgt_tok, recipe.task.max_len)
    task = TranslationTask(recipe.task, train, train, recipe.train.seed)
    torch.manual_seed(recipe.train.seed)
    model = build_translator(recipe.model, src_tok.vocab_size, tgt_tok.vocab_size, 1024)
    if mode in ("before", "kernels") and hasattr(model, "pad_multiple"):
        model.pad_multiple = 1
    if mode == "before":
        tf.on_cuda_kernels = lambda t: False  # the explicit-mask path, torch's default kernel choice
    cfg = dataclasses.replace(recipe.train, steps=steps, max_minutes=None, eval_every=10**9, eval_every_minutes=None,
                              early_stop_patience=None, checkpoint_every=0, progress=False, device=device)
    dev = torch.device(device if device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu"))
    times: list[float] = []
    reserved: list[float] = []  # MiB the CUDA caching allocator holds after each step (growth = new blocks)

    class Clock:
        def __init__(self) -> None:
            self.last = None

        def on_step(self, trainer, step, metrics) -> None:
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
                reserved.append(torch.cuda.memory_reserved(dev) / 2**20)
            now = time.perf_counter()
            times.append(now - self.last)
            self.last = now

    clock = Clock()
    trainer = Trainer(model, task, cfg, callbacks=[clock])
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    clock.last = time.perf_counter()
    trainer.fit()
    shapes = []  # (B, S, T) of each step's batch, as collated (before the model pads)
    for s in range(steps):
        pairs = task.batch_at(s).pairs
        shapes.append((pairs.src.size(0), pairs.src.size(1), pairs.tgt_in.size(1)))
    seen, new = set(), []
    for shape in shapes:
        new.append(shape not in seen)
        seen.add(shape)
    return {"mode": mode, "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "torch": torch.__version__, "recipe": recipe_path, "steps": steps, "bf16": cfg.bf16,
            "distinct_batch_shapes": len(seen), "times": times, "shapes": shapes, "new_shape": new,
            "reserved_mib": reserved}


def summary(run: dict) -> str:
    """Mean step time over steps 1-10, 11-40, 41-N; the last half's median; steps with a batch shape not
    seen before against the others (the stall's signature, if it is per shape)."""
    t = run["times"]
    parts = [(f"steps 1-{min(10, len(t))}", t[:10]), ("11-40", t[10:40]), (f"41-{len(t)}", t[40:])]
    means = ", ".join(f"{name} {1e3 * statistics.fmean(x):.1f} ms" for name, x in parts if x)
    line = (f"{run['mode']:8s} mean {means}; median of the last half {1e3 * statistics.median(t[len(t) // 2:]):.1f}"
            f" ms; all {sum(t):.1f} s ({run['distinct_batch_shapes']} distinct batch shapes)")
    new = run.get("new_shape")
    if new and any(new) and not all(new):
        fresh = [x for x, n in zip(t, new) if n]
        seen = [x for x, n in zip(t, new) if not n]
        line += (f"; new shape {1e3 * statistics.median(fresh):.1f} ms vs seen {1e3 * statistics.median(seen):.1f} ms"
                 " (medians)")
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipe", default="configs/mt-nt-transformer.toml")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--mode", choices=(*MODES, "all"), default="all")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--out", type=Path, default=Path("runs/stall"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override (repeatable)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.mode != "all":
        run = train_once(args.recipe, args.mode, args.steps, args.device, args.set)
        (args.out / f"{args.mode}.json").write_text(json.dumps(run, indent=1) + "\n")
        print(summary(run), flush=True)
        return 0
    status = 0
    for mode in MODES:  # one process each: no mode starts with another's caches
        sets = [word for item in args.set for word in ("--set", item)]
        done = subprocess.run([sys.executable, __file__, "--recipe", args.recipe, "--steps", str(args.steps),
                               "--mode", mode, "--device", args.device, "--out", str(args.out), *sets])
        status = status or done.returncode
    print(f"first {args.steps} steps of {args.recipe}, per mode (from {args.out}/<mode>.json):")
    for mode in MODES:
        path = args.out / f"{mode}.json"
        if path.is_file():
            run = json.loads(path.read_text())
            print(f"  {summary(run)}  [{run['device']}, torch {run['torch']}]")
    return status


if __name__ == "__main__":
    sys.exit(main())
