"""seqlab beside the toolkit users would pick instead, on the same machine, data, shapes and threads.

For each translation recipe (default: the 2-layer LSTM Bahdanau model and the Transformer
on Greek -> English NT), the anchor toolkit (Joey NMT, pinned, in a virtual environment of
its own that this script creates: never seqlab's ``.venv``) and seqlab each train the same
shape for the same wall-clock budget (``--minutes`` of training loop, start-up and the
final decoding left out), one after the other, the order alternating from recipe to
recipe (A B, then B A) so a drift of a shared machine hits both toolkits alike. Both read
the same corpus split (``seqlab.data.corpora.load_corpus("nt_el_en")``), the same
SentencePiece pieces (seqlab's fitted tokenizers, see ``joey.py``), and run on the same
number of threads (``torch.set_num_threads`` here, ``OMP_NUM_THREADS`` for Joey).

Reported per run: target tokens/s (each toolkit's own count: Joey's logged rate, median
over windows of 10 updates; seqlab's trainer's target tokens over its time in batches),
seconds per update (the budget over the updates done, measured here for both alike),
and dev BLEU after the budget (greedy, the first ``task.eval_sentences`` dev pairs,
scored for both by ``seqlab.metrics.bleu`` on detokenized text).

    python benchmarks/anchors/anchors.py --minutes 10 --threads 2 --json runs/anchors/anchors.json
    python benchmarks/anchors/anchors.py --minutes 0.5 configs/mt-nt-transformer.toml   # a smoke run

If the toolkit cannot be installed or run, the script says exactly why (pip's or the
toolkit's own last lines) and exits 1.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import joey  # noqa: E402  (this folder's Joey adapter)

from seqlab.bench.machine import cpu_line  # noqa: E402
from seqlab.metrics import bleu  # noqa: E402
from seqlab.recipe import load_recipe  # noqa: E402
from seqlab.translation.data import fit_tokenizers, load_pairs  # noqa: E402
from seqlab.translation.loop import train_translator  # noqa: E402

RECIPES = ["configs/mt-nt-bahdanau-lstm.toml", "configs/mt-nt-transformer.toml"]
TORCH = "torch==2.13.0"  # installed first, so that the toolkit's own requirement pulls no other torch


class ToolkitError(RuntimeError):
    """The toolkit could not be installed or run; the message says why."""


def _tail(text: str, lines: int = 6) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _pip(venv: Path, *args: str) -> None:
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", *args],
                          capture_output=True, text=True)
    if done.returncode:
        raise ToolkitError(f"pip install {' '.join(args)} failed:\n{_tail(done.stderr or done.stdout)}")


def setup_venv(venv: Path, package: str, version: str, fixes: list[tuple[str, str]]) -> Path:
    """A virtual environment with torch (the pinned CPU wheel), then ``package==version``, then
    ``fixes``: (requirement, why) for what the toolkit needs beyond what it declares."""
    wanted = "\n".join([TORCH, f"{package}=={version}", *(r for r, _ in fixes)])
    stamp = venv / "anchor-requirements.txt"  # written after a complete install: a re-run skips pip
    if stamp.is_file() and stamp.read_text() == wanted:
        return venv / "bin" / "python"
    if not (venv / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    _pip(venv, TORCH)
    _pip(venv, f"{package}=={version}")
    for requirement, why in fixes:
        print(f"installing {requirement}: {why}")
        _pip(venv, requirement)
    probe = subprocess.run([str(venv / "bin" / "python"), "-c", "import joeynmt.training, joeynmt.prediction"],
                           capture_output=True, text=True)
    if probe.returncode:
        raise ToolkitError(f"{package} {version} installed but does not import:\n{_tail(probe.stderr)}")
    stamp.write_text(wanted)
    return venv / "bin" / "python"


def thread_env(threads: int) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONPATH": ""}


class _Reader(threading.Thread):
    """Collects a child's output lines and notes when its training loop starts."""

    def __init__(self, stream) -> None:
        super().__init__(daemon=True)
        self.stream, self.lines, self.started = stream, [], threading.Event()

    def run(self) -> None:
        for line in self.stream:
            self.lines.append(line.rstrip("\n"))
            if joey.START_LINE in line:
                self.started.set()
        self.started.set()  # the child ended: stop waiting either way


def run_joey(python: Path, cfg: dict, folder: Path, minutes: float, threads: int, refs: list[str]) -> dict:
    """Joey's training for ``minutes`` after its loop starts (then SIGINT: it saves its weights),
    then greedy decoding of the dev pairs from those weights."""
    train_cfg = joey.write_config(cfg, folder / "train.yaml")
    child = subprocess.Popen([str(python), "-m", "joeynmt", "train", str(train_cfg), "--skip-test"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=thread_env(threads),
                             preexec_fn=_default_sigint)
    reader = _Reader(child.stdout)
    reader.start()
    reader.started.wait(timeout=1800)
    tic = time.perf_counter()
    if child.poll() is not None:
        raise ToolkitError(f"Joey's training ended before its loop started:\n{_tail(chr(10).join(reader.lines), 12)}")
    while time.perf_counter() - tic < 60 * minutes and child.poll() is None:
        time.sleep(0.2)
    interrupt(child)
    seconds = time.perf_counter() - tic  # a swallowed interrupt's extra minute shows here
    reader.join()
    stats = joey.parse_train_log(reader.lines)
    if not stats["updates"]:
        raise ToolkitError(f"Joey trained no update:\n{_tail(chr(10).join(reader.lines), 12)}")
    hyps = decode_joey(python, cfg, folder, threads)
    params = next((int(line.split("Total params:")[1].split()[0].rstrip(","))
                   for line in reader.lines if "Total params:" in line), None)
    return {"tokens_per_s": stats["tokens_per_s"], "updates": stats["updates"], "train_seconds": seconds,
            "parameters": params, "dev_bleu": bleu(hyps, refs).score, "rates": stats["rates"]}


def _default_sigint() -> None:
    """In the child before exec: SIGINT back to its default action. A script started in the
    background (``nohup ... &``) inherits SIGINT ignored, and so would Joey; Python only turns
    SIGINT into KeyboardInterrupt (Joey's signal to save and stop) when it is not ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt(child: subprocess.Popen, tries: int = 5, wait_s: float = 60.0) -> None:
    """SIGINT until the child ends (Joey saves its weights on KeyboardInterrupt). A signal that
    lands while Joey is outside its training loop can be swallowed there, and training goes on:
    send it again after ``wait_s``; after ``tries`` signals, stop the child and say so."""
    for _ in range(tries):
        if child.poll() is not None:
            return
        child.send_signal(signal.SIGINT)
        try:
            child.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue
    child.kill()
    child.wait()
    raise ToolkitError(f"Joey did not stop after {tries} interrupts, {wait_s:g} s apart")


def decode_joey(python: Path, cfg: dict, folder: Path, threads: int) -> list[str]:
    """Joey's greedy translations of its dev file from the weights it saved at the interrupt."""
    test_cfg = dict(cfg, testing={**cfg["testing"], "load_model": str(Path(cfg["model_dir"]) / "latest.ckpt")})
    path = joey.write_config(test_cfg, folder / "test.yaml")
    done = subprocess.run([str(python), "-m", "joeynmt", "test", str(path), "--output-path", str(folder / "hyps")],
                          capture_output=True, text=True, env=thread_env(threads))
    if done.returncode or not (folder / "hyps.dev").is_file():
        raise ToolkitError(f"Joey's decoding failed:\n{_tail(done.stderr or done.stdout, 12)}")
    return joey.read_hypotheses(folder / "hyps.dev")


def run_seqlab(recipe, folder: Path, minutes: float) -> dict:
    """seqlab's trainer for ``minutes`` (its own time budget), one evaluation at the end."""
    train = dataclasses.replace(recipe.train, max_minutes=minutes, eval_every_minutes=None, eval_every=10**9,
                                device="cpu", progress=False)
    result = train_translator(dataclasses.replace(recipe, train=train), folder, log=lambda _: None, overwrite=True)
    return {"tokens_per_s": result.targets_per_second, "updates": result.steps, "train_seconds": result.wall_time,
            "parameters": None, "dev_bleu": result.final.get("dev_bleu", float("nan"))}


def prepare(recipe, out: Path) -> dict:
    """The corpus in Joey's format, seqlab's fitted tokenizers and their vocabulary files."""
    corpus = load_pairs(recipe.task)
    tokenizers = fit_tokenizers(corpus, recipe.task, out / "tokenizers")
    data = joey.write_corpus(corpus, out / "data", "el", "en", recipe.task.eval_sentences)
    vocabs = [out / "data" / f"vocab.{lang}" for lang in ("el", "en")]
    sizes = [joey.write_vocab(t, v) for t, v in zip(tokenizers, vocabs)]
    dev = corpus.splits["dev"][: recipe.task.eval_sentences]
    longest = max(len(tokenizers[0].encode(p.src)) for p in dev)
    return {"data": data, "tokenizers": tokenizers, "vocabs": vocabs, "sizes": sizes,
            "refs": [p.tgt for p in dev], "max_output_length": int(recipe.task.max_len_ratio * longest) + 1}


def one_recipe(path: str, index: int, python: Path, args, out: Path) -> list[dict]:
    recipe = load_recipe(path)
    name = Path(path).stem
    shared = prepare(recipe, out)
    cfg = joey.config(recipe, name, shared["data"], shared["tokenizers"], shared["vocabs"],
                      out / "joey" / name / "model", recipe.train.seed, shared["max_output_length"])
    (out / "joey" / name).mkdir(parents=True, exist_ok=True)
    runs = {"joey": lambda: run_joey(python, cfg, out / "joey" / name, args.minutes, args.threads, shared["refs"]),
            "seqlab": lambda: run_seqlab(recipe, out / "seqlab" / name, args.minutes)}
    order = ["joey", "seqlab"] if index % 2 == 0 else ["seqlab", "joey"]
    rows = []
    for toolkit in order:
        load = os.getloadavg()[0]
        row = runs[toolkit]()
        rows.append({"toolkit": toolkit, "model": name, "vocab": shared["sizes"], "load_before": load,
                     "seconds_per_update": row["train_seconds"] / row["updates"], **row})
        print(render([rows[-1]], header=False), flush=True)
    return rows


def render(rows: list[dict], header: bool = True) -> str:
    head = "| toolkit | model | updates | tgt tok/s | s/update | dev BLEU | train min | load before |\n|" + "---|" * 8
    lines = [f"| {r['toolkit']} | {r['model']} | {r['updates']:,} | {r['tokens_per_s']:,.0f} | "
             f"{r['seconds_per_update']:.3f} | {r['dev_bleu']:.2f} | {r['train_seconds'] / 60:.1f} | "
             f"{r['load_before']:.2f} |" for r in rows]
    return "\n".join(([head] if header else []) + lines)


def ratios(rows: list[dict]) -> str:
    lines = []
    for model in dict.fromkeys(r["model"] for r in rows):
        by = {r["toolkit"]: r for r in rows if r["model"] == model}
        if {"joey", "seqlab"} <= by.keys():
            s, j = by["seqlab"], by["joey"]
            lines.append(f"{model}: seqlab / Joey target tok/s {s['tokens_per_s'] / j['tokens_per_s']:.2f}x, "
                         f"s/update {s['seconds_per_update'] / j['seconds_per_update']:.2f}x, "
                         f"dev BLEU {s['dev_bleu']:.2f} vs {j['dev_bleu']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="*", default=RECIPES, help="seqlab translation recipes (bahdanau LSTM, transformer)")
    parser.add_argument("--minutes", type=float, default=10.0, help="training wall-clock budget of each run")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="runs/anchors", help="virtual environment, data and runs go here")
    parser.add_argument("--json", default=None, help="write the rows here")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out).resolve()
    print(cpu_line())
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()} (Joey: OMP_NUM_THREADS={args.threads}), "
          f"{args.minutes:g} training minutes per run, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    try:
        python = setup_venv(out / "venv", "joeynmt", joey.VERSION, joey.FIXES)
        print(f"Joey NMT {joey.VERSION} in {out / 'venv'}")
        rows = [r for i, path in enumerate(args.recipes) for r in one_recipe(path, i, python, args, out)]
    except ToolkitError as err:
        print(f"anchor toolkit unusable here: {err}", file=sys.stderr)
        return 1
    print("\n" + render(rows) + "\n\n" + ratios(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"cpu": cpu_line(), "threads": args.threads, "minutes": args.minutes,
                                               "joeynmt": joey.VERSION, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
