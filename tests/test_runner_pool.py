"""The runner: training claims on one thread (in worker processes when jobs > 1), timed claims
afterwards, alone; the numbers do not depend on how many workers ran them."""

import json
import types

import pytest
import torch

from seqlab.experiments.core import runner
from seqlab.experiments.core.base import comparable, finish, new_result


def _fake(claim_id, log, timed=False):
    def run(profile):
        log.append((claim_id, torch.get_num_threads()))
        return finish(new_result(claim_id, "c", "s", profile, {}), "inconclusive", "r", "w", "h")

    return types.SimpleNamespace(config=lambda p: {}, run=run, TIMED=timed)


def test_timed_claims_run_last_at_the_callers_threads_and_training_claims_on_one(tmp_path, monkeypatch):
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


def test_a_timed_claims_prepare_runs_with_the_training_claims_and_feeds_its_run(tmp_path, monkeypatch):
    log = []

    def prepare(profile):
        log.append(("prepare", torch.get_num_threads()))
        return {"trained": 42}

    def run(profile, prepared=None):
        log.append(("run", prepared))
        return finish(new_result("CT", "c", "s", profile, {}), "inconclusive", "r", "w", "h")

    timed = types.SimpleNamespace(config=lambda p: {}, run=run, prepare=prepare, TIMED=True)
    mods = {"CT": timed, "CA": _fake("CA", log)}
    monkeypatch.setattr(runner, "load", lambda cid: mods[cid])
    runner.reproduce(["CT", "CA"], "quick", tmp_path, echo=lambda s: None, jobs=1)
    assert log == [("CA", 1), ("prepare", 1), ("run", {"trained": 42})]
    log.clear()
    runner.reproduce(["CT", "CA"], "quick", tmp_path, echo=lambda s: None, jobs=1)
    assert log == []  # both stored: neither prepared nor run again


@pytest.mark.parametrize("claim_id", ["C11", "C14", "C20"])
def test_run_with_a_preparation_gives_the_numbers_of_run_alone(claim_id, monkeypatch, one_thread):
    from seqlab.experiments import load

    module = load(claim_id)
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    alone = comparable(module.run("quick").to_dict())
    split = comparable(module.run("quick", prepared=module.prepare("quick")).to_dict())
    assert json.dumps(alone, sort_keys=True) == json.dumps(split, sort_keys=True)
