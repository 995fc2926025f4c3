"""Drill 2: the drill RNN trained with and without gradient clipping, loss curves compared.

Runs the reference drill ``clipping`` (``seqlab.reference.drills.clipping``): a NumPy
tanh RNN on the adding problem, recurrent weights initialised several times too
large, plain SGD on identical batches from the identical init, once with raw
gradients and once with the global gradient norm clipped.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqlab.config import to_dict
from seqlab.experiments.core.base import check_profile, judge, finish, new_result
from seqlab.reference.drills import clipping

CLAIM_ID = "D2"
CLAIM = ("Drill: with an oversized recurrent init, unclipped SGD spikes or diverges while the clipped run "
         "trains smoothly.")


@dataclass(frozen=True)
class Config:
    steps: int = 300
    lr: float = 0.1
    scale: float = 4.0
    clip: float = 1.0
    length: int = 10
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(steps=1000, length=20)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(steps=20, length=5)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"NumPy tanh RNN (hidden 32), adding problem T = {cfg.length}, W_hh x {cfg.scale:g}, SGD lr {cfg.lr:g}, "
        f"{cfg.steps} steps, with and without clipping to global norm {cfg.clip:g}."), profile, config(profile),
        cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        drill = clipping.run(Path(tmp), seed=cfg.seed, steps=cfg.steps, lr=cfg.lr, scale=cfg.scale,
                             clip=cfg.clip, length=cfg.length)
        result.add_figure("clipping", "Loss (left) and gradient norm before clipping (right), both runs.",
                          Path(drill["png"]).read_bytes())
    s = drill["summary"]
    cols = ["final_loss", "worst_loss", "spikes", "diverged", "max_grad_norm", "clipped_fraction"]
    result.add_table("runs", ["run", *cols], [[name, *(v[c] for c in cols)] for name, v in s.items()])
    plain, clipped = s["no clipping"], s[f"clip norm {cfg.clip:g}"]
    plain_bad = plain["diverged"] or plain["spikes"] > clipped["spikes"] + 2
    clipped_ok = not clipped["diverged"] and math.isfinite(clipped["final_loss"]) \
        and clipped["final_loss"] <= drill["chance_loss"]
    verdict = judge(enough=plain["max_grad_norm"] > 10 * cfg.clip, confirmed=plain_bad and clipped_ok,
                     refuted=clipped["diverged"] or (not plain_bad and plain["final_loss"] <= clipped["final_loss"]))
    return finish(result, verdict,
                  "needs the raw gradient to exceed 10x the clip threshold (else clipping does nothing). Confirmed "
                  "when the unclipped run diverges or spikes more (by > 2 spikes) and the clipped run ends finite at "
                  "or below chance; refuted when the clipped run diverges, or the unclipped run is neither unstable "
                  "nor worse.",
                  f"no clipping: diverged {plain['diverged']}, spikes {plain['spikes']}, max |g| "
                  f"{plain['max_grad_norm']:.3g}; clipped: final MSE {clipped['final_loss']:.4f}, spikes "
                  f"{clipped['spikes']} (chance {drill['chance_loss']:.3f})",
                  f"clipped final MSE {clipped['final_loss']:.3f}; unclipped diverged: {plain['diverged']}")
