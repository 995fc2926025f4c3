"""C25: a Transformer reaches any earlier position in one attention step, so it learns
long-dependency tasks at lengths where recurrent networks fail.

Design. One causal Transformer layer (``seqlab.build`` arch "transformer": d_model 32,
2 heads, sinusoidal positions) against an LSTM (forget-gate bias 1) and a GRU of hidden
32, behind the same input layer and per-step head, on the same batches (3 paired
seeds). One layer is the point: whatever it solves, it solves
with a single attention step from the scored position back to the information.
Runs are watched as in C4 (``seqlab.experiments.core.memory_runs``): competent = running
accuracy (or 1 - MSE / chance, adding) >= 0.9 over 10 fresh batches; steps to
competence, the updates a run was allowed + 1 when never.

Tasks (quick): copy memory, 4 symbols of 8 written back after a delay of 10 (the first
symbol is 14 steps back when it is due); associative recall with 8 key-value pairs,
each pair shown in one step (``seqlab.data.memory_tasks.PairedRecall``; the standard
``AssociativeRecall`` puts key and value in separate tokens and needs two attention
layers, which a small budget does not reach). Learning rates are each family's better
one in pilot runs (recurrent 1e-2, Transformer 5e-3). Budget: 300 updates of 64 (the
Transformer needed 68-119 in pilot runs). A recurrent net trains for steps(Transformer)
/ 0.5 updates of the same seed (the whole budget if the Transformer never got there):
twice the Transformer's, and all the rule below can use, since a recurrent net not
competent by then has r < 0.5.

Where the advantage lies, from pilot runs (seed 0, same settings): on tasks whose
answer is one item carried over a distance, the GRU keeps pace at lengths a CPU ledger
can afford (adding at T = 60: GRU competent after 75 updates, Transformer 117; copy of
2 symbols after delay 20: GRU 196, Transformer 150), so the adding problem is in the
full profile only (T = 400). The quick tasks need several items kept or looked up, and
the recurrent nets are also trained on a short version of each (seed 0, reported, not
a gate): if they fail there too, their failure is about holding several items in one
state vector, which attention avoids by reading the positions directly, more than
about the distance.

Rule (fixed before the run), per task, with r_s = steps(Transformer, s) / steps(best
recurrent net, s), the best recurrent net being the one of LSTM and GRU with fewer steps
in that seed:
- the task confirms when the Transformer is competent in every seed and r_s <= 0.5 in
  every seed (the recurrent nets never get there, or need at least twice the updates);
- the task refutes when, in every seed, the best recurrent net is competent and the
  Transformer is not, or needs at least twice its updates (r_s >= 2).
Confirmed when every task confirms; refuted when any task refutes. The rule compares
updates to competence (competence is part of it), so it needs no convergence gate.

Full profile (sized for a GPU; hours on a CPU): copy delay 100, recall with 32 pairs,
adding at T = 400; hidden 64, 2,000 updates.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.memory_tasks import PairedRecall
from seqlab.data.tasks import AddingProblem, CopyMemory
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.memory_runs import Run, train
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C25"
CLAIM = ("Attention reaches any earlier position in one step, so a Transformer learns long-dependency tasks "
         "(copy, associative recall, adding) at lengths where recurrent networks (LSTM, GRU) fail.")
TRANSFORMER, RECURRENT = "transformer", ("lstm", "gru")
ARCHS = (TRANSFORMER, *RECURRENT)


@dataclass(frozen=True)
class Config:
    copy: tuple[int, int, int] | None = (10, 4, 8)  # delay, symbols, alphabet; None = left out
    recall: tuple[int, int, int] | None = (8, 8, 8)  # pairs, keys, values (PairedRecall)
    adding: int | None = None  # sequence length
    short_copy_delay: int = 2  # the short versions the recurrent nets are also trained on (reported)
    short_pairs: int = 2
    short_adding: int = 10
    hidden: int = 32  # RNN hidden size = Transformer d_model
    heads: int = 2
    layers: int = 1
    forget_bias: float = 1.0
    budget: int = 300
    batch_size: int = 64
    rnn_lr: float = 0.01
    transformer_lr: float = 5e-3
    competent: float = 0.9
    window: int = 10
    ratio: float = 0.5  # confirmed: steps(Transformer) <= ratio x steps(best recurrent), every seed


PROFILES = {"quick": Config(),
            "full": Config(copy=(100, 8, 8), recall=(32, 64, 16), adding=400, hidden=64, budget=2000,
                           rnn_lr=3e-3, transformer_lr=1e-3)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(copy=(3, 2, 4), recall=(3, 4, 4), adding=6, short_copy_delay=1, short_pairs=1, short_adding=4,
              hidden=8, budget=6, batch_size=8, window=2)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def tasks(cfg: Config) -> dict[str, tuple]:
    """Task name -> (long task, short task for the gate, a phrase for the setup)."""
    out = {}
    if cfg.copy is not None:
        d, k, a = cfg.copy
        out["copy"] = (CopyMemory(d, k, a), CopyMemory(cfg.short_copy_delay, k, a),
                       f"copy of {k} symbols of {a} after delay {d}")
    if cfg.recall is not None:
        n, k, v = cfg.recall
        out["recall"] = (PairedRecall(n, k, v), PairedRecall(cfg.short_pairs, k, v),
                         f"associative recall of {n} pairs ({k} keys, {v} values, one pair per step)")
    if cfg.adding is not None:
        out["adding"] = (AddingProblem(cfg.adding), AddingProblem(cfg.short_adding), f"adding at T = {cfg.adding}")
    return out


def spec(arch: str, cfg: Config) -> ModelConfig:
    if arch == TRANSFORMER:
        return ModelConfig(arch=arch, hidden_size=cfg.hidden, num_layers=cfg.layers, heads=cfg.heads,
                           embed_dim=cfg.hidden)
    return ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=cfg.hidden,
                       forget_bias=cfg.forget_bias if arch == "lstm" else None)


def _train(arch: str, task, seed: int, cfg: Config, budget: int) -> Run:
    return train(spec(arch, cfg), task, budget, seed=seed, batch_size=cfg.batch_size, threshold=cfg.competent,
                 window=cfg.window, lr=cfg.transformer_lr if arch == TRANSFORMER else cfg.rnn_lr)


def recurrent_budget(transformer: Run, cfg: Config) -> int:
    """Updates a recurrent net gets in a seed: steps(Transformer) / ratio, at most the budget. A recurrent net
    not competent by then has r < ratio, one competent earlier has its exact r: the rule needs no more."""
    return min(cfg.budget, math.ceil(transformer.steps / cfg.ratio))


RULE = ("copy", "recall", "adding", "short_copy_delay", "short_pairs", "short_adding", "ratio")


def units(profile: str, done: dict) -> list[Unit]:
    """Per task and seed: the Transformer first; once it is in ``done``, LSTM and GRU with
    :func:`recurrent_budget` updates. The recurrent nets on each short task (seed 0) run from the start."""
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    out = []
    for name, (long, short, _) in tasks(cfg).items():
        for s in seeds:
            out.append(_unit(cfg, name, "long", TRANSFORMER, s, cfg.budget, long))
            transformer = done.get(f"{name}-long-{TRANSFORMER}-s{s}")
            if transformer is not None:
                budget = recurrent_budget(Run(**transformer), cfg)
                out += [_unit(cfg, name, "long", arch, s, budget, long) for arch in RECURRENT]
        out += [_unit(cfg, name, "short", arch, seeds[0], cfg.budget, short) for arch in RECURRENT]
    return out


def _unit(cfg: Config, name: str, version: str, arch: str, seed: int, budget: int, task) -> Unit:
    T = task.length
    cost = flops.training(flops.task_model(arch, cfg.hidden, cfg.hidden, task.output_dim, T, cfg.layers),
                          cfg.batch_size * T, budget)
    return Unit(f"{name}-{version}-{arch}-s{seed}", "train_run",
                {"cfg": settings(cfg, RULE), "task": _task_args(cfg, name, version), "arch": arch, "seed": seed,
                 "budget": budget}, seed=seed, flops=cost)


def _task_args(cfg: Config, name: str, version: str) -> dict:
    """The arguments that rebuild task ``name`` (``version`` long or short) in a unit."""
    if name == "copy":
        d, k, a = cfg.copy
        return {"kind": name, "sizes": [d if version == "long" else cfg.short_copy_delay, k, a]}
    if name == "recall":
        n, k, v = cfg.recall
        return {"kind": name, "sizes": [n if version == "long" else cfg.short_pairs, k, v]}
    return {"kind": name, "sizes": [cfg.adding if version == "long" else cfg.short_adding]}


def train_run(cfg: dict, task: dict, arch: str, seed: int, budget: int) -> dict:
    """``arch`` trained to competence (at most ``budget`` updates) on the task ``task`` names."""
    kinds = {"copy": CopyMemory, "recall": PairedRecall, "adding": AddingProblem}
    return asdict(_train(arch, kinds[task["kind"]](*task["sizes"]), seed, config_of(Config, cfg), budget))


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    named = tasks(cfg)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Causal Transformer ({cfg.layers} layer, d_model {cfg.hidden}, {cfg.heads} heads, Adam lr "
        f"{cfg.transformer_lr}) vs LSTM (forget-gate bias {cfg.forget_bias:g}) and GRU (hidden {cfg.hidden}, Adam lr "
        f"{cfg.rnn_lr}); " + "; ".join(t[2] for t in named.values())
        + f". Clip 1.0, at most {cfg.budget} updates of {cfg.batch_size}, stopped at competence (running skill >= "
        f"{cfg.competent} over {cfg.window} fresh batches), the recurrent nets for at most {1 / cfg.ratio:g}x the "
        f"Transformer's updates in the same seed; paired seeds {list(seeds)}. The recurrent nets also train "
        "on a short version of each task (seed 0, reported)."), profile, config(profile), seeds=seeds)
    runs: dict[tuple, Run] = {}
    rows = []
    for name in named:
        for arch in ARCHS:
            for s in seeds:
                runs[name, arch, s] = r = Run(**results[f"{name}-long-{arch}-s{s}"])
                rows.append([name, "long", arch, s, r.steps, r.trained, r.competent, r.best, r.held_out])
        for arch in RECURRENT:
            runs[name, arch, "short"] = r = Run(**results[f"{name}-short-{arch}-s{seeds[0]}"])
            rows.append([name, "short", arch, seeds[0], r.steps, r.trained, r.competent, r.best, r.held_out])
    result.add_table("runs (steps = updates to competence; updates allowed + 1 = never)",
                     ["task", "version", "arch", "seed", "steps", "updates trained", "competent",
                      "best running skill", "held-out skill"], rows)
    for name in named:
        curves = {a: (np.arange(1, 9), runs[name, a, seeds[0]].curve) for a in ARCHS}
        result.add_figure(f"{name}_curves", f"{name}: running skill at eight evenly spaced points of each run (seed "
                          f"{seeds[0]}; a competent run stops early).",
                          line_plot(curves, name, "eighth of the run", "running skill"))
    return _verdict(result, runs, cfg, named, seeds)


def task_rule(transformer: list[Run], best_rnn: list[Run], cfg: Config) -> tuple[bool, bool, list[float]]:
    """(confirms, refutes, per-seed ratios steps(Transformer) / steps(best recurrent)) for one task."""
    ratios = [t.steps / b.steps for t, b in zip(transformer, best_rnn)]
    confirms = all(t.competent for t in transformer) and all(r <= cfg.ratio for r in ratios)
    refutes = all(b.competent and (not t.competent or r >= 1 / cfg.ratio)
                  for t, b, r in zip(transformer, best_rnn, ratios))
    return confirms, refutes, ratios


def _steps(run: Run) -> str:
    """Steps to competence, or '> n' when not competent within the n updates it trained."""
    return str(run.steps) if run.competent else f"> {run.trained}"


def _verdict(result, runs: dict, cfg: Config, named: dict, seeds):
    outcomes, notes = {}, []
    for name, (long, short, _) in named.items():
        result.notes.append(f"{name}, short version ({short.length} steps instead of {long.length}), seed {seeds[0]}: "
                            + ", ".join(f"{a} {'competent' if runs[name, a, 'short'].competent else 'not competent'} "
                                        f"(best running skill {runs[name, a, 'short'].best:.2f})" for a in RECURRENT))
        best = [min((runs[name, a, s] for a in RECURRENT), key=lambda r: r.steps) for s in seeds]
        tr = [runs[name, TRANSFORMER, s] for s in seeds]
        confirms, refutes, ratios = task_rule(tr, best, cfg)
        outcomes[name] = (confirms, refutes)
        notes.append(f"{name}: steps to competence per seed, Transformer {', '.join(_steps(r) for r in tr)}; "
                     + "; ".join(f"{a} {', '.join(_steps(runs[name, a, s]) for s in seeds)}" for a in RECURRENT)
                     + "; r " + ", ".join(f"{'' if b.competent else '< '}{r:.2f}" for b, r in zip(best, ratios))
                     + (" (task confirms)" if confirms else " (task refutes)" if refutes else " (neither)"))
    confirmed = all(c for c, _ in outcomes.values())
    refuted = any(r for _, r in outcomes.values())
    verdict = judge(enough=True, confirmed=confirmed, refuted=refuted)
    return finish(result, verdict,
                  f"Per task, r = steps to competence of the Transformer / of the better of LSTM and GRU in that seed "
                  f"(never = updates allowed + 1; a recurrent net is allowed steps(Transformer) / {cfg.ratio} "
                  f"updates, at most {cfg.budget}). A task confirms when the Transformer is competent in "
                  f"every seed and r <= {cfg.ratio} in every seed; it refutes when in every seed the better recurrent "
                  f"net is competent and the Transformer is not or r >= {1 / cfg.ratio:g}. Confirmed when every task "
                  f"confirms, refuted when any refutes.",
                  "; ".join(notes),
                  ", ".join(f"{n}: {'confirms' if c else 'refutes' if r else 'undecided'}"
                            for n, (c, r) in outcomes.items()))
