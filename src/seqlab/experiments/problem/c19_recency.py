"""C19: an RNN favours the most recent input; gates and attention reduce the bias.

What the chapter predicts, per architecture:

- tanh RNN: a deciding word near the end is used, the same word near the start is largely
  lost (the hidden state is overwritten step by step, and the gradient from the answer
  fades on its way back) -> accuracy rises with the word's position;
- LSTM: the gated cell carries the word, so the rise is smaller;
- attention (a causal Transformer layer): every position is one step from the answer,
  so the profile is flat.

Task (``probe_tasks.DecisiveToken``, rule "only"): filler words and one decisive word
("good" / "bad") at a random position; the label, read at the last step, is its
polarity (chance 0.5). All three models train on the same batches (paired seeds) for the
same number of updates; then accuracy is measured with the decisive word confined to each
fifth of the sequence (the position sweep, 256 test sentences per fifth).

Rule (fixed before the run): gap = accuracy with the word in the last fifth minus in the
first fifth, per model and seed. Confirmed when in every seed the RNN's gap is >= 0.1 and
the LSTM's and the attention model's gaps are each >= 0.1 below the RNN's. Refuted when in
every seed the RNN's gap is < 0.05 (no recency), or when the RNN shows it but the LSTM or the
attention model keeps a gap within 0.05 of the RNN's in every seed. Gates: every model
competent where the word is recent (last-fifth accuracy >= 0.9, every seed), and, for the
branches that rest on a model failing early positions, that model trained (first-fifth dev
accuracy gaining <= 0.05 over the last quarter).

Quick: sentences of 30 tokens (the chapter's example has 12 words), hidden 32, 200 updates.
Full (sized for one GPU, minutes; hours on a CPU): 200 tokens, hidden 128, 2,000 updates,
five seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.probe_tasks import DecisiveToken
from seqlab.experiments.core.training import fit, score
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C19"
CLAIM = ("A vanilla RNN favours the most recent input: a deciding word near the end is used, the same word near "
         "the start is largely lost; gates (LSTM) and attention reduce this bias.")
RNN, LSTM, ATTENTION = "rnn_tanh", "lstm", "transformer"
ARCHS = (RNN, LSTM, ATTENTION)
PREDICTED = {RNN: "accuracy rises with the word's position (gap >= 0.1)",
             LSTM: "a smaller rise than the RNN's (gap >= 0.1 below it)",
             ATTENTION: "a flat profile (gap >= 0.1 below the RNN's)"}


@dataclass(frozen=True)
class Config:
    length: int = 30
    fillers: int = 8
    windows: int = 5  # the position sweep: the decisive word confined to each 1/windows of the sequence
    hidden: int = 32
    embed_dim: int = 16
    heads: int = 2
    steps: int = 200
    batch_size: int = 32
    lr: float = 0.01  # RNN and LSTM
    attention_lr: float = 3e-3
    evals: int = 5  # dev evaluations of the first window (the convergence curve)
    dev_batches: int = 4  # x 64 sentences, for the convergence curves
    test_batches: int = 4  # x 64 sentences per window
    competent: float = 0.9
    min_gap: float = 0.1
    flat: float = 0.05
    converged: float = 0.05


PROFILES = {"quick": Config(),
            # one GPU: 3 archs x 5 seeds x 2000 updates at T = 200
            "full": Config(length=200, hidden=128, embed_dim=32, heads=4, steps=2000, lr=3e-3, attention_lr=1e-3)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(length=10, fillers=4, windows=2, hidden=8, embed_dim=8, steps=8, evals=4, dev_batches=1,
              test_batches=1)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def spec(cfg: Config, arch: str) -> ModelConfig:
    return ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=cfg.embed_dim,
                       forget_bias=1.0 if arch == LSTM else None, heads=cfg.heads if arch == ATTENTION else None)


def windows(cfg: Config) -> list[tuple[float, float]]:
    return [(i / cfg.windows, (i + 1) / cfg.windows) for i in range(cfg.windows)]


class FirstWindowCurve:
    """Callback: accuracy with the decisive word in the first window (``batches`` x 64 dev sentences), every
    ``every`` updates."""

    def __init__(self, task: DecisiveToken, every: int, batches: int) -> None:
        self.task, self.every, self.batches, self.points = task, every, batches, []

    def on_step(self, trainer, step: int, metrics: dict) -> None:
        if step % self.every == 0:
            self.points.append(score(trainer.raw_model, self.task, batches=self.batches, seed=999)["accuracy"])
            trainer.raw_model.train()


RULE = ("competent", "min_gap", "flat", "converged")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (architecture, seed): trained on the same batches, tested with the word in each window."""
    cfg = PROFILES[check_profile(profile)]
    return [Unit(f"{arch}-s{seed}", "train_seed", {"cfg": settings(cfg, RULE), "arch": arch, "seed": seed}, seed=seed,
                 flops=flops.training(flops.task_model(arch, cfg.embed_dim, cfg.hidden, 2, cfg.length),
                                      cfg.batch_size * cfg.length, cfg.steps))
            for seed in rules.seeds(profile) for arch in ARCHS]


def train_seed(cfg: dict, arch: str, seed: int) -> dict:
    """Accuracy (and loss) of ``arch`` trained with ``seed``, the decisive word in each window; the dev curve."""
    cfg = config_of(Config, cfg)
    dev = FirstWindowCurve(DecisiveToken(cfg.length, cfg.fillers, *windows(cfg)[0]), max(cfg.steps // cfg.evals, 1),
                           cfg.dev_batches)
    f = fit(spec(cfg, arch), DecisiveToken(cfg.length, cfg.fillers), cfg.steps, seed=seed, clip_norm=1.0,
            lr=cfg.attention_lr if arch == ATTENTION else cfg.lr, batch_size=cfg.batch_size, callbacks=(dev,))
    scores = [score(f.model, DecisiveToken(cfg.length, cfg.fillers, lo, hi), batches=cfg.test_batches)
              for lo, hi in windows(cfg)]
    return {"accuracy": [s["accuracy"] for s in scores], "loss": [scores[0]["loss"], scores[-1]["loss"]],
            "curve": dev.points, "wall_time": f.wall_time}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"One decisive word among {cfg.fillers} filler words, {cfg.length} tokens, label = its polarity at the "
        f"end (chance 0.5). tanh RNN and LSTM (forget bias 1), Adam lr {cfg.lr}, and one causal Transformer layer "
        f"({cfg.heads} heads), lr {cfg.attention_lr}; hidden {cfg.hidden}, clip 1.0, {cfg.steps} updates of "
        f"{cfg.batch_size} on the same batches, seeds {list(seeds)}. Accuracy on {cfg.test_batches * 64} test "
        f"sentences with the word in each 1/{cfg.windows} of the sequence."), profile, config(profile), seeds=seeds)
    profiles, curves, rows = {}, {}, []
    for seed in seeds:
        for arch in ARCHS:
            r = results[f"{arch}-s{seed}"]
            profiles[arch, seed] = p = r["accuracy"]
            curves[arch, seed] = r["curve"]
            rows.append([arch, seed, *p, p[-1] - p[0], *r["loss"], round(r["wall_time"], 1)])
    names = [f"{lo:.0%}-{hi:.0%}" for lo, hi in windows(cfg)]
    result.add_table("accuracy by the decisive word's position (fraction of the sentence), the gap (last - first), "
                     "and the held-out loss in the first and last window (graded where accuracy saturates)",
                     ["model", "seed", *names, "gap", "loss first", "loss last", "train s"], rows,
                     timing=["train s"])
    centers = np.asarray([(lo + hi) / 2 for lo, hi in windows(cfg)])
    result.add_figure("recency", "Accuracy against the decisive word's position, per model and seed.",
                      line_plot({f"{a} seed {s}": (centers, p) for (a, s), p in profiles.items()},
                                "accuracy vs position", "position of the decisive word", "accuracy"))
    return _verdict(result, profiles, curves, cfg, seeds)


def gaps(profiles: dict) -> dict:
    """(arch, seed) -> accuracy in the last window minus the first."""
    return {k: p[-1] - p[0] for k, p in profiles.items()}


def _verdict(result, profiles: dict, curves: dict, cfg: Config, seeds):
    g = gaps(profiles)
    gates = [rules.at_least(f"{a} competent with the word in the last window (min over seeds)",
                            min(profiles[a, s][-1] for s in seeds), cfg.competent) for a in ARCHS]

    def trained(arch):
        return [rules.converged(f"{arch} seed {s} trained (first-window dev accuracy)", curves[arch, s],
                                cfg.converged) for s in seeds]

    no_recency = all(g[RNN, s] < cfg.flat for s in seeds)
    recency = all(g[RNN, s] >= cfg.min_gap for s in seeds)
    reduced = {a: all(g[a, s] <= g[RNN, s] - cfg.min_gap for s in seeds) for a in (LSTM, ATTENTION)}
    kept = {a: all(g[a, s] > g[RNN, s] - cfg.flat for s in seeds) for a in (LSTM, ATTENTION)}
    if recency:  # the verdict rests on the RNN (and maybe another model) failing early positions
        gates += trained(RNN) + [gate for a in (LSTM, ATTENTION) if kept[a] for gate in trained(a)]
    confirmed = recency and all(reduced.values())
    refuted = no_recency or (recency and any(kept.values()))
    verdict = judge(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    med = {a: float(np.median([g[a, s] for s in seeds])) for a in ARCHS}
    result.add_table("what the chapter predicts per model, and the measured gap (median over seeds)",
                     ["model", "predicted", "median gap", "gaps per seed"],
                     [[a, PREDICTED[a], med[a], ", ".join(f"{g[a, s]:+.2f}" for s in seeds)] for a in ARCHS])
    return finish(result, verdict,
                  f"gap = accuracy with the decisive word in the last 1/{cfg.windows} minus the first, per model and "
                  f"seed. Gates: every model >= {cfg.competent} with the word in the last window in every seed; when "
                  f"the verdict rests on a model failing early positions, its first-window dev accuracy gains <= "
                  f"{cfg.converged} over the last quarter. Confirmed when in every seed the RNN's gap is >= "
                  f"{cfg.min_gap} and the LSTM's and the attention model's gaps are each >= {cfg.min_gap} below it; "
                  f"refuted when in every seed the RNN's gap is < {cfg.flat}, or the RNN's gap holds but the LSTM's "
                  f"or the attention model's stays within {cfg.flat} of it in every seed.",
                  "gaps (last - first window) per seed: " + "; ".join(
                      f"{a} " + "/".join(f"{g[a, s]:+.2f}" for s in seeds) for a in ARCHS),
                  "recency gap (median): " + ", ".join(f"{a} {med[a]:+.2f}" for a in ARCHS)
                  + f"; first-window accuracy RNN {np.median([profiles[RNN, s][0] for s in seeds]):.2f}",
                  gates=gates)
