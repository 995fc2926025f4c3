"""seqlab bench: the quick run writes valid JSON; the measuring tools count what they claim.

No timing is asserted anywhere: only structure, units and memory accounting.
"""

from __future__ import annotations

import json
import math

import pytest
import torch

from seqlab.bench.measure import fit_exponent, peak_memory, time_call
from seqlab.bench.recurrent import SCRIPT
from seqlab.bench.table import Section, format_value, render_section
from seqlab.cli import main

CPU = torch.device("cpu")


def test_quick_scan_attention_writes_expected_json(tmp_path, capsys):
    assert main(["bench", "--quick", "--threads", "1", "--only", "scan,attention", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert set(doc) == {"meta", "sections"}
    assert doc["meta"]["machine"]["threads"] == 1 and doc["meta"]["quick"] is True
    assert doc["meta"]["peak_flops"]["fp32"] > 0
    assert list(doc["sections"]) == ["scan", "attention"]
    scan = doc["sections"]["scan"]
    models = {r["model"] for r in scan["rows"]}
    assert models == {f"{m} {mode}" for m in ("minGRU", "minLSTM") for mode in ("scan", "chunked", "step")} | {"nn.GRU"}
    for row in scan["rows"] + doc["sections"]["attention"]["rows"]:
        assert row["min_s"] <= row["median_s"] <= row["max_s"]
        assert row["peak_bytes"] > 0
    assert {r["impl"] for r in doc["sections"]["attention"]["rows"]} == {"naive", "sdpa"}
    out = capsys.readouterr().out
    assert "threads 1" in out and "Parallel recurrences" in out and "Attention" in out


@pytest.mark.parametrize("bad,word", [(["--only", "scan,warp"], "warp"), (["--device", "floppy"], "floppy")])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, bad, word):
    assert main(["bench", "--quick", *bad, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert word in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_peak_memory_counts_live_tensors_only():
    """Hand-counted: a 4 MiB temporary freed early, then two 1 MiB tensors alive together."""

    def fn():
        big = torch.ones(1024, 1024)  # 4 MiB, freed right away
        del big
        a = torch.ones(512, 512)  # 1 MiB
        b = a + 1  # 1 MiB more, both alive
        return b.sum()

    assert peak_memory(fn, CPU) == 4 * 2**20  # the 4 MiB tensor; the 1 MiB pair and the sum stay below

    def fn2():
        a = torch.ones(1024, 1024)
        b = a * 2
        c = b * 2  # a, b, c alive: 12 MiB
        return c.view(-1)[:10].clone()  # a view adds nothing; the clone adds 40 bytes

    assert peak_memory(fn2, CPU) == 12 * 2**20 + 40


def test_peak_memory_sees_saved_activations_grow_with_length():
    lin = torch.nn.Linear(8, 8)
    peaks = []
    for T in (16, 64):
        x = torch.randn(T, 8)
        peaks.append(peak_memory(lambda x=x: torch.autograd.grad(lin(x).tanh().sum(), list(lin.parameters())), CPU))
    assert peaks[1] > 3 * peaks[0]


def test_peak_dtypes_names():
    from seqlab.bench.machine import peak_dtypes

    assert peak_dtypes(CPU) == {"fp32": torch.float32}
    assert peak_dtypes(torch.device("cuda")) == {"fp32": torch.float32, "bf16": torch.bfloat16}


def test_time_call_reports_spread_and_runs_warmup():
    calls = []
    t = time_call(lambda: calls.append(1), CPU, warmup=2, repeats=3)
    assert len(calls) == 5 and t.repeats == 3
    assert 0 <= t.low <= t.median <= t.high


def test_fit_exponent_recovers_power_law():
    sizes = [64.0, 256.0, 1024.0]
    assert fit_exponent(sizes, [3e-6 * s**2 for s in sizes]) == pytest.approx(2.0)
    assert fit_exponent(sizes, [5.0 for _ in sizes]) == pytest.approx(0.0)
    assert math.isnan(fit_exponent([64.0], [1.0]))


def test_table_formats_units_and_missing_values():
    assert format_value("peak_bytes", 3 * 2**20) == "3.0 MiB"
    assert format_value("ratio", None) == "-"
    assert format_value("ratio", 12.3456) == "12.3"
    text = render_section(Section("x", "Title", ["a", "b"], [{"a": 1, "b": None}], ["a note"]))
    assert text.splitlines()[0] == "== Title" and "a note" in text


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_quick_bench_on_cuda(tmp_path):
    assert main(["bench", "--quick", "--device", "cuda", "--only", "machine,scan,attention", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert set(doc["meta"]["peak_flops"]) == {"fp32", "bf16"}
    assert all(r["peak_bytes"] > 0 for r in doc["sections"]["attention"]["rows"])


def test_model_flops_adds_uncounted_recurrent_layers():
    """torch's fused LSTM is invisible to FlopCounterMode on CPU: 6 N tokens is added for it."""
    from seqlab.bench.models import count_params, model_flops

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = torch.nn.LSTM(4, 5, batch_first=True)

    model = Wrap()
    x = torch.randn(3, 7, 4)
    params = list(model.parameters())
    flops = model_flops(model, lambda: torch.autograd.grad(model.rnn(x)[0].sum(), params), tokens=21)
    assert flops == 6 * count_params(model.rnn) * 21


def test_models_match_parameter_counts_and_run_quick(tmp_path):
    from seqlab.bench.models import builders, count_params, match_width

    counts = {}
    for name, build in builders(vocab=100, max_len=32).items():
        counts[name] = count_params(build(match_width(build, 200_000)))
    assert all(abs(c - 200_000) < 0.1 * 200_000 for c in counts.values()), counts
    assert main(["bench", "--quick", "--threads", "1", "--only", "models", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["sections"]["models"]["rows"]
    assert {r["model"] for r in rows} == {"lstm seq2seq", "convs2s", "transformer"}
    assert all(r["model_flops"] > 0 and r["mfu"] > 0 for r in rows)


@pytest.mark.skipif(not SCRIPT.is_file(), reason="benchmarks/bench_recurrent.py is not in this checkout")
def test_quick_recurrent_section_adds_utilization(tmp_path):
    assert main(["bench", "--quick", "--threads", "1", "--only", "recurrent", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "bench.json").read_text())["sections"]["recurrent"]["rows"]
    assert {r["arch"] for r in rows} == {"RNN", "LSTM", "GRU"}
    assert {r["variant"] for r in rows} >= {"cell", "fused", "torch"}
    for r in rows:  # FLOPs per step: 3 (fwd+bwd) * 2 G H (H + H) * B * T
        gates = {"RNN": 1, "GRU": 3, "LSTM": 4}[r["arch"]]
        flops = 3 * 2 * gates * r["H"] * 2 * r["H"] * r["B"] * r["T"]
        assert r["gflop_s"] == pytest.approx(flops / r["median_s"] / 1e9)


@pytest.mark.parametrize("script", ["bench_scan.py", "bench_attention.py"])
def test_thin_scripts_run_quick(script, tmp_path, capsys):
    from seqlab.bench.recurrent import load_script

    module = load_script(SCRIPT.parent / script)
    assert module.main(["--quick", "--threads", "1", "--device", "cpu", "--json", str(tmp_path / "s.json")]) == 0
    doc = json.loads((tmp_path / "s.json").read_text())
    assert len(doc["sections"]) == 1 and next(iter(doc["sections"].values()))["rows"]
    assert "threads=1" in capsys.readouterr().out


def _fake_suite(plan, device, only, log=None):
    """run_suite without measuring: one row per requested section, tagged with the plan."""
    meta = {"machine": {"device": "cpu", "cpu": "test", "torch": "x", "python": "y", "threads": 1,
                        "interop_threads": 1}, "sections": list(only)}
    return meta, [Section(name, name.title(), ["v"], [{"v": plan.repeats}]) for name in only]


def test_only_merges_sections_into_an_existing_bench_json(tmp_path, monkeypatch, capsys):
    import seqlab.bench.suite

    monkeypatch.setattr(seqlab.bench.suite, "run_suite", _fake_suite)
    out = ["--out", str(tmp_path)]
    assert main(["bench", "--only", "models,scan", *out]) == 0
    first = json.loads((tmp_path / "bench.json").read_text())["sections"]
    assert main(["bench", "--quick", "--only", "attention,scan", *out]) == 0
    assert "kept from the earlier run there: models" in capsys.readouterr().out
    doc = json.loads((tmp_path / "bench.json").read_text())
    assert list(doc["sections"]) == ["scan", "attention", "models"]  # the order of the sections list
    assert doc["sections"]["models"] == first["models"]  # untouched, with its own stamp
    assert doc["sections"]["models"]["measured"]["quick"] is False
    assert doc["sections"]["scan"]["measured"]["quick"] is True  # measured again, replaced
    assert doc["meta"]["kept"] == ["models"] and doc["meta"]["sections"] == ["attention", "scan"]


def test_an_unreadable_bench_json_stops_before_measuring(tmp_path, monkeypatch, capsys):
    import seqlab.bench.suite

    monkeypatch.setattr(seqlab.bench.suite, "run_suite", lambda *a, **k: pytest.fail("measured anyway"))
    (tmp_path / "bench.json").write_text("{not json")
    assert main(["bench", "--only", "scan", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "is not a bench.json" in err and len(err.strip().splitlines()) == 1
    assert (tmp_path / "bench.json").read_text() == "{not json"
