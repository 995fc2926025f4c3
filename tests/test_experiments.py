"""The experiments framework: verdict rule, Result round trip, registry, runner."""

import json
import types

import pytest

from seqlab.errors import SeqlabError
from seqlab.experiments import REGISTRY, Result, judge, select
from seqlab.experiments.core import runner
from seqlab.experiments.core.base import finish, new_result
from seqlab.experiments.core.units import run_inline


def test_decide_never_confirms_a_too_small_run():
    assert judge(enough=False, confirmed=True, refuted=False) == "inconclusive"
    assert judge(enough=True, confirmed=True, refuted=False) == "confirmed"
    assert judge(enough=True, confirmed=False, refuted=True) == "refuted"
    assert judge(enough=True, confirmed=True, refuted=True) == "inconclusive"
    assert judge(enough=True, confirmed=False, refuted=False) == "inconclusive"


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
    from seqlab.experiments.gradients import c02_power_law

    r = run_inline(c02_power_law, "quick")
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


@pytest.mark.parametrize("claim_id", list(REGISTRY))
def test_every_registered_experiment_declares_its_claim_and_profiles(claim_id):
    from seqlab.experiments import load

    module = load(claim_id)
    assert module.CLAIM_ID == claim_id and len(module.CLAIM) > 20
    for profile in ("quick", "full"):
        assert json.loads(json.dumps(module.config(profile))) is not None
    assert module.config("quick") != module.config("full")
    with pytest.raises(SeqlabError):
        module.config("huge")


def test_probe_tasks_targets():
    import torch

    from seqlab.experiments.core.probe_tasks import DecisiveToken, DelayedEcho, NextToken

    g = torch.Generator().manual_seed(0)
    b = DelayedEcho(delay=3, length=9, alphabet=4).sample(2, g)
    assert torch.equal(b.y[:, 3:], b.x[:, :6]) and not b.mask[:, :3].any() and b.mask[:, 3:].all()
    b = NextToken(length=6, alphabet=5).sample(2, g)
    assert torch.equal(b.y[:, :-1], b.x[:, 1:]) and not b.mask[:, -1].any()
    for rule in ("first", "last"):
        t = DecisiveToken(length=12, fillers=3, rule=rule)
        b = t.sample(64, g)
        decisive = b.x > 3  # good = 4, bad = 5
        assert (decisive.sum(1) == 2).all()
        idx = decisive.float().argmax(1) if rule == "first" else 11 - decisive.flip(1).float().argmax(1)
        word = b.x[torch.arange(64), idx]
        assert torch.equal(b.y[:, -1], (word == 4).long())  # label 1 = good
    b = DecisiveToken(length=20, fillers=3, lo=0.8, hi=1.0).sample(32, g)
    assert ((b.x > 3).float().argmax(1) >= 16).all()


def test_training_scores_and_rank_correlation():
    import torch

    from seqlab.data.tasks import AddingProblem
    from seqlab.experiments.core.training import score, spearman

    assert spearman([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)

    class Oracle(torch.nn.Module):
        """Predicts the adding problem's answer exactly: sum of marked values."""

        def __init__(self):
            super().__init__()
            self.dummy = torch.nn.Parameter(torch.zeros(1))

        def forward(self, x):
            total = (x[..., 0] * x[..., 1]).sum(1)  # (B,)
            out = torch.zeros(x.shape[0], x.shape[1], 1)
            out[:, -1, 0] = total
            return out, None

    s = score(Oracle(), AddingProblem(10), batches=1, batch_size=8)
    assert s["accuracy"] == 1.0 and s["loss"] < 1e-10 and s["normalized"] < 1e-9


def test_tbptt_memory_grows_with_k2_not_with_length():
    import torch

    from seqlab.build import ModelConfig, build_model
    from seqlab.experiments.gradients.c08_truncated_bptt import tbptt_memory
    from seqlab.experiments.core.probe_tasks import DelayedEcho

    task = DelayedEcho(delay=2, length=32, alphabet=3)
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="lstm", hidden_size=16, embed_dim=8), task)
    batch = task.sample(64, torch.Generator().manual_seed(0))
    m4, m16 = tbptt_memory(model, batch, 4)[0], tbptt_memory(model, batch, 16)[0]
    assert 3.0 < m16 / m4 < 4.4  # about linear in k2 (a constant part for weights' copies)
    assert tbptt_memory(model, batch.time_slice(0, 8), 4)[0] == m4  # not in T


def test_diagnostics_callback_inside_the_trainer():
    import torch

    from seqlab.build import ModelConfig
    from seqlab.data.tasks import AddingProblem
    from seqlab.diagnostics import DiagnosticsCallback
    from seqlab.experiments.core.training import fit

    task = AddingProblem(8)
    cb = DiagnosticsCallback(task.sample(2, torch.Generator().manual_seed(0)).x, every=2)
    f = fit(ModelConfig(arch="rnn_tanh", hidden_size=4, embed_dim=4), task, 4, batch_size=4, callbacks=(cb,))
    assert [r["step"] for r in cb.records] == [1, 2, 4] and len(f.curve.loss) == 4
    assert all(r["grad_first"] > 0 for r in cb.records)


def test_cli_rejects_an_unknown_claim_with_one_line(tmp_path, capsys):
    from seqlab.cli import main

    assert main(["reproduce", "--only", "C99", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown claim id 'C99'" in err[0]
    assert main(["report", str(tmp_path / "absent")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def _blank(claim_id="CX"):
    return new_result(claim_id, "claim", "setup", "quick", {})


def test_c1_decades_ignores_the_last_step():
    import numpy as np

    from seqlab.experiments.gradients.c01_gradient_decay import decades

    norms = np.array([1e-6] * 10 + [1.0] * 9 + [100.0])  # last step excluded from "late"
    assert decades(norms) == pytest.approx(-6.0)


def test_training_claims_define_a_tiny_config():
    """The determinism test (test_ledger_determinism.py) runs every module with a TINY config."""
    from seqlab.experiments import load

    for claim_id in ("C3", "C4", "C5", "C6", "C7", "C8", "C9", "C10", "C11", "C17", "C18", "C19", "C20", "D2",
                     "D3"):
        module = load(claim_id)
        assert isinstance(module.TINY, module.Config), claim_id


def test_c11_time_ratio_decides_only_by_a_clear_margin():
    from seqlab.experiments.limitations import c11_bidirectional as c11

    cfg = c11.Config()
    acc, params = {True: 1.0, False: 0.13}, {True: 200, False: 100}
    uni = [1.0, 1.05, 0.97, 1.02, 1.0]

    def verdict(bi, accuracy=acc):
        return c11._verdict(_blank("C11"), accuracy, {False: uni, True: bi}, params, cfg).verdict

    assert verdict([2.0, 2.1, 1.95, 2.05, 2.0]) == "confirmed"  # about twice, ranges apart
    assert verdict([2.0, 2.1, 1.0, 2.05, 2.0]) == "confirmed"  # one odd round cannot undo it
    assert verdict([2.0, 2.1, 1.0, 1.1, 2.0]) == "inconclusive"  # rounds not apart
    assert verdict([1.55, 1.5, 1.52, 1.6, 1.54]) == "inconclusive"  # a range straddles the 1.5 bound
    assert verdict([1.0, 1.02, 0.99, 1.01, 1.0]) == "refuted"  # clearly below 1.2
    assert verdict([2.0, 2.1, 1.95, 2.05, 2.0], {True: 0.13, False: 0.13}) == "refuted"  # never uses the future
