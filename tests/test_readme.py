"""Every shell command and Python block of README.md and docs/*.md, run as written at tiny sizes.

Each fenced block is one test, run in a fresh temporary folder that holds links to the
checkout's ``.venv``, ``configs`` and ``benchmarks`` (so a block's ``runs/...`` start empty).
A block runs on its own: a Python block in a fresh namespace, a shell block line by line.
A block whose text repeats an earlier block's (the README's examples are also in the guides)
runs once, under its first place.

Every shell line must be classified below, by its command text (what precedes a ``#``
comment): ``RUN`` appends tiny-size arguments (``--set`` overrides and the like) to the
page's text, ``SKIP`` says why the line is not run. An unclassified line fails the test,
so a new command on any page cannot go untested by accident. Python blocks run verbatim
except for the substitutions in ``SHRINK`` (each must still match a page once).

``.venv/bin/seqlab ...`` lines (also ``cat FILE | .venv/bin/seqlab ...``) and
``.venv/bin/python benchmarks/X.py ...`` run in this process (``main(argv)``), so torch and
the corpora load once; other lines run in bash. ``python tests/test_readme.py`` prints
what runs and what is skipped.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]  # every page whose blocks are run
LINKS = (".venv", "configs", "benchmarks")  # what the README's paths expect in the working folder
SOME_TEXT = "".join(f"Line {i}: the {w} sat on the mat, and the dog ran to the {w}.\n"
                    for i, w in enumerate(["cat", "house", "river", "Tree"] * 60))  # 240 lines

TINY_TASK = ("--set train.steps=3 --set task.length=8 --set model.hidden_size=8 --set train.batch_size=4 "
             "--set train.eval_every=3 --set train.eval_batches=1 --set train.checkpoint_every=3 --set train.progress=false")
TINY_LM = ("--set train.steps=2 --set train.batch_size=2 --set task.seq_len=16 --set task.eval_chars=1000 "
           "--set model.num_layers=1 --set model.hidden_size=8 --set model.embed_dim=8 --set model.dropout=0 "
           "--set train.eval_every=2 --set train.checkpoint_every=2 --set train.warmup_steps=0 --set train.progress=false")
TINY_MT = ("--set train.max_minutes=1 --set train.steps=2 --set task.tokenizer=char --set model.hidden=16 "
           "--set model.ff=32 --set model.heads=2 --set model.layers=1 --set task.max_tokens=256 "
           "--set task.eval_sentences=2 --set task.max_len_ratio=0.2 --set train.progress=false")


@dataclass(frozen=True)
class Run:
    """Run the line, with ``extra`` appended (tiny sizes); ``why`` says what the extra is for."""

    extra: str = ""
    why: str = ""
    check: typing.Callable[[Path, str], None] | None = None  # (working folder, captured output)
    setup: typing.Callable[[Path], None] | None = None  # prepares what a skipped line would have made


@dataclass(frozen=True)
class Skip:
    reason: str


def _lists_both_model_kinds(cwd: Path, out: str) -> None:
    from seqlab.build import ModelConfig
    from seqlab.build import MTModel

    archs = typing.get_args(ModelConfig.__annotations__["arch"]) + typing.get_args(MTModel.__annotations__["arch"])
    missing = [a for a in archs if not re.search(rf"^\s*{a}\s", out, re.M)]
    assert not missing, f"seqlab models does not list {missing}"


def _wrote(*names: str):
    def check(cwd: Path, out: str) -> None:
        for name in names:
            assert (cwd / name).is_file() and (cwd / name).stat().st_size > 0, f"{name} not written"
    return check


def _bench_kept_every_section(cwd: Path, out: str) -> None:
    import json

    from seqlab.bench.plan import SECTIONS

    doc = json.loads((cwd / "runs/bench/bench.json").read_text())
    assert list(doc["sections"]) == list(SECTIONS)  # --only scan,attention kept the --quick run's others
    assert doc["meta"]["kept"] == ["machine", "recurrent", "models"]


def _fake_claims(cwd: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    try:
        from report_fixtures import make_run
    finally:
        sys.path.remove(str(ROOT / "tests"))
    make_run(cwd / "runs/quick")


TINY_MT_TABLE = ("--minutes 1 --threads 1 --beam 1 --limit 2 --set train.steps=2 --set task.tokenizer=char "
                 "--set model.embed_dim=8 --set model.hidden=8 --set model.layers=1 --set task.max_tokens=256 "
                 "--set task.eval_sentences=2 --set task.max_len_ratio=0.2 --set train.progress=false")
ONE_THREAD = "tiny sizes on one thread (the later --threads wins; two threads crawl on a busy shared machine)"

SHELL: dict[str, Run | Skip] = {
    "make run": Skip("sets up .venv, then every claim's quick experiment (7-12 minutes on 2 cores after the set-up); "
                     "tests/test_experiments.py runs the claims at tiny sizes"),
    "make test": Skip("runs the test suite this test belongs to"),
    ".venv/bin/seqlab models": Run(check=_lists_both_model_kinds),
    ".venv/bin/seqlab tasks": Run(),
    ".venv/bin/seqlab train configs/adding-lstm.toml": Run(TINY_TASK, "tiny sizes",
                                                           _wrote("runs/adding-lstm/recipe.json")),
    ".venv/bin/seqlab train configs/adding-lstm.toml --set model.arch=gru --set train.lr=1e-3 --out runs/adding-gru":
        Run(TINY_TASK, "tiny sizes", _wrote("runs/adding-gru/recipe.json")),
    ".venv/bin/seqlab train configs/adding-lstm.toml --resume":
        Run(TINY_TASK + " --set train.steps=5", "the first run's tiny sizes, 2 steps more"),
    ".venv/bin/torchrun --nproc_per_node=2 -m seqlab.cli train configs/adding-lstm.toml --out runs/adding-ddp":
        Skip("starts two more processes that each load torch (about 15 s on a shared 2-core machine); "
             "tests/test_distributed.py trains under two gloo processes (mp.spawn)"),
    ".venv/bin/torchrun --nproc_per_node=2 -m seqlab.cli train configs/mt-nt-transformer.toml --out runs/mt-ddp":
        Skip("trains the 30-minute recipe in two processes that each load torch and the corpus; checked by hand, and tests/test_distributed.py trains translation under two gloo processes "
             "(mp.spawn), resume included"),
    ".venv/bin/seqlab train configs/lm-bsb-char-lstm.toml": Run(TINY_LM, "tiny sizes"),
    ".venv/bin/seqlab evaluate runs/lm-bsb-char-lstm --split test": Run(),
    '.venv/bin/seqlab generate runs/lm-bsb-char-lstm --prompt "In the beginning" --temperature 0.8 --top-k 20': Run(),
    ".venv/bin/python benchmarks/bench_recurrent.py --threads 2 --json runs/bench/recurrent.json":
        Run("--quick --threads 1", ONE_THREAD, _wrote("runs/bench/recurrent.json")),
    ".venv/bin/seqlab drill gradcheck": Run(check=_wrote("runs/drills/gradcheck.json", "runs/drills/gradcheck.png")),
    ".venv/bin/seqlab drill rnn-numpy": Run(check=_wrote("runs/drills/rnn_numpy.json", "runs/drills/rnn_numpy.png")),
    ".venv/bin/seqlab drill clipping": Run(check=_wrote("runs/drills/clipping.json", "runs/drills/clipping.png")),
    ".venv/bin/seqlab drill bahdanau": Run(check=_wrote("runs/drills/bahdanau.json", "runs/drills/bahdanau.png")),
    ".venv/bin/seqlab data list": Run(),
    ".venv/bin/seqlab data info nt_el_en": Run(),
    ".venv/bin/seqlab data show nt_el_en -n 3 --split dev": Run(),
    ".venv/bin/seqlab train configs/mt-nt-transformer.toml --set train.max_minutes=5": Run(TINY_MT, "tiny sizes"),
    '.venv/bin/seqlab translate runs/mt-nt-transformer "Ἐν ἀρχῇ ἦν ὁ λόγος" --beam 5 --attention attn.png': Run(),
    "printf 'Ἐν ἀρχῇ ἦν ὁ λόγος\\nκαὶ ὁ λόγος ἦν πρὸς τὸν θεόν\\n' > greek.txt": Run(check=_wrote("greek.txt")),
    "cat greek.txt | .venv/bin/seqlab translate runs/mt-nt-transformer --beam 5": Run(),
    ".venv/bin/seqlab evaluate runs/mt-nt-transformer --split test --json scores.json":
        Run("--limit 3", "three test pairs (an untrained model decodes to the length limit)"),
    ".venv/bin/seqlab data check configs/lm-bsb-char-lstm.toml --set task.corpus=some.txt": Run(),
    ".venv/bin/seqlab train configs/lm-bsb-char-lstm.toml --set task.corpus=some.txt --out runs/mine --set train.steps=50":
        Run(TINY_LM, "tiny sizes, on the some.txt every working folder holds"),
    ".venv/bin/seqlab evaluate runs/mine --split test": Run("--batch-size 2", "as small a batch as training's"),
    ".venv/bin/seqlab generate runs/mine": Run("-n 20"),
    ".venv/bin/python benchmarks/lm_scale.py --sizes-mb 2100,20 --steps 200 --dir /tmp/lm-scale --clean":
        Run("--sizes-mb 0.3 --steps 2 --threads 1 --dir runs/lm-scale", "a 0.3 MB file, 2 steps (the README's "
            "numbers: a 2.1 GB file, measured by hand)"),
    ".venv/bin/python benchmarks/mt_table.py configs/mt-nt-seq2seq.toml configs/mt-nt-luong.toml --threads 2 "
    "--minutes 30 --out runs/a": Run(TINY_MT_TABLE, "2 updates per model, 2 test pairs, one thread",
                                     _wrote("runs/a/table.json")),
    ".venv/bin/python benchmarks/mt_table.py configs/mt-nt-bahdanau.toml --threads 2 --minutes 30 --out runs/b":
        Run(TINY_MT_TABLE, "2 updates, 2 test pairs, one thread", _wrote("runs/b/table.json")),
    ".venv/bin/python benchmarks/mt_table.py --merge runs/a/table.json runs/b/table.json --out runs/mt-table":
        Run(check=_wrote("runs/mt-table/table.md")),
    ".venv/bin/mkdocs build --strict --site-dir runs/site":
        Skip("tests/test_docs.py builds this site with --strict (about 20 s)"),
    "export SEQLAB_CACHE=$PWD/.seqlab-cache": Run(),
    ".venv/bin/seqlab evaluate runs/adding-lstm --split test": Run(),
    ".venv/bin/seqlab train configs/mt-nt-transformer.toml": Run(TINY_MT, "tiny sizes"),
    '.venv/bin/seqlab translate runs/mt-nt-transformer "Ἐν ἀρχῇ ἦν ὁ λόγος" --beam 5': Run(),
    ".venv/bin/seqlab evaluate runs/mt-nt-transformer --split test --limit 100":
        Run("--limit 3", "three test pairs (an untrained model decodes to the length limit)"),
    ".venv/bin/seqlab train configs/lm-bsb-char-lstm.toml --set task.corpus=my-text.txt --out runs/my-lm":
        Run(TINY_LM, "tiny sizes, on the my-text.txt every working folder holds"),
    ".venv/bin/seqlab reproduce --only C2 --out runs/c2": Run(why="C2 at its quick size (seconds)"),
    ".venv/bin/seqlab report runs/c2": Run(check=_wrote("runs/c2/report.html")),
    "make notebook": Skip("opens Jupyter, or runs the tutorial at quick sizes (about 5 minutes on 2 cores); "
                          "tests/test_tutorial.py executes the notebook at tiny sizes"),
    ".venv/bin/python benchmarks/anchors/anchors.py --minutes 10 --threads 2 --json runs/anchors/anchors.json":
        Skip("installs Joey NMT from the package registry into its own environment and trains four models for "
             "10 minutes each; tests/test_anchors.py checks its corpus, configs and log parsing"),
    ".venv/bin/python benchmarks/mt_throughput.py configs/mt-nt-bahdanau-lstm.toml --threads 2 --baseline 1100":
        Skip("times a 7.8M-parameter model for minutes; tests/test_mt_benchmarks.py runs it on a tiny recipe"),
    ".venv/bin/seqlab reproduce --profile quick": Skip("every claim's quick experiment (7-12 minutes on 2 cores); "
                                                       "tests/test_experiments.py runs the claims at tiny sizes"),
    ".venv/bin/seqlab reproduce --only C1,C4 --force --jobs 1":
        Skip("C1 and C4 at quick sizes (14 s of experiment time in the quick ledger's log; more with start-up on a "
             "busy machine); tests/test_ledger_determinism.py runs both at tiny sizes"),
    ".venv/bin/seqlab reproduce --profile full --only C12 --executor ray --address auto":
        Skip("joins a running Ray cluster for GPU-sized trainings (hours on 2 cores); tests/test_ray_executor.py runs "
             "C1, C4 and C12 at tiny sizes on a two-node cluster"),
    ".venv/bin/seqlab reproduce --list": Run(why="prints the claims list; runs nothing"),
    ".venv/bin/seqlab report runs/quick": Run(check=_wrote("runs/quick/report.html"), setup=_fake_claims,
                                              why="on report_fixtures' claim folders (the reproduce lines are skipped)"),
    "PYTHONPATH=/path/to/unzipped-wheels OUT=/tmp/seqlab-gpu bash scripts/gpu_check.sh":
        Skip("needs a CUDA GPU and runs for up to an hour; tests/test_gpu_paths.py checks the CPU side"),
    'STAGES="bench stall" OUT=/tmp/seqlab-gpu bash scripts/gpu_check.sh':
        Skip("needs a CUDA GPU; tests/test_gpu_paths.py checks the CPU side"),
    "make bench": Skip("the full measurement (tens of minutes)"),
    ".venv/bin/seqlab bench --quick": Run(),
    ".venv/bin/seqlab bench --only scan,attention --threads 2": Run("--quick --threads 1", ONE_THREAD,
                                                                    _bench_kept_every_section),
    ".venv/bin/seqlab forecast co2 sunspots": Skip("fits seasonal ARIMA and ETS models to both series (half a minute "
                                                   "on 2 cores whatever the net's size); tests/test_timeseries.py "
                                                   "covers each method and the table"),
    ".venv/bin/seqlab classify japanese_vowels --bidirectional": Run("--steps 3 --hidden 4", "3 training batches"),
    ".venv/bin/seqlab embed compare bank": Skip("trains skip-gram vectors for 15 epochs over the bsb_en train split "
                                                "whatever --steps says (minutes); tests/test_embeddings.py tests both models"),
}

# Python blocks: (README text, what the test runs instead), each used exactly once.
SHRINK: list[tuple[str, str]] = [
    ("TrainConfig(steps=200, progress=False)", "TrainConfig(steps=3, progress=False)"),
    ("TrainConfig(steps=100, batch_size=8, lr=3e-3, progress=False)", "TrainConfig(steps=3, batch_size=8, progress=False)"),
    ("ModelConfig(arch=\"lstm\", hidden_size=128)", "ModelConfig(arch=\"lstm\", hidden_size=8)"),
    ("TrainConfig(steps=300, progress=False)", "TrainConfig(steps=3, progress=False)"),
]


@dataclass
class Block:
    line: int  # 1-based line of the opening fence
    lang: str  # "python" or "" (shell)
    text: str
    lines: list[tuple[int, str]] = field(default_factory=list)  # (line in its page, text)
    page: str = "README.md"  # the page, relative to the checkout
    same_as: str | None = None  # the name of an earlier block with the same text (that one runs)

    @property
    def name(self) -> str:
        return f"{self.page}:{self.line}-{self.lang or 'shell'}"


def all_blocks(pages: list[Path] = PAGES) -> list[Block]:
    """The fenced code blocks of every page, in order; repeats point at their first place."""
    blocks, first = [], {}
    for path in pages:
        for block in readme_blocks(path):
            key = (block.lang, block.text)
            block.same_as = first.get(key)
            first.setdefault(key, block.name)
            blocks.append(block)
    return blocks


def readme_blocks(path: Path = README) -> list[Block]:
    """The fenced code blocks of one page, in order."""
    blocks, current, page = [], None, path.relative_to(ROOT).as_posix()
    for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if text.startswith("```"):
            if current is None:
                current = Block(number, text[3:].strip(), "", page=page)
            else:
                current.text = "\n".join(t for _, t in current.lines) + "\n"
                blocks.append(current)
                current = None
        elif current is not None:
            current.lines.append((number, text))
    return blocks


def command_of(line: str) -> str:
    """The command text of a shell line: the comment after '#' (outside quotes) dropped."""
    quote = None
    for i, ch in enumerate(line):
        if ch in "'\"" and quote in (None, ch):
            quote = None if quote == ch else ch
        elif ch == "#" and quote is None and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def plan(blocks: list[Block] | None = None) -> list[tuple[str, int, str, str]]:
    """(block, line, what happens: RUN/SKIP/SAME/UNCLASSIFIED, the command and why) for every line."""
    rows = []
    for block in blocks or all_blocks():
        if block.same_as:
            rows.append((block.name, block.line, "SAME", f"the text of {block.same_as}, which runs it"))
            continue
        if block.lang == "python":
            subs = [f"{old!r} -> {new!r}" for old, new in SHRINK if old in block.text]
            rows.append((block.name, block.line, "RUN", "python block" + (f" with {'; '.join(subs)}" if subs else "")))
            continue
        for number, text in block.lines:
            cmd = command_of(text)
            if not cmd:
                continue
            rule = SHELL.get(cmd)
            if isinstance(rule, Skip):
                rows.append((block.name, number, "SKIP", f"{cmd}  [{rule.reason}]"))
            elif isinstance(rule, Run):
                extra = f" + {rule.extra!r}" if rule.extra else ""
                why = f"  [{rule.why}]" if rule.why else ""
                rows.append((block.name, number, "RUN", f"{cmd}{extra}{why}"))
            else:
                rows.append((block.name, number, "UNCLASSIFIED", cmd))
    return rows


# ------------------------------------------------------------------ running

@pytest.fixture
def workdir(tmp_path, monkeypatch, readme_cache):
    """A fresh working folder shaped like the checkout, with its own SEQLAB_CACHE for the session."""
    for name in LINKS:
        (tmp_path / name).symlink_to(ROOT / name)
    for name in ("some.txt", "my-text.txt"):  # the "your own" text files of README and docs
        (tmp_path / name).write_text(SOME_TEXT, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEQLAB_CACHE", str(readme_cache))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models run fastest on one thread, above all on a shared machine
    yield tmp_path
    torch.set_num_threads(threads)  # --threads N lines change the process's setting


@pytest.fixture(scope="session")
def readme_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("seqlab-cache")


def _in_process(cmd: str, extra: str, cwd: Path, capsys) -> tuple[int, str] | None:
    """Run a seqlab or benchmarks/ script line here; None when the line needs a shell."""
    stdin = None
    piped = re.fullmatch(r"cat (\S+) \| (.*)", cmd)
    if piped:
        stdin, cmd = piped.group(1), piped.group(2)
    words = shlex.split(cmd) + shlex.split(extra)
    if any(w in ("|", ">", "<", "&&", ";") for w in words):
        return None
    if words[0] == ".venv/bin/seqlab":
        from seqlab.cli import main
    elif words[0] == ".venv/bin/python" and len(words) > 1 and words[1].startswith("benchmarks/"):
        spec = importlib.util.spec_from_file_location(f"readme_{Path(words[1]).stem}", cwd / words[1])
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        main, words = module.main, words[1:]
    else:
        return None
    capsys.readouterr()  # what came before this line
    with contextlib.ExitStack() as stack:
        if stdin is not None:
            handle = stack.enter_context(open(cwd / stdin, encoding="utf-8"))
            stack.enter_context(_replaced_stdin(handle))
        rc = main(words[1:])
    out = capsys.readouterr()
    return int(rc or 0), out.out + out.err


@contextlib.contextmanager
def _replaced_stdin(handle):
    saved, sys.stdin = sys.stdin, handle
    try:
        yield
    finally:
        sys.stdin = saved


def _in_bash(cmd: str, extra: str, cwd: Path) -> tuple[int, str]:
    proc = subprocess.run(["bash", "-c", f"{cmd} {extra}".strip()], cwd=cwd, capture_output=True, text=True,
                          timeout=240, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    return proc.returncode, proc.stdout + proc.stderr


BLOCKS = all_blocks()
TESTED = [b for b in BLOCKS if b.same_as is None]


def test_every_shell_line_is_classified_and_every_rule_used():
    unclassified = [f"{name}, line {n}: {cmd}" for name, n, what, cmd in plan() if what == "UNCLASSIFIED"]
    assert not unclassified, "classify these lines in tests/test_readme.py (SHELL):\n" + "\n".join(unclassified)
    used = {command_of(t) for b in BLOCKS if b.lang != "python" for _, t in b.lines}
    stale = sorted(set(SHELL) - used)
    assert not stale, f"rules for lines no page has any more: {stale}"
    python = "".join(b.text for b in TESTED if b.lang == "python")
    assert all(python.count(old) == 1 for old, _ in SHRINK), "a SHRINK text no longer matches the pages once"
    assert {b.lang for b in BLOCKS} <= {"", "python"}, "a block in a language this test cannot run"


@pytest.mark.parametrize("block", TESTED, ids=[b.name for b in TESTED])
def test_readme_block_runs(block, workdir, capsys):
    if block.lang == "python":
        code = block.text
        for old, new in SHRINK:
            code = code.replace(old, new)
        print(f"== {block.name}: python block")
        exec(compile(code, block.name, "exec"), {"__name__": "__readme__"})  # a fresh namespace: on its own
        return
    rules = [(n, command_of(t), SHELL.get(command_of(t))) for n, t in block.lines if command_of(t)]
    log: list[str] = []  # what ran, printed at the end (each line's own output is captured for its checks)
    if all(isinstance(r, Skip) for _, _, r in rules):
        pytest.skip("; ".join(f"line {n} `{cmd}`: {r.reason}" for n, cmd, r in rules))
    for number, cmd, rule in rules:
        assert rule is not None, f"{block.page}:{number} `{cmd}` is not classified (see SHELL)"
        if isinstance(rule, Skip):
            log.append(f"== {block.page}:{number} SKIP {cmd}  [{rule.reason}]")
            continue
        if rule.setup is not None:
            rule.setup(workdir)
        started = time.perf_counter()
        result = _in_process(cmd, rule.extra, workdir, capsys)
        rc, out = result if result is not None else _in_bash(cmd, rule.extra, workdir)
        log.append(f"== {block.page}:{number} RUN {cmd} {rule.extra}".rstrip() + f"  ({time.perf_counter() - started:.1f} s)")
        assert rc == 0, "\n".join(log) + f"\n{block.page}:{number} `{cmd}` exited with {rc}:\n{out[-3000:]}"
        if rule.check is not None:
            rule.check(workdir, out)
    print("\n" + "\n".join(log))


if __name__ == "__main__":
    width = max(len(b) for b, *_ in plan())
    for name, number, what, text in plan():
        print(f"{name:<{width}}  line {number:>3}  {what:<5} {text}")
