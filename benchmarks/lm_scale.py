"""A language model on text files of any size: peak resident memory and tokens/s.

For each size it writes (once) a text file of that many MB under --dir: lines drawn with
seed 0 from the bsb_en train split's verses. Then a fresh process per file trains the
recipe configs/lm-bsb-char-lstm.toml on it for --steps steps, with its own cache
(--dir/cache), and reports: the seconds to check the file (one pass: UTF-8, NUL bytes,
SHA-256), to fit the tokenizer (on at most 32 MB of the train split), to tokenize train
and dev into token files, the training tokens/s (scored tokens / seconds in training
batches), and the process's peak resident memory (``ru_maxrss``) after the data are
ready and at the end. A fresh process per file keeps one file's peak out of the other's.

    python benchmarks/lm_scale.py --sizes-mb 20,2100 --steps 300 --dir /tmp/lm-scale --clean
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "configs" / "lm-bsb-char-lstm.toml"


def write_text(path: Path, megabytes: float) -> None:
    """Lines drawn with seed 0 from bsb_en's train verses until the file holds ``megabytes`` MB."""
    from seqlab.data.corpora import load_corpus

    if path.is_file() and path.stat().st_size >= megabytes * 1e6:
        return
    verses, rng = load_corpus("bsb_en").texts("train"), random.Random(0)
    tmp, size = path.with_suffix(".tmp"), 0
    with open(tmp, "w", encoding="utf-8") as fh:
        while size < megabytes * 1e6:
            block = "".join(rng.choice(verses) + "\n" for _ in range(5000))
            fh.write(block)
            size += len(block.encode("utf-8"))
    os.replace(tmp, path)


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child(path: str, steps: int, threads: int) -> dict:
    """Prepare the data and train in this process; the measurements as a dict."""
    import torch

    from seqlab.build import build_model
    from seqlab.recipe import load_recipe
    from seqlab.train import Trainer

    torch.set_num_threads(threads)
    recipe = load_recipe(RECIPE, [f"task.corpus={path}", f"train.steps={steps}", "train.progress=false",
                                  "train.max_minutes=1000", "task.eval_chars=20000"])
    task, marks = recipe.task, [time.perf_counter()]
    _ = task.source  # the check pass
    marks.append(time.perf_counter())
    _ = task.tokenizer_obj
    marks.append(time.perf_counter())
    task.prepare(recipe.train.batch_size)
    marks.append(time.perf_counter())
    ready = peak_mb()
    torch.manual_seed(recipe.train.seed)
    result = Trainer(build_model(recipe.model, task), task, recipe.train).fit()
    train_file = task.token_file("train")
    return {"file": path, "mb": os.path.getsize(path) / 1e6, "train_tokens": train_file.tokens,
            "token_file_mb": train_file.ids.nbytes / 1e6, "check_s": marks[1] - marks[0],
            "fit_s": marks[2] - marks[1], "tokenize_s": marks[3] - marks[2], "steps": result.steps,
            "tokens_per_s": result.targets / result.train_seconds, "peak_mb_data_ready": ready,
            "peak_mb_end": peak_mb(), "threads": threads}


def run_child(path: Path, args) -> dict:
    env = {**os.environ, "SEQLAB_CACHE": str(Path(args.dir) / "cache"), "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, __file__, "--child", str(path), "--steps", str(args.steps), "--threads", str(args.threads)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"lm_scale: the run on {path} failed: {proc.stderr.strip().splitlines()[-1:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[dict]) -> str:
    head = (f"{'file MB':>9} {'train tokens':>14} {'check s':>8} {'fit s':>6} {'tokenize s':>11} "
            f"{'tokens/s':>9} {'peak MB ready':>14} {'peak MB end':>12}")
    lines = [head] + [f"{r['mb']:>9,.0f} {r['train_tokens']:>14,} {r['check_s']:>8.1f} {r['fit_s']:>6.1f} "
                      f"{r['tokenize_s']:>11.1f} {r['tokens_per_s']:>9,.0f} {r['peak_mb_data_ready']:>14,.0f} "
                      f"{r['peak_mb_end']:>12,.0f}" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes-mb", default="20,2100", help="text file sizes in MB, comma-separated")
    parser.add_argument("--steps", type=int, default=300, help="training steps on each file")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dir", default="runs/lm-scale", help="where the text files and the cache go")
    parser.add_argument("--json", default=None, help="also write the rows as JSON")
    parser.add_argument("--clean", action="store_true", help="delete the text files and the cache afterwards")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.steps, args.threads)))
        return 0
    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    try:
        for size in [float(s) for s in args.sizes_mb.split(",")]:
            path = folder / f"text-{size:g}mb.txt"
            write_text(path, size)
            rows.append(run_child(path, args))
            print(table(rows[-1:]) if len(rows) == 1 else table(rows).splitlines()[-1], flush=True)
    finally:
        if args.clean:
            shutil.rmtree(folder, ignore_errors=True)
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
