"""Same command, same numbers: every training-based claim, run twice at a tiny size, gives the
same result.json except the fields marked as timings (``seqlab.experiments.core.base.comparable``).

A claim joins by defining ``TINY``, a Config of its own small enough to run in a few
seconds; the test swaps it in for the quick profile.
"""

import json

import pytest

from seqlab.experiments import REGISTRY, load
from seqlab.experiments.core.base import comparable
from seqlab.experiments.core.units import run_inline

TRAINING_CLAIMS = [c for c in REGISTRY if hasattr(load(c), "TINY")]


def _run(module, monkeypatch) -> str:
    monkeypatch.setitem(module.PROFILES, "quick", module.TINY)
    result = run_inline(module, "quick")
    assert result.verdict != "error", result.error
    return json.dumps(comparable(result.to_dict()), sort_keys=True)  # NaN == NaN as text


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (conftest.py)


@pytest.mark.parametrize("claim_id", TRAINING_CLAIMS)
def test_same_seed_same_result(claim_id, monkeypatch):
    module = load(claim_id)
    assert _run(module, monkeypatch) == _run(module, monkeypatch)
