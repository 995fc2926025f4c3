"""C30: two rows of the chapter's failure table, made measurable with controlled tasks.

The chapter's table lists tasks where pre-Transformer models failed because the deciding
information was far from where it was needed. Two rows become synthetic tasks
(``seqlab.data.context_tasks``):

- **Coreference** (``Coreference``): two different nouns, filler words, then a pronoun
  whose predicate picks the first or the second noun ("... because it is too big"); the
  second noun is at least 10 tokens before the pronoun; the model names the referent.
- **Sentiment, first clause vs last clause** (``ClauseSentiment``): "<clause> but
  <clause>." with one polarity word per clause; the label is the *first* clause's, so the
  last clause is a distractor made of the same words.

(The chapter's own sentiment example, "bad, but actually amazing" read as negative, has
the last clause deciding and blames early words dominating; a first-clause label is the
variant in which the information is far from the answer, the pattern the table's caption
names.)

What the chapter predicts for each row: the tanh RNN fails, gates (LSTM) help, attention
(one causal Transformer layer) solves it. All three train on the same batches (paired
seeds) for the same number of updates.

Rule (fixed before the run; per row, "in a majority of seeds"): the row is *as predicted*
when the RNN's accuracy is < 0.75, the LSTM's is >= the RNN's + 0.1, and the attention
model's is >= 0.9; *contradicted* when the RNN reaches >= 0.9, or the attention model
stays < 0.75, or the LSTM gains < 0.02 over the RNN. Confirmed when both rows are as
predicted; refuted when either is contradicted. Gates: the RNN learns the same rule when
the distance is short (a 6-token version of each task, the same updates: accuracy >= 0.9
in every seed), so its failure is about distance; and every model whose failure a verdict
rests on is trained (dev accuracy gains <= 0.05 over its last quarter).

Quick: 16-token sentences, hidden 32, 200 updates, three seeds. Full (one GPU, minutes):
40 tokens (coreference gap 25), hidden 128, 2,000 updates, five seeds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.context_tasks import ClauseSentiment, Coreference
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.training import fit, score
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C30"
CLAIM = ("The chapter's failure table: where the deciding information is far from the answer (a pronoun's referent "
         "10+ tokens back, a first clause followed by a distracting last clause) a plain RNN fails, gates help "
         "and attention solves it.")
RNN, LSTM, ATTENTION = "rnn_tanh", "lstm", "transformer"
ARCHS = (RNN, LSTM, ATTENTION)
ROWS = ("coreference", "first clause")


@dataclass(frozen=True)
class Config:
    length: int = 16
    gap: int = 10  # coreference: the second noun is at least this many steps before the pronoun
    nouns: int = 4
    fillers: int = 8
    control_length: int = 6  # the short version the RNN must learn (competence gate)
    hidden: int = 32
    embed_dim: int = 16
    heads: int = 2
    steps: int = 200
    batch_size: int = 32
    lr: float = 0.01  # RNN and LSTM
    attention_lr: float = 3e-3
    evals: int = 4  # dev evaluations (the convergence curves)
    dev_batches: int = 4  # x 64 sentences, for the convergence curves
    test_batches: int = 4  # x 64 sentences
    fails: float = 0.75
    solves: float = 0.9
    helps: float = 0.1
    no_help: float = 0.02
    converged: float = 0.05


PROFILES = {"quick": Config(),
            # one GPU: 2 rows x 3 archs x 5 seeds x 2000 updates at T = 40
            "full": Config(length=40, gap=25, nouns=8, hidden=128, embed_dim=32, heads=4, steps=2000, lr=3e-3,
                           attention_lr=1e-3, evals=8)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(length=8, gap=3, control_length=5, hidden=8, embed_dim=8, steps=8, evals=4, dev_batches=1,
              test_batches=1)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def tasks(cfg: Config, length: int | None = None) -> dict:
    """The two rows' tasks at ``length`` (default: the configured one; shorter for the control)."""
    T = length or cfg.length
    gap = cfg.gap if length is None else 1
    return {ROWS[0]: Coreference(T, gap, cfg.nouns, cfg.fillers), ROWS[1]: ClauseSentiment(T, cfg.fillers)}


def spec(cfg: Config, arch: str) -> ModelConfig:
    return ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=cfg.embed_dim,
                       forget_bias=1.0 if arch == LSTM else None, heads=cfg.heads if arch == ATTENTION else None)


class DevCurve:
    """Callback: accuracy on fixed dev sentences (``batches`` x 64) every ``every`` updates."""

    def __init__(self, task, every: int, batches: int) -> None:
        self.task, self.every, self.batches, self.points = task, every, batches, []

    def on_step(self, trainer, step: int, metrics: dict) -> None:
        if step % self.every == 0:
            self.points.append(score(trainer.raw_model, self.task, batches=self.batches, seed=999)["accuracy"])
            trainer.raw_model.train()


def train(cfg: Config, arch: str, task, seed: int):
    """(test accuracy, dev curve) of ``arch`` trained on ``task`` with ``seed``'s batches."""
    dev = DevCurve(task, max(cfg.steps // cfg.evals, 1), cfg.dev_batches)
    f = fit(spec(cfg, arch), task, cfg.steps, lr=cfg.attention_lr if arch == ATTENTION else cfg.lr, seed=seed,
            batch_size=cfg.batch_size, clip_norm=1.0, callbacks=(dev,))
    return score(f.model, task, batches=cfg.test_batches)["accuracy"], dev.points, f.wall_time


RULE = ("fails", "solves", "helps", "no_help", "converged")
SLUG = {"coreference": "coreference", "first clause": "first-clause"}


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (row, model, seed), and per (row, seed) the RNN on the short control version."""
    cfg = PROFILES[check_profile(profile)]
    args = {"cfg": settings(cfg, RULE)}
    out = []
    for row in ROWS:
        for seed in rules.seeds(profile):
            out += [Unit(f"{SLUG[row]}-{arch}-s{seed}", "train_row", {**args, "row": row, "arch": arch, "seed": seed},
                         seed=seed, flops=_cost(cfg, arch, cfg.length)) for arch in ARCHS]
            out.append(Unit(f"{SLUG[row]}-control-s{seed}", "train_control", {**args, "row": row, "seed": seed},
                            seed=seed, flops=_cost(cfg, RNN, cfg.control_length)))
    return out


def _cost(cfg: Config, arch: str, length: int) -> float:
    return flops.training(flops.task_model(arch, cfg.embed_dim, cfg.hidden, cfg.nouns, length),
                          cfg.batch_size * length, cfg.steps)


def train_row(cfg: dict, row: str, arch: str, seed: int) -> dict:
    """``arch`` trained on ``row``'s task with ``seed``: test accuracy, dev curve, train s."""
    cfg = config_of(Config, cfg)
    accuracy, curve, secs = train(cfg, arch, tasks(cfg)[row], seed)
    return {"accuracy": accuracy, "curve": curve, "wall_time": secs}


def train_control(cfg: dict, row: str, seed: int) -> dict:
    """The RNN on the short version of ``row``'s task (the competence gate)."""
    cfg = config_of(Config, cfg)
    return {"accuracy": train(cfg, RNN, tasks(cfg, cfg.control_length)[row], seed)[0]}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Coreference: 2 of {cfg.nouns} nouns, the second >= {cfg.gap} tokens before the pronoun; first-clause "
        f"sentiment: '<clause> but <clause>.', label = first clause. {cfg.length} tokens, {cfg.fillers} filler "
        f"words. tanh RNN and LSTM (forget bias 1), Adam lr {cfg.lr}; one causal Transformer layer ({cfg.heads} "
        f"heads), lr {cfg.attention_lr}; hidden {cfg.hidden}, clip 1.0, {cfg.steps} updates of {cfg.batch_size} on "
        f"the same batches, seeds {list(seeds)}; accuracy on {cfg.test_batches * 64} test sentences. Control: the "
        f"RNN on {cfg.control_length}-token versions."), profile, config(profile), seeds=seeds)
    acc, curves, control, rows = {}, {}, {}, []
    for row in ROWS:
        for seed in seeds:
            for arch in ARCHS:
                r = results[f"{SLUG[row]}-{arch}-s{seed}"]
                acc[row, arch, seed], curves[row, arch, seed] = r["accuracy"], r["curve"]
                rows.append([row, arch, seed, acc[row, arch, seed], round(r["wall_time"], 1)])
            control[row, seed] = results[f"{SLUG[row]}-control-s{seed}"]["accuracy"]
    result.add_table("test accuracy per row, model and seed", ["row", "model", "seed", "accuracy", "train s"], rows,
                     timing=["train s"])
    result.add_table(f"control: the RNN on the {cfg.control_length}-token version (same rule, short distance)",
                     ["row", *(f"seed {s}" for s in seeds)], [[r, *(control[r, s] for s in seeds)] for r in ROWS])
    return _verdict(result, acc, curves, control, cfg, seeds)


def _majority(flags) -> bool:
    flags = list(flags)
    return rules.count(flags) * 2 > len(flags)


def row_outcome(acc: dict, row: str, cfg: Config, seeds) -> dict:
    """The rule's parts for one row (each "in a majority of seeds")."""
    a = {arch: [acc[row, arch, s] for s in seeds] for arch in ARCHS}
    return {
        "rnn fails": _majority(v < cfg.fails for v in a[RNN]),
        "lstm helps": _majority(l >= r + cfg.helps for l, r in zip(a[LSTM], a[RNN])),
        "attention solves": _majority(v >= cfg.solves for v in a[ATTENTION]),
        "rnn solves": _majority(v >= cfg.solves for v in a[RNN]),
        "attention fails": _majority(v < cfg.fails for v in a[ATTENTION]),
        "lstm no help": _majority(l < r + cfg.no_help for l, r in zip(a[LSTM], a[RNN])),
    }


def _verdict(result, acc: dict, curves: dict, control: dict, cfg: Config, seeds):
    out = {row: row_outcome(acc, row, cfg, seeds) for row in ROWS}
    predicted = {r: o["rnn fails"] and o["lstm helps"] and o["attention solves"] for r, o in out.items()}
    against = {r: o["rnn solves"] or o["attention fails"] or o["lstm no help"] for r, o in out.items()}
    gates = [rules.at_least(f"RNN learns the {row} rule at {cfg.control_length} tokens (min over seeds)",
                            min(control[row, s] for s in seeds), cfg.solves) for row in ROWS]
    for row, o in out.items():  # a failure can decide only for a model that stopped improving
        failing = [RNN] if o["rnn fails"] else []
        failing += [LSTM] if o["lstm no help"] else []
        failing += [ATTENTION] if o["attention fails"] else []
        gates += [rules.converged(f"{arch} seed {s} trained on {row} (dev accuracy)", curves[row, arch, s],
                                  cfg.converged) for arch in failing for s in seeds]
    verdict = judge(enough=rules.gates_pass(gates), confirmed=all(predicted.values()), refuted=any(against.values()))
    med = {(r, a): float(np.median([acc[r, a, s] for s in seeds])) for r in ROWS for a in ARCHS}
    result.add_table("per row: the chapter's prediction (RNN fails, LSTM helps, attention solves) against the "
                     "measurement", ["row", *(f"median {a}" for a in ARCHS), *out[ROWS[0]], "as predicted"],
                     [[r, *(med[r, a] for a in ARCHS), *out[r].values(), predicted[r]] for r in ROWS])
    return finish(result, verdict,
                  f"per row, each part in a majority of seeds: as predicted when RNN accuracy < {cfg.fails}, LSTM >= "
                  f"RNN + {cfg.helps} and attention >= {cfg.solves}; contradicted when the RNN reaches >= "
                  f"{cfg.solves}, attention stays < {cfg.fails} or the LSTM gains < {cfg.no_help} over the RNN. "
                  "Confirmed when both rows are as predicted, refuted when either is contradicted. Gates: the RNN "
                  f">= {cfg.solves} on the {cfg.control_length}-token version of each row in every seed; each model "
                  f"whose failure decides gains <= {cfg.converged} dev accuracy over its last quarter.",
                  "; ".join(f"{r}: " + ", ".join(f"{a} " + "/".join(f"{acc[r, a, s]:.2f}" for s in seeds)
                                                  for a in ARCHS) for r in ROWS),
                  "; ".join(f"{r}: RNN {med[r, RNN]:.2f}, LSTM {med[r, LSTM]:.2f}, attention {med[r, ATTENTION]:.2f}"
                            for r in ROWS) + " (median accuracy)", gates=gates)
