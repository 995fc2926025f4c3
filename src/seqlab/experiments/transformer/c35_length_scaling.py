"""C35: quality against sequence length, with memory and time, for a Transformer and recurrent nets.

The chapter closes its gradient section with "Transformers can handle sequences of
thousands of tokens while RNNs struggle with hundreds". C25 tests the mechanism on
short tasks; this entry draws the curve at the lengths the sentence names.

Task (controlled): key-value recall over a long sequence
(``seqlab.data.context_tasks.DistanceRecall``): random filler words, and one "key k
holds value v" token placed exactly d steps before the query marker for each of three
distances d (an eighth, a half and all of the sequence); then the keys are queried.
One attention layer can answer by matching the query to the stored token; a recurrent
net must carry three values through hundreds or thousands of filler steps.

Models: one causal Transformer layer (d_model = hidden, 2 heads), an LSTM (forget-gate
bias 1) and, in the full profile, a GRU of the same hidden size, behind the same
embedding and head (quick leaves the GRU out: on a CPU its step loop costs four times
the LSTM's). Each (family, length, seed) trains up to ``budget`` updates, stopped early
once its running accuracy reaches ``stop_at`` (0.97, above the ``good`` line the rule
reads, so an early stop is not a coin flip at the line; ``core.memory_runs``), and is
scored on held-out sequences. Beside
quality, each unit measures one training step at its length: peak memory of the live
tensors (``seqlab.bench.measure.peak_memory``) and time (reported only, never judged).

Rule (fixed before the run), at the longest length L:
- confirmed when the Transformer's held-out accuracy is >= ``good`` in every seed and
  the better recurrent net's is <= ``poor`` in every seed;
- refuted when the better recurrent net's accuracy is >= ``good`` in every seed (an RNN
  handles the length too), or the recurrent net beats the Transformer by
  ``good - poor`` in every seed;
- inconclusive otherwise. Gate: the Transformer is competent (held-out >= ``good``) at the
  shortest length in every seed (else the budget is too small to learn the task at all).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from seqlab.bench.measure import peak_memory
from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.data.context_tasks import DistanceRecall
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.memory_runs import train
from seqlab.experiments.core.training import step_seconds
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C35"
CLAIM = ("\"Transformers can handle sequences of thousands of tokens while RNNs struggle with hundreds\": recall "
         "quality against sequence length (hundreds to thousands of tokens) for a Transformer, an LSTM and (full profile) a GRU, "
         "with the memory and time of a training step. Controlled task: key-value recall over filler text.")
TRANSFORMER, RECURRENT = "transformer", ("lstm", "gru")
FAMILIES = (TRANSFORMER, *RECURRENT)


@dataclass(frozen=True)
class Config:
    lengths: tuple[int, ...] = (64, 256)  # quick: hundreds only (a CPU step at 1,024 takes seconds); full: thousands
    hidden: int = 32
    heads: int = 2
    fillers: int = 8
    keys: int = 4
    values: int = 4  # chance accuracy 1/4
    budget: int = 300
    batch_size: int = 16
    transformer_lr: float = 5e-3
    rnn_lr: float = 1e-2
    forget_bias: float = 1.0
    good: float = 0.9  # held-out accuracy that "handles" a length
    poor: float = 0.5  # ... that "struggles" (chance is 1 / values)
    stop_at: float = 0.97  # running accuracy that ends training early: above ``good``, so a stopped run is past it
    recurrent: tuple[str, ...] = ("lstm",)  # quick: the LSTM (the GRU's loop costs 4x its time per step on a CPU)


PROFILES = {"quick": Config(),
            "full": Config(lengths=(256, 512, 1024, 2048, 4096), hidden=64, heads=4, keys=6, values=8, budget=1500,
                           batch_size=32, transformer_lr=2e-3, rnn_lr=3e-3, recurrent=RECURRENT)}
TINY = Config(lengths=(8, 12), hidden=8, keys=4, values=4, budget=4, batch_size=4, recurrent=RECURRENT)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def task(cfg: Config, length: int) -> DistanceRecall:
    """Recall of three pairs at an eighth, a half and all of a sequence of ``length`` tokens."""
    n = 3
    far = length - 1 - n
    return DistanceRecall(distances=tuple(sorted({max(1, length // 8), max(2, length // 2), far})),
                          fillers=cfg.fillers, keys=cfg.keys, values=cfg.values)


def spec(family: str, cfg: Config) -> ModelConfig:
    if family == TRANSFORMER:
        return ModelConfig(arch=family, hidden_size=cfg.hidden, num_layers=1, heads=cfg.heads, embed_dim=cfg.hidden)
    return ModelConfig(arch=family, hidden_size=cfg.hidden, embed_dim=cfg.hidden,
                       forget_bias=cfg.forget_bias if family == "lstm" else None)


RULE = ("good", "poor")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (family, length, seed)."""
    cfg = PROFILES[check_profile(profile)]
    args = {"cfg": settings(cfg, RULE)}
    out = []
    for s in rules.seeds(profile):
        for L in cfg.lengths:
            for f in (TRANSFORMER, *cfg.recurrent):
                per_token = flops.task_model(f, cfg.hidden, cfg.hidden, cfg.values, L)
                out.append(Unit(f"{f}-L{L}-s{s}", "train_one", {**args, "family": f, "length": L, "seed": s},
                                seed=s, flops=flops.training(per_token, cfg.batch_size * L, cfg.budget)))
    return out


def train_one(cfg: dict, family: str, length: int, seed: int) -> dict:
    """Train ``family`` at ``length`` (to competence or the budget); held-out accuracy, memory and time of a step."""
    cfg = config_of(Config, cfg)
    t = task(cfg, length)
    run = train(spec(family, cfg), t, cfg.budget, seed=seed, batch_size=cfg.batch_size, threshold=cfg.stop_at,
                lr=cfg.transformer_lr if family == TRANSFORMER else cfg.rnn_lr)
    torch.manual_seed(seed)
    model = build_model(spec(family, cfg), t)
    x = t.sample(cfg.batch_size, torch.Generator().manual_seed(seed)).x  # (B, T)

    def step():
        out, _ = model(x)  # (B, T, V)
        out.float().sum().backward()

    memory = peak_memory(step, torch.device("cpu"))
    model.zero_grad(set_to_none=True)
    return {"held_out": run.held_out, "steps": run.steps, "competent": run.competent, "memory": memory,
            "step_seconds": step_seconds(model, x, reps=2), "length": t.length}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    families = (TRANSFORMER, *cfg.recurrent)
    res = {(f, L, s): results[f"{f}-L{L}-s{s}"] for f in families for L in cfg.lengths for s in seeds}
    result = new_result(CLAIM_ID, CLAIM, (
        f"Key-value recall ({cfg.keys} keys, {cfg.values} values, {cfg.fillers} filler words; pairs at 1/8, 1/2 and "
        f"all of the sequence) at lengths {list(cfg.lengths)}. One causal Transformer layer (d_model {cfg.hidden}, "
        f"{cfg.heads} heads, lr {cfg.transformer_lr}) against {' and '.join(r.upper() for r in cfg.recurrent)} (hidden "
        f"{cfg.hidden}, lr {cfg.rnn_lr}, LSTM forget-gate bias {cfg.forget_bias:g}); at most {cfg.budget} updates of "
        f"{cfg.batch_size}, stopped early at running accuracy >= {cfg.stop_at}; held-out accuracy on 128 sequences; peak memory and time of one "
        f"training step at batch {cfg.batch_size} (CPU, one thread). Paired seeds {list(seeds)}."),
        profile, config(profile), seeds=seeds)
    result.add_table("held-out accuracy, updates to competence (budget + 1 = never), memory and time per step",
                     ["family", "length", "seed", "accuracy", "updates", "peak MiB per step", "ms per step"],
                     [[f, L, s, r["held_out"], r["steps"], r["memory"] / 2**20, 1e3 * r["step_seconds"]]
                      for (f, L, s), r in res.items()], timing=["ms per step"])
    Ls = list(cfg.lengths)
    result.add_figure("accuracy_vs_length", "Held-out recall accuracy against sequence length (median of seeds).",
                      line_plot({f: (Ls, [statistics.median(res[f, L, s]["held_out"] for s in seeds) for L in Ls])
                                 for f in families}, "quality vs length", "sequence length", "accuracy", logx=True))
    gates = [rules.at_least(f"Transformer competent at length {Ls[0]} (held-out accuracy, worst seed)",
                            min(res[TRANSFORMER, Ls[0], s]["held_out"] for s in seeds), cfg.good)]
    L = Ls[-1]
    r = rule([res[TRANSFORMER, L, s]["held_out"] for s in seeds],
             [max(res[f, L, s]["held_out"] for f in cfg.recurrent) for s in seeds], cfg)
    mem = {f: statistics.median(res[f, L, s]["memory"] for s in seeds) / 2**20 for f in families}
    result.notes.append(f"peak memory per training step at length {L}: "
                        + ", ".join(f"{f} {m:.1f} MiB" for f, m in mem.items()))
    return _verdict(result, r, cfg, gates, L)


def rule(transformer: list[float], best_rnn: list[float], cfg: Config) -> dict:
    """The rule on held-out accuracies at the longest length, per seed (paired)."""
    handles = all(t >= cfg.good for t in transformer)
    struggles = all(b <= cfg.poor for b in best_rnn)
    rnn_handles = all(b >= cfg.good for b in best_rnn)
    rnn_better = all(b - t >= cfg.good - cfg.poor for t, b in zip(transformer, best_rnn))
    margin = min(min(t - cfg.good for t in transformer), min(cfg.poor - b for b in best_rnn))
    return {"handles": handles, "struggles": struggles, "margin": margin, "margin_fraction": margin / cfg.good,
            "confirmed": handles and struggles, "refuted": rnn_handles or rnn_better,
            "transformer": transformer, "best_rnn": best_rnn}


def _verdict(result, r: dict, cfg: Config, gates, L: int):
    verdict = judge(enough=rules.gates_pass(gates), confirmed=r["confirmed"], refuted=r["refuted"])
    result.add_table("margin of the deciding numbers", ["quantity", "value", "threshold", "margin",
                                                        "margin (fraction)"],
                     [["Transformer accuracy, worst seed", min(r["transformer"]), cfg.good,
                       min(r["transformer"]) - cfg.good, (min(r["transformer"]) - cfg.good) / cfg.good],
                      ["better recurrent net's accuracy, best seed", max(r["best_rnn"]), cfg.poor,
                       cfg.poor - max(r["best_rnn"]), (cfg.poor - max(r["best_rnn"])) / cfg.poor]])
    return finish(result, verdict,
                  f"At the longest length ({L}): confirmed when the Transformer's held-out accuracy is >= {cfg.good} "
                  f"in every seed and the better of LSTM and GRU is <= {cfg.poor} in every seed; refuted when the "
                  f"better recurrent net reaches >= {cfg.good} in every seed or beats the Transformer by >= "
                  f"{cfg.good - cfg.poor:.2g} in every seed. Gate: the Transformer competent at the shortest length "
                  "in every seed.",
                  f"length {L}: Transformer accuracy " + ", ".join(f"{x:.2f}" for x in r["transformer"])
                  + "; better recurrent net " + ", ".join(f"{x:.2f}" for x in r["best_rnn"])
                  + f" (margin {r['margin']:+.2f}, {r['margin_fraction']:+.0%} of {cfg.good})",
                  f"at {L} tokens: Transformer {min(r['transformer']):.2f}-{max(r['transformer']):.2f}, best RNN "
                  f"{min(r['best_rnn']):.2f}-{max(r['best_rnn']):.2f} accuracy", gates=gates,
                  margins=[rules.Margin("Transformer accuracy, worst seed", min(r["transformer"]), cfg.good,
                                        "accuracy", noise=rules.seed_noise(r["transformer"])),
                           rules.Margin("better recurrent net's accuracy, best seed", max(r["best_rnn"]), cfg.poor,
                                        "accuracy", noise=rules.seed_noise(r["best_rnn"]))])
