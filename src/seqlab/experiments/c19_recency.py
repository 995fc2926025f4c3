"""C19: a vanilla RNN weighs recent input more than early input.

Toy sentiment over filler words. Decisive test ("bad ... but amazing"): two
decisive words of independent polarity at random positions; one model learns
the rule "the label is the first word's polarity", another "the last word's".
A reader that favours recent input finds the last-word rule easy and the
first-word rule hard (the later word overwrites the earlier one). Side test: a
single decisive word anywhere, with accuracy by its position. An LSTM is trained
the same way for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.probe_tasks import DecisiveToken
from seqlab.experiments.training import fit, score

CLAIM_ID = "C19"
CLAIM = ("A vanilla RNN reading a sentence favours the last words it saw: a deciding word near the end is "
         "used, the same word near the start is largely forgotten.")
ARCHS = ("rnn_tanh", "lstm")
BUCKETS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0))


@dataclass(frozen=True)
class Config:
    length: int = 50
    fillers: int = 8
    hidden: int = 32
    steps: int = 300
    lr: float = 0.01
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(length=200, hidden=128, steps=3000, lr=2e-3)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(length=10, fillers=4, hidden=8, steps=3)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"Sequences of {cfg.length} tokens ({cfg.fillers} filler words) with one decisive word anywhere; label at "
        f"the end. {', '.join(ARCHS)} with hidden {cfg.hidden}, Adam lr {cfg.lr}, clip 1.0, {cfg.steps} batches of "
        "32; accuracy on 128 held-out sequences per position bucket (chance 0.5)."), profile, config(profile),
        cfg.seed)
    acc, rows, rule_acc = {}, [], {}
    for arch in ARCHS:
        spec = ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=16, forget_bias=1.0 if arch == "lstm" else None)
        for rule in ("first", "last"):
            task = DecisiveToken(cfg.length, cfg.fillers, rule=rule)
            model = fit(spec, task, cfg.steps, lr=cfg.lr, seed=cfg.seed, clip_norm=1.0).model
            rule_acc[(arch, rule)] = score(model, task, batches=2)["accuracy"]
        model = fit(spec, DecisiveToken(cfg.length, cfg.fillers), cfg.steps, lr=cfg.lr, seed=cfg.seed,
                    clip_norm=1.0).model
        acc[arch] = [score(model, DecisiveToken(cfg.length, cfg.fillers, lo, hi), batches=2)["accuracy"]
                     for lo, hi in BUCKETS]
        rows += [[arch, f"{lo:.0%}-{hi:.0%}", a] for (lo, hi), a in zip(BUCKETS, acc[arch])]
    result.add_table("two conflicting words: accuracy when the label follows the first or the last",
                     ["arch", "label = first word", "label = last word"],
                     [[a, rule_acc[(a, "first")], rule_acc[(a, "last")]] for a in ARCHS])
    result.add_table("one decisive word: accuracy by its position", ["arch", "position", "accuracy"], rows)
    centers = np.asarray([(lo + hi) / 2 for lo, hi in BUCKETS])
    result.add_figure("recency", "Accuracy against the decisive word's position (fraction of the sequence).",
                      line_plot({a: (centers, acc[a]) for a in ARCHS}, "accuracy vs position", "position",
                                "accuracy"))
    return _verdict(result, rule_acc, acc)


def _verdict(result, rule_acc: dict, acc: dict):
    first, last = rule_acc[("rnn_tanh", "first")], rule_acc[("rnn_tanh", "last")]
    gap = last - first
    verdict = decide(enough=last >= 0.9, confirmed=gap >= 0.2, refuted=gap <= 0.05)
    return finish(result, verdict,
                  "two conflicting words; needs the RNN to learn the last-word rule (accuracy >= 0.9), else it learned "
                  "too little to tell. Confirmed when its accuracy under the first-word rule is at least 0.2 lower; "
                  "refuted when the gap is 0.05 or less.",
                  f"RNN: label = first word {first:.2f}, label = last word {last:.2f} (gap {gap:.2f}); LSTM: "
                  f"{rule_acc[('lstm', 'first')]:.2f} / {rule_acc[('lstm', 'last')]:.2f}; one word, RNN early "
                  f"{acc['rnn_tanh'][0]:.2f} vs late {acc['rnn_tanh'][-1]:.2f}",
                  f"RNN first-word rule {first:.2f} vs last-word rule {last:.2f}")
