"""C26: placeholder until its experiment lands (issue 13)."""

from __future__ import annotations

from seqlab.experiments.base import check_profile, finish, new_result

CLAIM_ID = "C26"
CLAIM = ("Exploding and vanishing gradients show as symptoms a monitor can flag: gradient norms above 1e3 or below 1e-7, and the weight norms the chapter describes.")

PROFILES = {"quick": {"size": "quick"}, "full": {"size": "full"}}


def config(profile: str) -> dict:
    return dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    result = new_result(CLAIM_ID, CLAIM, "not built yet", profile, config(profile))
    return finish(result, "inconclusive", "no experiment yet", "", "not built yet")
