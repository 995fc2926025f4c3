"""The runner: every claim's units in one pool (one torch thread each, in worker processes when
jobs > 1), timed units afterwards, alone; per-unit result files that a later run reuses; the
numbers do not depend on how many workers ran them."""

import json
import types

import torch

from seqlab.experiments.core import runner
from seqlab.experiments.core.base import comparable, finish, new_result
from seqlab.experiments.core.units import Unit, run_inline


def _fake(claim_id, log, timed=False):
    def run(profile):
        log.append((claim_id, torch.get_num_threads()))
        return finish(new_result(claim_id, "c", "s", profile, {}), "inconclusive", "r", "w", "h")

    return types.SimpleNamespace(config=lambda p: {}, run=run, TIMED=timed, CLAIM="c")


def _units_claim(claim_id, log, settings=None):
    """A claim of three units: two trainings, and a timed measurement once both are done."""
    settings = {"lr": 0.1} if settings is None else settings

    def units(profile, done):
        out = [Unit(f"train-s{s}", "train", {"seed": s, **settings}, seed=s, flops=s) for s in (0, 1)]
        if all(f"train-s{s}" in done for s in (0, 1)):
            out.append(Unit("time", "time", {"n": 2}, timed=True))
        return out

    def train(seed, lr):
        log.append((f"{claim_id} train-s{seed}", torch.get_num_threads()))
        return {"score": seed + lr}

    def time(n):
        log.append((f"{claim_id} time", torch.get_num_threads()))
        return {"seconds": [0.1] * n}

    def decide(profile, results):
        log.append((f"{claim_id} decide", sorted(results)))
        r = new_result(claim_id, "c", "s", profile, dict(settings))
        r.add_table("t", ["score"], [[results["train-s0"]["score"]], [results["train-s1"]["score"]]])
        return finish(r, "inconclusive", "r", "w", "h")

    return types.SimpleNamespace(config=lambda p: dict(settings), units=units, train=train, time=time,
                                 decide=decide, CLAIM="c")


def test_timed_units_run_last_at_the_callers_threads_and_the_others_on_one(tmp_path, monkeypatch):
    log = []
    mods = {"CT": _fake("CT", log, timed=True), "CA": _fake("CA", log), "CB": _fake("CB", log)}
    monkeypatch.setattr(runner, "load", lambda cid: mods[cid])
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        results = runner.reproduce(["CT", "CA", "CB"], "quick", tmp_path, echo=lambda s: None, jobs=1)
    finally:
        torch.set_num_threads(before)
    assert [r.claim_id for r in results] == ["CT", "CA", "CB"]  # returned in the order asked
    assert log == [("CA", 1), ("CB", 1), ("CT", 2)]


def test_a_claims_units_run_then_its_timed_unit_then_decide_and_each_is_stored(tmp_path, monkeypatch):
    log = []
    monkeypatch.setattr(runner, "load", lambda cid: {"CU": _units_claim("CU", log)}[cid])
    torch_threads = torch.get_num_threads()
    lines = []
    (result,) = runner.reproduce(["CU"], "quick", tmp_path, echo=lines.append, jobs=1)
    assert log == [("CU train-s1", 1), ("CU train-s0", 1), ("CU time", torch_threads),  # largest FLOPs first
                   ("CU decide", ["time", "train-s0", "train-s1"])]
    assert result.tables[0].rows == [[0.1], [1.1]] and result.wall_time >= 0
    stored = json.loads((tmp_path / "CU" / "units" / "train-s1.json").read_text())
    assert stored["value"] == {"score": 1.1} and stored["seed"] == 1 and stored["digest"] and stored["versions"]
    assert stored["wall_time"] >= 0 and stored["flops"] == 1 and stored["fn"] == "train"
    assert sum("unit " in line for line in lines) == 4  # one line per unit (the timed one announced too)


def test_a_killed_run_resumes_and_a_changed_setting_reruns_only_its_units(tmp_path, monkeypatch):
    log = []
    monkeypatch.setattr(runner, "load", lambda cid: {"CU": _units_claim("CU", log)}[cid])
    runner.reproduce(["CU"], "quick", tmp_path, echo=lambda s: None, jobs=1)
    (tmp_path / "CU" / "result.json").unlink()  # as if killed before the claim was decided
    (tmp_path / "CU" / "units" / "train-s0.json").unlink()  # ... and before this unit finished
    log.clear()
    runner.reproduce(["CU"], "quick", tmp_path, echo=lambda s: None, jobs=1)
    assert [entry[0] for entry in log] == ["CU train-s0", "CU decide"]  # the stored units are reused
    log.clear()
    runner.reproduce(["CU"], "quick", tmp_path, echo=lambda s: None, jobs=1)
    assert log == []  # the claim's result is stored: nothing runs
    monkeypatch.setattr(runner, "load", lambda cid: {"CU": _units_claim("CU", log, {"lr": 0.2})}[cid])
    runner.reproduce(["CU"], "quick", tmp_path, echo=lambda s: None, jobs=1)
    assert [entry[0] for entry in log] == ["CU train-s1", "CU train-s0", "CU decide"]  # the timed unit is unchanged
    log.clear()
    runner.reproduce(["CU"], "quick", tmp_path, echo=lambda s: None, jobs=1, force=True)
    assert [entry[0] for entry in log] == ["CU train-s1", "CU train-s0", "CU time", "CU decide"]


def test_a_failing_unit_fails_its_claim_not_the_ledger(tmp_path, monkeypatch):
    log = []
    broken = _units_claim("CX", log)

    def train(seed, lr):
        raise ValueError("no data")

    broken.train = train
    mods = {"CX": broken, "CA": _fake("CA", log)}
    monkeypatch.setattr(runner, "load", lambda cid: mods[cid])
    results = runner.reproduce(["CX", "CA"], "quick", tmp_path, echo=lambda s: None, jobs=1)
    assert [r.verdict for r in results] == ["error", "inconclusive"]
    assert "ValueError: no data" in results[0].error and "train-s1" in results[0].error
    assert not (tmp_path / "CX" / "units" / "train-s1.json").exists() or json.loads(
        (tmp_path / "CX" / "units" / "train-s1.json").read_text())["error"]


def _numbers(folder):
    return {c: comparable(json.loads((folder / c / "result.json").read_text())) for c in ("C2", "C21")}


def test_two_worker_processes_give_the_numbers_of_one(tmp_path):
    lines = []
    serial = runner.reproduce(["C2", "C21"], "quick", tmp_path / "one", echo=lines.append, jobs=1)
    pooled = runner.reproduce(["C2", "C21"], "quick", tmp_path / "two", echo=lines.append, jobs=2)
    assert [r.verdict for r in pooled] == [r.verdict for r in serial] == ["confirmed", "refuted"]
    assert _numbers(tmp_path / "one") == _numbers(tmp_path / "two")
    assert any("2 processes" in line for line in lines)
    again = []
    runner.reproduce(["C2", "C21"], "quick", tmp_path / "two", echo=again.append, jobs=2)
    assert sum("skipped" in line for line in again) == 2 and not any("processes" in line for line in again)


def test_unit_results_of_a_pool_equal_those_of_one_process(tmp_path, monkeypatch):
    """C3's units (one per seed) at a tiny size: the pool's stored numbers are the inline run's."""
    from seqlab.experiments import load

    module = load("C3")
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    inline = comparable(run_inline(module, "quick").to_dict())
    units = [u for u in module.units("quick", {})]
    from seqlab.experiments.core.executors import LocalPool

    pool = LocalPool(load, 2)
    try:
        pooled = {u.key: pool.submit("C3", u).result()["value"] for u in units}
    finally:
        pool.close()
    assert comparable(module.decide("quick", pooled).to_dict()) == inline
