"""C9: the usable memory of an LSTM or GRU is on the order of 100-300 steps.

Recall task: copy memory with one symbol (of 8) shown at the start and asked for
after d blank steps (chance accuracy 1/8). LSTM and GRU train with the same
budget at each distance d; the effective context is the largest d still
recalled with accuracy >= 0.9. An upper limit can only be read off a run that
trains long enough, so the quick profile (a few hundred steps) is inconclusive
by rule; the full profile trains 3000 steps up to d = 1000.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.tasks import CopyMemory
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.training import fit, score

CLAIM_ID = "C9"
CLAIM = "LSTMs and GRUs in practice use roughly the last 100-300 tokens of context; beyond that, recall fails."
ARCHS = ("lstm", "gru")
SOLID = 0.9  # accuracy that counts as "recalled"
ENOUGH_STEPS = 2000  # a budget below this cannot put an upper limit on context


@dataclass(frozen=True)
class Config:
    distances: tuple[int, ...] = (20, 60, 150)
    alphabet: int = 8
    hidden: int = 32
    steps: int = 200
    lr: float = 0.01
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(distances=(50, 100, 200, 300, 600, 1000), hidden=128, steps=3000,
                                              lr=2e-3)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(distances=(2, 4), alphabet=4, hidden=8, steps=4)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def effective_context(accs: dict[int, float]) -> int:
    """Largest distance recalled with accuracy >= SOLID (0 when none)."""
    return max([d for d, a in accs.items() if a >= SOLID], default=0)


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"Copy memory, 1 symbol of {cfg.alphabet}, recalled after d blanks, d in {list(cfg.distances)}; "
        f"{', '.join(ARCHS)} with hidden {cfg.hidden} (LSTM forget bias 1), Adam lr {cfg.lr}, clip 1.0, "
        f"{cfg.steps} batches of 32; accuracy on 128 held-out sequences."), profile, config(profile), cfg.seed)
    accs: dict = {a: {} for a in ARCHS}
    rows = []
    for arch in ARCHS:
        spec = ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=16, forget_bias=1.0 if arch == "lstm" else None)
        for d in cfg.distances:
            task = CopyMemory(d, 1, cfg.alphabet)
            f = fit(spec, task, cfg.steps, lr=cfg.lr, seed=cfg.seed, clip_norm=1.0)
            accs[arch][d] = score(f.model, task, batches=2)["accuracy"]
            rows.append([arch, d, accs[arch][d], round(f.wall_time, 1)])
    ctx = {a: effective_context(accs[a]) for a in ARCHS}
    result.add_table("recall accuracy vs distance", ["arch", "distance d", "accuracy", "train s"], rows,
                     timing=["train s"])
    result.add_table("effective context (largest d with accuracy >= 0.9)", ["arch", "effective context"],
                     [[a, c] for a, c in ctx.items()])
    ds = np.asarray(cfg.distances)
    curves = {a: (ds, [accs[a][d] for d in cfg.distances]) for a in ARCHS}
    curves["chance"] = (ds, [1 / cfg.alphabet] * len(ds))
    result.add_figure("recall", "Recall accuracy against distance.",
                      line_plot(curves, "recall vs distance", "distance d", "accuracy", logx=True))
    return _verdict(result, accs, ctx, cfg)


def _verdict(result, accs: dict, ctx: dict, cfg: Config):
    longest = max(cfg.distances)
    bounded = {a: ctx[a] < longest for a in ARCHS}  # found a distance it cannot recall
    in_range = all(100 <= ctx[a] <= 300 and bounded[a] for a in ARCHS)
    too_long = any(ctx[a] >= 600 for a in ARCHS)
    too_short = all(ctx[a] < 50 for a in ARCHS)
    verdict = decide(enough=cfg.steps >= ENOUGH_STEPS, confirmed=in_range, refuted=too_long or too_short)
    return finish(result, verdict,
                  f"needs a training budget of at least {ENOUGH_STEPS} steps (else inconclusive). Confirmed when the "
                  "effective context (largest d with accuracy >= 0.9) of both LSTM and GRU lies in 100..300 and a "
                  "longer tested distance fails; refuted when either model recalls at d >= 600 or both fail "
                  "already below 50.",
                  "effective context: " + ", ".join(f"{a} {c}" for a, c in ctx.items())
                  + f" (steps {cfg.steps}, longest tested {longest})",
                  "effective context " + ", ".join(f"{a} {c}" for a, c in ctx.items()))
