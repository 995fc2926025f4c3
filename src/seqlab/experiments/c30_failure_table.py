"""C30: placeholder until its experiment lands (issue 13)."""

from __future__ import annotations

from seqlab.experiments.base import check_profile, finish, new_result

CLAIM_ID = "C30"
CLAIM = ("The chapter's failure table: a plain RNN loses a referent or an early clause that gates and attention keep (coreference-like and first-versus-last-clause tasks).")

PROFILES = {"quick": {"size": "quick"}, "full": {"size": "full"}}


def config(profile: str) -> dict:
    return dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    result = new_result(CLAIM_ID, CLAIM, "not built yet", profile, config(profile))
    return finish(result, "inconclusive", "no experiment yet", "", "not built yet")
