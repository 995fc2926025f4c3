"""C19: a recurrent encoder's final state keeps recent tokens and loses early ones.

The chapter's sentence is about the encoder of a seq2seq model, an RNN that compresses
the whole input into its final state (the chapter's h_T = RNN_enc(x_1..x_T); gated or
not: the Sutskever et al. encoder it names was an LSTM). So the claim's models are the
recurrent ones, a tanh RNN and an LSTM; a causal Transformer layer, read at the same last
position, is the contrast (reported, never deciding; read at one position it has a bottleneck of its own,
a d_model-wide output, but no order in which it must forget).

Task (``Reconstruct``): T random symbols (``symbols`` of them: every token is a target and a
distractor for the others); at the last step the model outputs the one-hot code of *every*
input symbol (T x symbols outputs, MSE), so the last state must hold the whole sequence,
as an encoder's must. Each position weighs the same in the loss: no position is trained
more than another. Accuracy per input token = argmax of its block; chance 1/symbols. The
profile: accuracy by distance from the end d = 1..T-1 (d = 0, the token read at the last
step itself, is left out), averaged in ``windows`` equal windows, nearest first.

A recurrent net may also keep the very first token, written into an empty state (primacy);
the tables report it, and the rule reads the fitted line over all windows, not one token.

Rule (fixed before the run): shape = the fall of the least-squares line of window accuracy
against window index, from the nearest window to the farthest ("drop"; positive = accuracy
falls with distance from the end). Confirmed when for both recurrent models the drop is >=
``min_drop`` by ``rules.paired`` over paired seeds (every seed with 3, a bootstrap interval
with >= 5). Refuted only when both are flat: drop < ``flat`` the same way. Otherwise
inconclusive. Gates: both recurrent models competent where the token is recent (nearest
window >= ``competent`` in every seed); the task hard enough that it could show an effect
(the farthest window's median below ``ceiling`` for at least one recurrent model: a model
perfect everywhere shows nothing either way); and, for the confirming branch, which rests
on early tokens being lost, each recurrent model trained (its drop, measured on dev sequences
at ``evals`` points, shrank <= ``converged`` over the last quarter: not a budget that ran out
while the far tokens were still being learned).

Quick: T = 21, hidden 32, 400 updates, 3 seeds (the count rule; ~20 s on one core). Full adds
length (T = 41), width (hidden 64), updates (1500) and seeds (5: the bootstrap rule); about 4
minutes on one CPU core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.batch import SeqBatch
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.training import fit
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C19"
CLAIM = ('The chapter, of the RNN encoder: "Early tokens in long sequences get "overwritten" as the encoder '
         'processes more tokens. By the time you reach the end, the beginning is a faint echo." (tested: how well '
         "each input token can be read from the final state, by its distance from the end)")
RNN, LSTM, ATTENTION = "rnn_tanh", "lstm", "transformer"
ARCHS = (RNN, LSTM, ATTENTION)
RECURRENT = (RNN, LSTM)  # the claim's models
PREDICTED = {RNN: "accuracy falls with distance from the end (drop >= min_drop)",
             LSTM: "accuracy falls with distance from the end (drop >= min_drop)",
             ATTENTION: "contrast only (reported)"}


@dataclass(frozen=True)
class Reconstruct:
    """T random symbols; at the last step, the one-hot code of every one of them (MSE)."""

    length: int = 21
    symbols: int = 4

    input_dim = None
    loss_kind = "mse"

    @property
    def vocab_size(self) -> int:
        return self.symbols + 1

    @property
    def output_dim(self) -> int:
        return self.length * self.symbols

    @property
    def chance_loss(self) -> float:
        return (1 / self.symbols) * (1 - 1 / self.symbols)  # predicting 1/symbols everywhere

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, T, A = batch_size, self.length, self.symbols
        s = torch.randint(0, A, (B, T), generator=generator)  # (B, T) symbols
        y = torch.zeros(B, T, T * A)
        y[:, -1] = torch.nn.functional.one_hot(s, A).float().reshape(B, T * A)  # (B, T*A) at the last step
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, -1] = True
        return SeqBatch(s + 1, y, mask)


@dataclass(frozen=True)
class Config:
    length: int = 21
    symbols: int = 4
    windows: int = 10  # distances 1..length-1 in this many equal windows
    hidden: int = 32
    embed_dim: int = 16
    heads: int = 2
    steps: int = 400
    batch_size: int = 32
    lr: float = 0.01  # RNN and LSTM
    attention_lr: float = 3e-3
    evals: int = 5  # dev evaluations of the drop (the convergence curve)
    dev_rows: int = 256
    test_rows: int = 512
    competent: float = 0.9
    ceiling: float = 0.95
    min_drop: float = 0.1
    flat: float = 0.05
    converged: float = 0.05


PROFILES = {"quick": Config(),
            "full": Config(length=41, hidden=64, embed_dim=32, heads=4, steps=1500, lr=3e-3, attention_lr=1e-3)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(length=7, windows=2, hidden=8, embed_dim=8, steps=8, evals=4, dev_rows=16, test_rows=32)
RULE = ("competent", "ceiling", "min_drop", "flat", "converged")


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def spec(cfg: Config, arch: str) -> ModelConfig:
    return ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=cfg.embed_dim,
                       forget_bias=1.0 if arch == LSTM else None, heads=cfg.heads if arch == ATTENTION else None)


@torch.no_grad()
def by_distance(model, task: Reconstruct, rows: int, seed: int) -> np.ndarray:
    """(T,) accuracy of each input token read from the last output, index = distance from the end."""
    model.eval()
    b = task.sample(rows, torch.Generator().manual_seed(seed))
    out, _ = model(b.x)  # (rows, T, T*A)
    pred = out[:, -1].float().reshape(rows, task.length, task.symbols).argmax(-1)  # (rows, T)
    acc = (pred == b.x - 1).float().mean(0).numpy()  # (T,) by position
    model.train()
    return acc[::-1].copy()  # distance 0 = the last token


def window_means(acc: np.ndarray, windows: int) -> list[float]:
    """Mean accuracy over distances 1..T-1 in ``windows`` equal windows, nearest first."""
    return [float(np.mean(part)) for part in np.array_split(np.asarray(acc)[1:], windows)]


def drop(profile) -> float:
    """How far the least-squares line of accuracy on window index falls from the nearest to the farthest window."""
    p = np.asarray(profile, float)
    if len(p) < 2:
        return math.nan
    slope = np.polyfit(np.arange(len(p)), p, 1)[0]
    return float(-slope * (len(p) - 1))


class DropCurve:
    """Callback: the drop of the profile on fixed dev sequences every ``every`` updates."""

    def __init__(self, task: Reconstruct, cfg: Config, every: int) -> None:
        self.task, self.cfg, self.every, self.points = task, cfg, every, []

    def on_step(self, trainer, step: int, metrics: dict) -> None:
        if step % self.every == 0:
            acc = by_distance(trainer.raw_model, self.task, self.cfg.dev_rows, seed=999)
            self.points.append(drop(window_means(acc, self.cfg.windows)))


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (architecture, seed): trained on the same batches, read out by distance."""
    cfg = PROFILES[check_profile(profile)]
    return [Unit(f"{arch}-s{seed}", "train_seed", {"cfg": settings(cfg, RULE), "arch": arch, "seed": seed}, seed=seed,
                 flops=flops.training(flops.task_model(arch, cfg.embed_dim, cfg.hidden, 1, cfg.length),
                                      cfg.batch_size * cfg.length, cfg.steps))
            for seed in rules.seeds(profile) for arch in ARCHS]


def train_seed(cfg: dict, arch: str, seed: int) -> dict:
    """Accuracy by distance from the end of ``arch`` trained with ``seed``; the dev curve of its drop."""
    cfg = config_of(Config, cfg)
    task = Reconstruct(cfg.length, cfg.symbols)
    dev = DropCurve(task, cfg, max(cfg.steps // cfg.evals, 1))
    f = fit(spec(cfg, arch), task, cfg.steps, seed=seed, clip_norm=1.0, batch_size=cfg.batch_size,
            lr=cfg.attention_lr if arch == ATTENTION else cfg.lr, callbacks=(dev,))
    acc = by_distance(f.model, task, cfg.test_rows, seed=12345)
    return {"by_distance": acc.tolist(), "windows": window_means(acc, cfg.windows), "curve": dev.points,
            "loss": f.curve.loss[-1] if f.curve.loss else math.nan, "wall_time": f.wall_time}


def window_names(cfg: Config) -> list[str]:
    parts = np.array_split(np.arange(1, cfg.length), cfg.windows)
    return [f"d {p[0]}-{p[-1]}" for p in parts]


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"{cfg.length} random symbols ({cfg.symbols} kinds); at the last step the model outputs the one-hot code of "
        f"every input symbol (MSE), so its last state must encode the whole sequence. tanh RNN and LSTM (forget bias "
        f"1), Adam lr {cfg.lr}; one causal Transformer layer ({cfg.heads} heads), lr {cfg.attention_lr}; hidden "
        f"{cfg.hidden}, clip 1.0, {cfg.steps} updates of {cfg.batch_size} on the same batches, seeds {list(seeds)}. "
        f"Accuracy of each input token on {cfg.test_rows} test sequences (chance {1 / cfg.symbols:.2f}), by distance "
        f"d from the end, in {cfg.windows} windows."), profile, config(profile), seeds=seeds)
    profiles, curves, rows = {}, {}, []
    for seed in seeds:
        for arch in ARCHS:
            r = results[f"{arch}-s{seed}"]
            profiles[arch, seed] = p = r["windows"]
            curves[arch, seed] = r["curve"]
            rows.append([arch, seed, *p, drop(p), p[0] - p[-1], r["by_distance"][0], r["by_distance"][-1],
                         round(r["wall_time"], 1)])
    result.add_table("accuracy by distance d from the end (windows, nearest first), the fitted drop, the gap "
                     "(nearest - farthest window), the token read at the last step (d = 0) and the first token",
                     ["model", "seed", *window_names(cfg), "drop", "gap", "d = 0", "first token", "train s"], rows,
                     timing=["train s"])
    d = np.arange(cfg.length)
    result.add_figure("recency", "Accuracy of each input token against its distance from the end (mean over seeds).",
                      line_plot({a: (d, np.mean([results[f"{a}-s{s}"]["by_distance"] for s in seeds], 0))
                                 for a in ARCHS}, "accuracy vs distance from the end", "distance from the end",
                                "accuracy"))
    firsts = {(a, s): results[f"{a}-s{s}"]["by_distance"][-1] for a in ARCHS for s in seeds}
    return _verdict(result, profiles, curves, cfg, seeds, firsts)


def _verdict(result, profiles: dict, curves: dict, cfg: Config, seeds, firsts: dict | None = None):
    """The rule on window profiles (nearest first) and dev drop curves per (arch, seed); ``firsts``: the
    accuracy of the very first token per (arch, seed), reported (an LSTM tends to keep it: primacy)."""
    firsts = firsts or {}
    drops = {(a, s): drop(profiles[a, s]) for a in ARCHS for s in seeds}
    gates = [rules.at_least(f"{a} competent where the token is recent (nearest window, min over seeds)",
                            min(profiles[a, s][0] for s in seeds), cfg.competent) for a in RECURRENT]
    far = {a: float(np.median([profiles[a, s][-1] for s in seeds])) for a in ARCHS}
    first = {a: float(np.median([firsts.get((a, s), math.nan) for s in seeds])) for a in ARCHS}
    gates.append(rules.at_most("the task is hard enough to show an effect: the farthest window below the ceiling for "
                               "at least one recurrent model (lowest median over seeds)", min(far[a] for a in RECURRENT),
                               cfg.ceiling))
    falls = {a: rules.paired([drops[a, s] for s in seeds], cfg.min_drop) for a in ARCHS}
    level = {a: rules.paired([drops[a, s] for s in seeds], cfg.flat) for a in ARCHS}
    confirmed = all(falls[a].above for a in RECURRENT)
    refuted = all(level[a].below for a in RECURRENT)
    if confirmed:  # rests on early tokens being lost: the farthest window must have stopped improving
        gates += [rules.converged(f"{a} seed {s} trained (dev drop shrank <= {cfg.converged} over the last quarter)",
                                  curves[a, s], cfg.converged, higher_is_better=False)
                  for a in RECURRENT for s in seeds]
    verdict = judge(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    med = {a: float(np.median([drops[a, s] for s in seeds])) for a in ARCHS}
    result.add_table("what the chapter predicts per model, and the measured drop",
                     ["model", "predicted", "median drop", "drops per seed", f"falls (drop > {cfg.min_drop})",
                      f"flat (drop < {cfg.flat})", "rule over seeds"],
                     [[a, PREDICTED[a], med[a], ", ".join(f"{drops[a, s]:+.2f}" for s in seeds), falls[a].above,
                       level[a].below, falls[a].describe()] for a in ARCHS])
    key = min(RECURRENT, key=lambda a: min(drops[a, s] for s in seeds))  # the recurrent model nearest the line
    values = [drops[key, s] for s in seeds]
    return finish(result, verdict,
                  f"drop = fall of the least-squares line of accuracy against window index, nearest window (d = 1..) "
                  f"to farthest. The claim's models are the recurrent encoders ({RNN}, {LSTM}); the Transformer is a "
                  f"reported contrast. Confirmed when for both the drop is > {cfg.min_drop} (rules.paired over seeds: "
                  f"every seed below 5 seeds, a bootstrap interval from 5); refuted only when both are competent and "
                  f"flat (drop < {cfg.flat} the same way). Gates: both >= {cfg.competent} in the nearest window in every "
                  f"seed; some recurrent model's median farthest window <= {cfg.ceiling} (a ceiling shows nothing); "
                  f"for confirmation, each recurrent model's dev drop shrank <= {cfg.converged} over the last quarter "
                  "(the recency is not a budget that ran out while the far tokens were still being learned).",
                  "drops per seed: " + "; ".join(f"{a} " + "/".join(f"{drops[a, s]:+.2f}" for s in seeds)
                                                  for a in ARCHS),
                  "recency drop (median): " + ", ".join(f"{a} {med[a]:+.2f}" for a in ARCHS)
                  + "; farthest window (median): " + ", ".join(f"{a} {far[a]:.2f}" for a in ARCHS)
                  + "; first token (median): " + ", ".join(f"{a} {first[a]:.2f}" for a in ARCHS),
                  gates=gates, margins=[rules.Margin(f"smallest {key} drop over seeds", min(values),
                                                     cfg.flat if refuted and not confirmed else cfg.min_drop,
                                                     "accuracy", noise=rules.seed_noise(values))])
