"""Inputs that once ended in a Python traceback, run as a user runs them: none may now.

Each case is a seqlab command (or a benchmark script) given an input that is wrong, too
large, or damaged: an out-of-range seed or task key, sizes no memory holds, bytes that are
not UTF-8, a corrupted tokenizer, a full disk while checkpointing, a ``result.json`` with a
field of the wrong type, a missing file. The rule: exit 0, or exit 2 with exactly one line
on stderr that names the problem (``expect``), and never a traceback.

    PYTHONPATH=src python scripts/traceback_probe.py                 # each case in its own process
    PYTHONPATH=src python scripts/traceback_probe.py --in-process    # all in this process (what the test runs)

It builds what the cases need in a temporary folder (or ``--work DIR``): tiny recipes, a
translation run with a unigram tokenizer, a language-model run (own process only; in one
process the seed is refused before the run is read), a claims folder per bad field. It prints
one line per case and, last, the number of tracebacks and of broken rules; exit 0 when both
are 0. The full disk is a 20 kB file-size limit (RLIMIT_FSIZE) on the resumed run in its own
process, and a write that fails with ENOSPC in one process.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
TASK = ('[task]\nname = "{name}"\n{task}[model]\narch = "lstm"\nhidden_size = 8\n'
        '[train]\nsteps = 2\nbatch_size = 4\nprogress = false\n')
MT = ('[task]\nname = "translation"\ncorpus = "numbers"\ntokenizer = "unigram"\nsrc_vocab = 300\ntgt_vocab = 300\n'
      'numbers_size = 200\nnumbers_max_words = 4\nmax_tokens = 400\neval_sentences = 4\n'
      '[model]\narch = "transformer"\nhidden = 16\nlayers = 1\nheads = 2\nff = 32\n'
      '[train]\nsteps = 2\neval_every = 2\ndevice = "cpu"\nprogress = false\n')
LM = ('[task]\nname = "lm"\ncorpus = "bsb_en"\nseq_len = 16\neval_chars = 2000\n'
      '[model]\narch = "lstm"\nhidden_size = 16\nembed_dim = 8\n[train]\nsteps = 2\nbatch_size = 4\nprogress = false\n')
BAD_FIELDS = [("wall_time", None), ("wall_time", "slow"), ("seeds", 5), ("gates", "ab"), ("machine", "abc"),
              ("claim_id", 5), ("tables", [{"title": "t", "columns": ["a"], "rows": 5}]),
              ("tables", [{"title": "t", "columns": ["a"], "rows": [5]}])]


@dataclass
class Case:
    """One input: the command line (``seqlab`` words, or ``benchmarks/X.py`` and its words), the
    text its error line must hold, and an optional check of what it left behind."""

    label: str
    argv: list
    expect: str | None
    check: Callable[[], str | None] | None = None
    full_disk: bool = False


def cases(work: Path, in_process: bool) -> list[Case]:
    recipes = {name: work / f"{name}.toml" for name in ("adding", "copy", "recall")}
    mt, bad_mt, claims = work / "mt", work / "mt-bad-spm", work / "claims"
    lm = work / "mt" if in_process else work / "lm"  # the seed is refused before the run is read
    huge_seed = "99999999999999999999"

    def train(name: str, *sets: str, expect: str) -> Case:
        argv = ["train", str(recipes[name]), "--out", str(work / "runs" / name), "--overwrite"]
        for item in sets:
            argv += ["--set", item]
        return Case(f"train {name} {' '.join(sets)}", argv, expect)

    out = [
        train("adding", f"train.seed={huge_seed}", expect="train.seed"),
        Case(f"generate --seed {huge_seed}", ["generate", str(lm), "--seed", huge_seed], "seed"),
        train("adding", "task.length=0", expect="task.length"),
        train("adding", "task.length=-1", expect="task.length"),
        train("copy", "task.alphabet=0", expect="task.alphabet"),
        train("copy", "task.num_symbols=-3", expect="task.num_symbols"),
        train("copy", "task.delay=-3", "task.num_symbols=1", expect="task.delay"),
        train("recall", "task.num_pairs=0", expect="task.num_pairs"),
        train("recall", "task.num_pairs=-1", expect="task.num_pairs"),
        train("recall", "task.num_pairs=100", expect="task.num_pairs"),
        train("recall", "task.num_keys=0", expect="task.num_keys"),
        train("recall", "task.num_keys=1", expect="task.num_keys"),
        train("recall", "task.num_values=0", expect="task.num_values"),
        train("adding", "task.length=4000000000", expect="needs at least"),
        train("adding", "model.hidden_size=65536", expect="needs at least"),
        train("adding", "train.batch_size=1000000000000", expect="needs at least"),
        Case("translate RUN $'one \\xff'", ["translate", str(mt), b"one \xff" if not in_process else "one \udcff"],
             "not UTF-8"),
        Case("translate with a corrupted spm.model", ["translate", str(bad_mt), "seven"], "damaged"),
        Case("disk full while writing a checkpoint",
             ["train", str(recipes["adding"]), "--out", str(work / "full"), "--resume", "--set", "train.steps=4",
              "--set", "model.hidden_size=64"], "cannot write checkpoint", check=lambda: _intact(work / "full"),
             full_disk=True),
    ]
    for i, (key, value) in enumerate(BAD_FIELDS):
        folder = claims / str(i)
        out.append(Case(f"report, result.json with {key} = {json.dumps(value)}", ["report", str(folder),
                        "--out", str(work / f"report-{i}.html")], key))
    out.append(Case("mt_table.py --merge on a missing file", ["benchmarks/mt_table.py", "--merge",
                    str(work / "missing.json"), "--out", str(work / "merged")], "No such file"))
    return out


def _intact(run: Path) -> str | None:
    """The rule for a full disk: the checkpoint before it is still there and intact."""
    from seqlab.train.checkpoint import check_manifest, checkpoints

    found = [p.name for _, p in checkpoints(run)]
    if found != ["ckpt-00000002"]:
        return f"checkpoints left: {found}"
    return check_manifest(run / "ckpt-00000002")


# ----------------------------------------------------------------------------- what the cases need
def prepare(work: Path, in_process: bool) -> None:
    """Recipes, a translation run and its copy with a corrupted tokenizer, the claims folders, the
    run that the full disk stops (two steps done), and (own processes only) a language-model run."""
    (work / "adding.toml").write_text(TASK.format(name="adding", task="length = 6\n"))
    (work / "copy.toml").write_text(TASK.format(name="copy", task="delay = 4\nnum_symbols = 2\n"))
    (work / "recall.toml").write_text(TASK.format(name="recall", task="num_pairs = 2\n"))
    (work / "mt.toml").write_text(MT)
    _seqlab(["train", str(work / "mt.toml"), "--out", str(work / "mt")], in_process)
    shutil.copytree(work / "mt", work / "mt-bad-spm")
    for model in (work / "mt-bad-spm" / "tokenizers").rglob("spm.model"):
        data = bytearray(model.read_bytes())
        data[: len(data) // 2] = bytes(len(data) // 2)  # the first half zeroed: no longer a model
        model.write_bytes(bytes(data))
    _seqlab(["train", str(work / "adding.toml"), "--out", str(work / "full"), "--set", "model.hidden_size=64"],
            in_process)
    if not in_process:
        (work / "lm.toml").write_text(LM)
        _seqlab(["train", str(work / "lm.toml"), "--out", str(work / "lm")], in_process)
    _claims(work / "claims")


def _claims(root: Path) -> None:
    from seqlab.experiments.core.base import finish, new_result

    good = new_result("C1", "a claim", "a setup", "quick", {"T": 10})
    good.add_table("t", ["a"], [[1]])
    data = finish(good, "confirmed", "rule", "numbers", "headline").to_dict()
    for i, (key, value) in enumerate(BAD_FIELDS):
        (root / str(i) / "C1").mkdir(parents=True)
        (root / str(i) / "C1" / "result.json").write_text(json.dumps({**data, key: value}))


def _seqlab(argv: list, in_process: bool) -> None:
    code, _, err = run_case(argv, in_process)
    if code != 0:
        raise SystemExit(f"setting up failed: seqlab {' '.join(map(str, argv))}: {err}")


# ----------------------------------------------------------------------------- running a case
def run_case(argv: list, in_process: bool, full_disk: bool = False) -> tuple[int, str, str]:
    """(exit status, stdout, stderr) of one command line."""
    if in_process:
        return _in_process(argv, full_disk)
    script = isinstance(argv[0], str) and argv[0].startswith("benchmarks/")
    cmd = [sys.executable, str(ROOT / argv[0]), *argv[1:]] if script else [sys.executable, "-m", "seqlab.cli", *argv]
    proc = subprocess.run(cmd, capture_output=True, preexec_fn=_small_files if full_disk else None,
                          env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=600)
    return proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")


def _small_files() -> None:
    """In the child: files may not grow past 20 kB (the kernel then fails the write, as a full disk does)."""
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))


def _in_process(argv: list, full_disk: bool) -> tuple[int, str, str]:
    import importlib.util

    from seqlab.cli import main

    if argv[0].startswith("benchmarks/"):
        spec = importlib.util.spec_from_file_location("probe_" + Path(argv[0]).stem, ROOT / argv[0])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        main, argv = module.main, argv[1:]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _disk_full(full_disk):
        try:
            code = main(argv)
        except SystemExit as done:  # argparse
            code = done.code
    return int(code or 0), out.getvalue(), err.getvalue()


@contextlib.contextmanager
def _disk_full(on: bool):
    """In this process: every safetensors write fails with ENOSPC after writing a little."""
    if not on:
        yield
        return
    import seqlab.train.checkpoint as ckpt

    def full(tensors, path, *args, **kwargs):
        Path(path).write_bytes(b"\0" * 10)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    real, ckpt.save_file = ckpt.save_file, full
    try:
        yield
    finally:
        ckpt.save_file = real


def verdict(case: Case, code: int, err: str) -> str | None:
    """What breaks the rule, or None."""
    if "Traceback" in err:
        return "traceback"
    if code == 0:
        return None
    lines = [line for line in err.splitlines() if line.strip()]
    if code != 2 or len(lines) != 1:
        return f"exit {code} with {len(lines)} lines on stderr"
    if case.expect and case.expect not in lines[0]:
        return f"the line does not name {case.expect!r}"
    return case.check() if case.check else None


def probe(work: Path, in_process: bool, echo=print) -> tuple[int, int, int]:
    """Run every case; (cases, tracebacks, broken rules)."""
    os.environ.setdefault("SEQLAB_CACHE", str(work / "cache"))
    prepare(work, in_process)
    todo = cases(work, in_process)
    tracebacks = broken = 0
    for case in todo:
        code, _, err = run_case(case.argv, in_process, case.full_disk)
        problem = verdict(case, code, err)
        tracebacks += problem == "traceback"
        broken += problem is not None
        shown = err.strip().splitlines()[-1] if err.strip() else "(no error)"
        echo(f"{'ok  ' if problem is None else 'FAIL'} exit {code}  {case.label}: {problem or shown}")
    echo(f"{len(todo)} inputs: {tracebacks} tracebacks, {broken} broken rules")
    return len(todo), tracebacks, broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--in-process", action="store_true", help="run the cases in this process (quick)")
    parser.add_argument("--work", type=Path, default=None, help="folder for the runs (default: a temporary one)")
    args = parser.parse_args(argv)
    if args.work is not None:
        args.work.mkdir(parents=True, exist_ok=True)
        return int(probe(args.work, args.in_process)[2] > 0)
    with tempfile.TemporaryDirectory(prefix="seqlab-probe-") as tmp:
        return int(probe(Path(tmp), args.in_process)[2] > 0)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    sys.exit(main())
