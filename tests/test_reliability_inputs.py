"""The inputs that once ended in a traceback (scripts/traceback_probe.py), run in this process:
every one exits 2 with one line naming the problem; and the benchmark scripts' mistakes."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "scripts" / "traceback_probe.py"

pytestmark = pytest.mark.usefixtures("one_thread")


def load(path: Path):
    name = "script_" + path.stem
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # its dataclasses look their module up
        spec.loader.exec_module(module)
    return sys.modules[name]


def test_the_28_inputs_give_one_line_each_and_no_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQLAB_CACHE", str(tmp_path / "cache"))
    lines = []
    cases, tracebacks, broken = load(PROBE).probe(tmp_path, in_process=True, echo=lines.append)
    assert (cases, tracebacks, broken) == (28, 0, 0), "\n".join(lines)
    assert lines[-1] == "28 inputs: 0 tracebacks, 0 broken rules"


@pytest.mark.parametrize("script,args,needle", [
    ("mt_table.py", ["--merge", "/nonexistent/table.json"], "No such file"),
    ("mt_table.py", ["x.toml", "--beam", "0"], "--beam must be at least 1"),
    ("mt_throughput.py", ["/nonexistent/recipe.toml"], "config file not found"),
    ("mt_throughput.py", ["x.toml", "--rounds", "0"], "--rounds must be at least 1"),
    ("bench_scan.py", ["--lengths", "a,b"], "give integers"),
    ("bench_scan.py", ["--shapes", "4"], "BxH pairs"),
    ("bench_attention.py", ["--lengths", "0"], "at least 1"),
    ("bench_attention.py", ["--device", "nope"], "unknown device"),
    ("bench_recurrent.py", ["--hidden", "0"], "--hidden must be at least 1"),
    ("bench_recurrent.py", ["--bogus"], "unrecognized arguments"),
])
def test_benchmark_scripts_mistakes_are_one_line(capsys, script, args, needle):
    module = load(ROOT / "benchmarks" / script)
    try:
        code = module.main(args)
    except SystemExit as done:  # argparse
        code = done.code
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"{script}: error:") and needle in lines[0]


def test_mt_table_merge_refuses_a_file_that_is_not_a_table(tmp_path, capsys):
    module = load(ROOT / "benchmarks" / "mt_table.py")
    bad = tmp_path / "table.json"
    for content in ("{", '{"rows": 5, "curves": {}}', "[1]"):
        bad.write_text(content)
        assert module.main(["--merge", str(bad), "--out", str(tmp_path / "out")]) == 2
        assert "is not a table.json of mt_table.py" in capsys.readouterr().err
