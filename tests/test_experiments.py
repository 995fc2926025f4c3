"""The experiments framework: verdict rule, Result round trip, registry, runner."""

import json
import types

import pytest

from seqlab.errors import SeqlabError
from seqlab.experiments import REGISTRY, Result, decide, select
from seqlab.experiments import runner
from seqlab.experiments.base import finish, new_result


def test_decide_never_confirms_a_too_small_run():
    assert decide(enough=False, confirmed=True, refuted=False) == "inconclusive"
    assert decide(enough=True, confirmed=True, refuted=False) == "confirmed"
    assert decide(enough=True, confirmed=False, refuted=True) == "refuted"
    assert decide(enough=True, confirmed=True, refuted=True) == "inconclusive"
    assert decide(enough=True, confirmed=False, refuted=False) == "inconclusive"


def test_result_round_trip(tmp_path):
    r = new_result("C0", "a claim", "a setup", "quick", {"sizes": (1, 2)}, seed=3)
    r.add_table("t", ["a", "b"], [[1, 2.5], ["x", None]])
    r.add_figure("fig", "a caption", b"\x89PNG\r\n\x1a\nfake")
    finish(r, "confirmed", "rule", "numbers", "head 1.0")
    r.save(tmp_path)
    back = Result.load(tmp_path)
    assert back.verdict == "confirmed" and back.tables[0].rows == [[1, 2.5], ["x", None]]
    assert back.config == {"sizes": [1, 2]} and back.seed == 3 and back.wall_time >= 0
    assert (tmp_path / "fig.png").read_bytes().startswith(b"\x89PNG")
    assert back.figures[0].data_uri(tmp_path).startswith("data:image/png;base64,")
    assert "torch" in back.versions and back.machine["cpu_count"]


def test_finish_rejects_unknown_verdict():
    with pytest.raises(ValueError):
        finish(new_result("C0", "c", "s", "quick", {}), "maybe", "", "", "")
    with pytest.raises(SeqlabError):
        new_result("C0", "c", "s", "huge", {})


def test_registry_selection_and_order():
    assert select("c4, C1") == ["C1", "C4"]
    assert select(None) == list(REGISTRY)
    with pytest.raises(SeqlabError, match="unknown claim id 'C99'"):
        select("C1,C99")


def _fake_module(calls, fail=False):
    def run(profile):
        calls.append(profile)
        if fail:
            raise RuntimeError("boom")
        r = new_result("CX", "claim", "setup", profile, {"n": (1,)})
        return finish(r, "inconclusive", "rule", "why", "h")

    return types.SimpleNamespace(config=lambda profile: {"n": (1,)}, run=run)


def test_runner_skips_done_claims_and_survives_errors(tmp_path, monkeypatch):
    calls = []
    mods = {"CX": _fake_module(calls), "CY": _fake_module(calls, fail=True)}
    monkeypatch.setattr(runner, "load", lambda cid: mods[cid])
    lines = []
    results = runner.reproduce(["CY", "CX"], "quick", tmp_path, echo=lines.append)
    assert [r.verdict for r in results] == ["error", "inconclusive"]
    assert "RuntimeError: boom" in results[0].error
    assert json.loads((tmp_path / "CY" / "result.json").read_text())["verdict"] == "error"
    runner.reproduce(["CY", "CX"], "quick", tmp_path, echo=lines.append)
    assert calls == ["quick", "quick", "quick"]  # CX skipped the second time, CY retried
    runner.reproduce(["CX"], "quick", tmp_path, force=True, echo=lines.append)
    assert len(calls) == 4
    table = runner.summary_table(results)
    assert "CY" in table and "error" in table and any("skipped" in line for line in lines)


def test_c2_power_law_is_exact():
    from seqlab.experiments import c02_power_law

    r = c02_power_law.run("quick")
    assert r.verdict == "confirmed"
    rows = {(row[0], row[1]): row for row in r.tables[0].rows}
    assert rows[(0.9, 50)][2] == pytest.approx(0.9**50, rel=1e-9)  # ~0.005
    assert rows[(1.1, 50)][2] == pytest.approx(117.39, rel=1e-4)


def test_cli_reproduce_and_report(tmp_path, capsys):
    from seqlab.cli import main

    assert main(["reproduce", "--only", "C2", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "C2" in out and "confirmed" in out
    assert main(["report", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").is_file()
    assert str(tmp_path / "report.html") in capsys.readouterr().out
