"""C4: vanilla RNNs fail at long dependencies where LSTM and GRU succeed.

Each architecture trains with the same budget on the adding problem and on copy
memory, at a short and a long dependency length. "Solved": adding-problem MSE
below 0.2 x chance (chance = predicting the mean, MSE 1/6); copy accuracy at
least 0.8 on the recalled symbols (chance = 1/alphabet). The short length checks
that the budget suffices when the dependency is short, so a failure at the long
length is about distance, not about training too little.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.tasks import AddingProblem, CopyMemory
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.training import fit, score

CLAIM_ID = "C4"
CLAIM = ("A vanilla RNN cannot learn dependencies that span many steps; LSTM and GRU, given the same budget, can.")
ARCHS = ("rnn_tanh", "lstm", "gru")


@dataclass(frozen=True)
class Config:
    adding_lengths: tuple[int, ...] = (10, 100)
    copy_delays: tuple[int, ...] = (2, 40)
    copy_symbols: int = 2
    alphabet: int = 4
    hidden: int = 32
    steps: int = 300
    lr: float = 0.01
    seed: int = 0


PROFILES = {"quick": Config(),
            "full": Config(adding_lengths=(20, 100, 200, 400), copy_delays=(10, 50, 100, 200), hidden=128,
                           copy_symbols=5, alphabet=8, steps=3000, lr=2e-3)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(adding_lengths=(5, 10), copy_delays=(2, 4), hidden=4, steps=2)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def solved(task_name: str, s: dict) -> bool:
    return s["normalized"] < 0.2 if task_name == "adding" else s["accuracy"] >= 0.8


def failed(task_name: str, s: dict, alphabet: int) -> bool:
    return s["normalized"] > 0.5 if task_name == "adding" else s["accuracy"] < 1.0 / alphabet + 0.2


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"Architectures {list(ARCHS)} (LSTM with forget bias 1), hidden {cfg.hidden}, Adam lr {cfg.lr}, clip 1.0, "
        f"{cfg.steps} batches of 32. Adding problem at T in {list(cfg.adding_lengths)}; copy memory with "
        f"{cfg.copy_symbols} symbols of {cfg.alphabet} and delays {list(cfg.copy_delays)}. Scored on 128 held-out "
        "sequences."), profile, config(profile), cfg.seed)
    tasks = {"adding": [(T, AddingProblem(T)) for T in cfg.adding_lengths],
             "copy": [(d, CopyMemory(d, cfg.copy_symbols, cfg.alphabet)) for d in cfg.copy_delays]}
    scores: dict = {}
    rows = []
    for name, sized in tasks.items():
        for arch in ARCHS:
            spec = ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=16,
                               forget_bias=1.0 if arch == "lstm" else None)
            for length, task in sized:
                f = fit(spec, task, cfg.steps, lr=cfg.lr, seed=cfg.seed, clip_norm=1.0)
                s = score(f.model, task, batches=2)
                scores[(name, arch, length)] = s
                rows.append([name, arch, length, s["normalized"], s["accuracy"], solved(name, s),
                             round(f.wall_time, 1)])
    result.add_table("held-out scores", ["task", "arch", "length / delay", "loss / chance", "accuracy", "solved",
                                         "train s"], rows, timing=["train s"])
    for name, sized in tasks.items():
        lengths = np.asarray([n for n, _ in sized])
        curves = {a: (lengths, [scores[(name, a, n)]["accuracy"] for n in lengths]) for a in ARCHS}
        result.add_figure(f"{name}_accuracy", f"{name}: accuracy against dependency length, per architecture.",
                          line_plot(curves, f"{name}: accuracy vs length", "length", "accuracy", logx=True))
    return _verdict(result, scores, cfg)


def _verdict(result, scores: dict, cfg: Config):
    lengths = {"adding": cfg.adding_lengths, "copy": cfg.copy_delays}
    per_task, notes = {}, []
    for name, ls in lengths.items():
        short, long = min(ls), max(ls)
        rnn_short = solved(name, scores[(name, "rnn_tanh", short)])
        rnn_long_fails = failed(name, scores[(name, "rnn_tanh", long)], cfg.alphabet)
        gated = [a for a in ("lstm", "gru") if solved(name, scores[(name, a, long)])]
        per_task[name] = (rnn_short and rnn_long_fails and bool(gated),
                          solved(name, scores[(name, "rnn_tanh", long)]) and not gated, rnn_short)
        notes.append(f"{name}: RNN solves length {short}: {rnn_short}; RNN fails at {long}: {rnn_long_fails}; "
                     f"gated solving {long}: {', '.join(gated) or 'none'}")
    verdict = decide(enough=all(v[2] for v in per_task.values()),
                     confirmed=all(v[0] for v in per_task.values()), refuted=any(v[1] for v in per_task.values()))
    n_conf = sum(v[0] for v in per_task.values())
    return finish(result, verdict,
                  "needs the RNN to solve the short length (else the budget is too small: inconclusive). Confirmed "
                  "when, on every task, the RNN fails the long length (adding: loss > 0.5 x chance; copy: accuracy "
                  "< chance + 0.2) while LSTM or GRU solves it (adding: loss < 0.2 x chance; copy: accuracy >= 0.8); "
                  "refuted when the RNN solves a long length that no gated model solves.",
                  "; ".join(notes), f"pattern holds on {n_conf}/{len(per_task)} tasks")
