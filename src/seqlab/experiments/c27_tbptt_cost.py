"""C27: placeholder until its experiment lands (issue 13)."""

from __future__ import annotations

from seqlab.experiments.base import check_profile, finish, new_result

CLAIM_ID = "C27"
CLAIM = ("Truncated BPTT bounds the cost of an update: time and memory per update grow with the truncation length k2, not with the sequence length.")

PROFILES = {"quick": {"size": "quick"}, "full": {"size": "full"}}


def config(profile: str) -> dict:
    return dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    result = new_result(CLAIM_ID, CLAIM, "not built yet", profile, config(profile))
    return finish(result, "inconclusive", "no experiment yet", "", "not built yet")
