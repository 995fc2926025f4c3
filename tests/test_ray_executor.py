"""``seqlab reproduce --executor ray`` on a two-node Ray cluster on 127.0.0.1: the unit results equal a
local run's, and a node killed mid-run has its unit retried on the other node, so the run completes.

The cluster is two ``ray start`` processes (head and worker, one CPU each, loopback only), started
and stopped by their own process groups (``tests/ray_cluster.py``). Claims run at tiny sizes."""

import json
import os
import subprocess
import sys
import time
from datetime import datetime

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install -e '.[ray]')")

from ray_cluster import LocalCluster  # noqa: E402  (tests/ is on sys.path under pytest)

from seqlab.experiments.core import runner  # noqa: E402
from seqlab.experiments.core.base import comparable  # noqa: E402
from seqlab.experiments.registry import load  # noqa: E402

CLAIMS = ("C1", "C4", "C12")
TINY = {"C4": "TINY", "C12": "TINY"}  # C1's quick profile is already seconds
# the CLI, with C4 and C12 at their tiny sizes (the units carry their sizes to the Ray workers)
CLI = ("import sys\n"
       "from seqlab.experiments.registry import load\n"
       f"for claim_id, name in {TINY!r}.items():\n"
       "    module = load(claim_id)\n"
       "    module.PROFILES['quick'] = getattr(module, name)\n"
       "from seqlab.cli import main\n"
       "sys.exit(main(sys.argv[1:]))\n")
TIMES = ("train_seconds", "wall_time", "seconds")  # timing fields inside unit results


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIMES}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _numbers(folder):
    """Per claim: the result without its timing fields, and every unit's result without its times."""
    out = {}
    for claim_id in CLAIMS:
        units = sorted((folder / claim_id / "units").glob("*.json"))
        out[claim_id] = {"result": comparable(json.loads((folder / claim_id / "result.json").read_text())),
                         "units": {p.stem: _untimed(json.loads(p.read_text())["value"]) for p in units}}
        for key in ("versions", "machine"):
            out[claim_id]["result"].pop(key, None)
    return out


def _records(folder):
    return [json.loads(p.read_text()) for p in folder.glob("*/units/*.json")]


@pytest.mark.slow
def test_ray_cluster_runs_the_units_of_a_local_run_and_survives_a_killed_node(tmp_path, monkeypatch):
    for claim_id, name in TINY.items():
        monkeypatch.setitem(load(claim_id).PROFILES, "quick", getattr(load(claim_id), name))
    runner.reproduce(list(CLAIMS), "quick", tmp_path / "local", echo=lambda s: None, jobs=1)

    # a driver on this machine keeps 127.0.0.1 (Ray would swap in the external address, where nothing listens)
    monkeypatch.setattr(ray._private.ray_constants, "ENABLE_RAY_CLUSTER", False)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    with LocalCluster(workers=1, cpus=1) as cluster:
        ray.init(address=cluster.address, logging_level="ERROR", log_to_driver=False)
        try:
            worker = next(n["NodeID"] for n in ray.nodes() if "worker0" in n["Resources"])
        finally:
            ray.shutdown()
        out = tmp_path / "ray"
        cmd = [sys.executable, "-c", CLI, "reproduce", "--only", ",".join(CLAIMS), "--executor", "ray",
               "--address", cluster.address, "--out", str(out)]
        log = (tmp_path / "ray.log").open("w")
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + 240
        while not any(r.get("node") == worker for r in _records(out)):  # the worker node is running units
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "ray.log").read_text()
            time.sleep(0.2)
        cluster.kill("worker0")
        killed_at = time.time()
        assert proc.wait(timeout=240) == 0, (tmp_path / "ray.log").read_text()
    text = (tmp_path / "ray.log").read_text()
    assert "2 node(s)" in text, text
    assert all(json.loads((out / c / "result.json").read_text())["verdict"] != "error" for c in CLAIMS), text
    records = _records(out)
    assert {r["node"] for r in records} == {worker, *(r["node"] for r in records if r["node"] != worker)}
    assert len({r["node"] for r in records}) == 2  # units ran on both nodes
    later = [r for r in records if datetime.fromisoformat(r["started"]).timestamp() >= killed_at + 1]
    assert later and all(r["node"] != worker for r in later)  # after the kill, the head ran every unit
    assert _numbers(out) == _numbers(tmp_path / "local")  # the same numbers as the local run
