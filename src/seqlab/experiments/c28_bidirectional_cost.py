"""C28: placeholder until its experiment lands (issue 13)."""

from __future__ import annotations

from seqlab.experiments.base import check_profile, finish, new_result

CLAIM_ID = "C28"
CLAIM = ("A bidirectional RNN doubles the state, so it costs about twice the memory as well as twice the time of a one-directional RNN.")

PROFILES = {"quick": {"size": "quick"}, "full": {"size": "full"}}


def config(profile: str) -> dict:
    return dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    result = new_result(CLAIM_ID, CLAIM, "not built yet", profile, config(profile))
    return finish(result, "inconclusive", "no experiment yet", "", "not built yet")
