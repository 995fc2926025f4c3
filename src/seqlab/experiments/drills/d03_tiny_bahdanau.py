"""Drill 3: a tiny Bahdanau attention, 3-token source and 2-token target; its weights.

Runs the reference drill ``bahdanau`` (``seqlab.reference.drills.bahdanau``): a NumPy
encoder-decoder with additive attention on a toy task whose alignment is known
(target = (source 3, source 1)), trained with its hand-written backward pass; the
2 x 3 attention table is read before and after training.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from seqlab.config import to_dict
from seqlab.experiments.core.base import check_profile, judge, finish, new_result
from seqlab.reference.drills import bahdanau

CLAIM_ID = "D3"
CLAIM = ("Drill: after training, additive attention puts most of its weight on the source position each "
         "target word was taken from.")


@dataclass(frozen=True)
class Config:
    steps: int = 300
    lr: float = 0.02
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(steps=1000)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(steps=20)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"NumPy encoder-decoder with additive attention (hidden 8), vocabulary of 6 letters, target = (source 3, "
        f"source 1), Adam lr {cfg.lr:g}, {cfg.steps} steps."), profile, config(profile), cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        drill = bahdanau.run(Path(tmp), seed=cfg.seed, steps=cfg.steps, lr=cfg.lr)
        result.add_figure("bahdanau", "Attention weights before and after training, and the loss curve.",
                          Path(drill["png"]).read_bytes())
    src, tgt = drill["source"].split(), drill["target"].split()
    cols = [f"{j + 1}:{s}" for j, s in enumerate(src)]
    for key, title in (("weights_before", "before training"), ("weights_after", "after training")):
        result.add_table(f"attention weights {title} (target step x source position)", ["target", *cols],
                         [[f"{i + 1}:{t}", *row] for i, (t, row) in enumerate(zip(tgt, drill[key]))])
    hits = [w == a for w, a in zip(drill["winners"], drill["alignment"])]
    peak = min(drill["weights_after"][i][a] for i, a in enumerate(drill["alignment"]))
    verdict = judge(enough=drill["accuracy"] >= 0.9, confirmed=all(hits) and peak >= 0.5, refuted=not any(hits))
    return finish(result, verdict,
                  "needs the toy translation learned (token accuracy >= 0.9). Confirmed when each target step's "
                  "largest weight sits on its true source position with weight >= 0.5; refuted when no step "
                  "attends to its true source.",
                  f"winners {[w + 1 for w in drill['winners']]} vs true {[a + 1 for a in drill['alignment']]}; "
                  f"smallest true-position weight {peak:.3f}; token accuracy {drill['accuracy']:.1%}",
                  f"true-source weight >= {peak:.2f}")
