"""C4: vanilla RNNs fail at long dependencies where LSTM and GRU succeed, judged per architecture.

Design. A tanh RNN, an LSTM (forget-gate bias 1, the chapter's recommendation) and a
GRU, all hidden 32, train with the same budget of updates on the same batches (3 paired
seeds) at a short and a long dependency length. Each run is watched on its fresh
training batches (``seqlab.experiments.core.memory_runs``): skill = 1 - MSE / chance MSE
for the adding problem (chance: predicting the mean sum), accuracy for delayed recall;
a run is *competent* once its skill over the last 10 batches reaches 0.9, and stops
there. Afterwards it is scored on 128 held-out sequences. At the long length the RNN
trains for as many updates as the slower gated net needed in that seed (the whole
budget if either never got there): the same budget, and no updates the comparison
does not use. (Given the whole 600 updates at T = 40, the RNN's best running skill
stayed at 0.10-0.14 in seeds 0-2 in an earlier run of this design.)

Quick profile: the adding problem (Hochreiter & Schmidhuber) at T = 10 and T = 40,
600 updates of 64. An earlier version gave every model 300 updates of 32, too few for
the LSTM, and let the GRU alone carry the verdict; here each gated architecture is
judged on its own. The LSTM leaves the chance plateau abruptly and when it does varies
by seed: in pilot runs at T = 40 it became competent after 241, 414 and 428 updates
(seeds 0-2), hence 600. Full profile (sized for a GPU; hours on a CPU): adding at T = 20
and 200 and delayed recall (one symbol of 8) at delays 10 and 100, hidden 64, 3,000
updates.

Rule (fixed before the run), per task and per gated architecture A in {LSTM, GRU}:
- A *beats the RNN* in a seed when A is competent at the long length and its held-out
  skill there exceeds the RNN's by at least 0.3;
- confirmed when both LSTM and GRU beat the RNN in every seed, on every task;
- refuted when some gated architecture beats the RNN in no seed of some task (no
  advantage at all);
- gates: every architecture learns the task within the budget in every seed: it is
  competent at the short length (the RNN always trains there; a gated net only where
  it was not competent at the long length, which shows the budget suffices), else the
  budget is too small to learn the task at all; and the RNN, where it never became
  competent at the long length, has plateaued (running skill gained at most 0.1 over
  the last quarter of its budget), so its failure is not a run cut short mid-climb.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.tasks import AddingProblem, CopyMemory
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.memory_runs import Run, train
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C4"
CLAIM = ("A vanilla RNN cannot learn dependencies that span many steps; LSTM and GRU, given the same budget, can.")
RNN, GATED = "rnn_tanh", ("lstm", "gru")
ARCHS = (RNN, *GATED)


@dataclass(frozen=True)
class Config:
    adding: tuple[int, int] | None = (10, 40)  # (short, long) sequence lengths; None = task left out
    recall: tuple[int, int] | None = None  # (short, long) delays of delayed recall (one symbol)
    alphabet: int = 8
    hidden: int = 32
    forget_bias: float = 1.0
    budget: int = 600
    batch_size: int = 64
    lr: float = 0.01
    competent: float = 0.9  # running skill over `window` fresh batches
    window: int = 10
    margin: float = 0.3  # held-out skill a gated model must add over the RNN's at the long length
    plateau: float = 0.1  # RNN's largest allowed gain over the last quarter (convergence gate)


PROFILES = {"quick": Config(),
            "full": Config(adding=(20, 200), recall=(10, 100), hidden=64, budget=3000, lr=3e-3)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(adding=(4, 8), recall=(2, 4), alphabet=4, hidden=4, budget=8, batch_size=8, window=2)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def tasks(cfg: Config) -> dict[str, tuple]:
    """Task name -> (short task, long task, what 'length' means)."""
    out = {}
    if cfg.adding is not None:
        out["adding"] = (AddingProblem(cfg.adding[0]), AddingProblem(cfg.adding[1]), "T")
    if cfg.recall is not None:
        out["delayed recall"] = (CopyMemory(cfg.recall[0], 1, cfg.alphabet), CopyMemory(cfg.recall[1], 1, cfg.alphabet),
                                 "delay")
    return out


def spec(arch: str, cfg: Config) -> ModelConfig:
    return ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=16,
                       forget_bias=cfg.forget_bias if arch == "lstm" else None)


RULE = ("adding", "recall", "margin", "plateau")  # the units name their task and length themselves
SLUG = {"adding": "adding", "delayed recall": "recall"}


def make_task(name: str, length: int, cfg: Config):
    """Task ``name`` at ``length`` (T of the adding problem, the delay of delayed recall)."""
    return AddingProblem(length) if name == "adding" else CopyMemory(length, 1, cfg.alphabet)


def units(profile: str, done: dict) -> list[Unit]:
    """Per task and seed: the gated nets at the long length and the RNN at the short one first; once
    both gated runs are in ``done``, the RNN at the long length with as many updates as the slower of
    them needed (the whole budget if either never got there), and a gated net at the short length
    only where it was not competent at the long one."""
    cfg = PROFILES[check_profile(profile)]
    out = []
    for name, (short, long, _) in tasks(cfg).items():
        lengths = {"short": _length(short), "long": _length(long)}
        for seed in rules.seeds(profile):
            def unit(which, arch, budget=cfg.budget):
                return _unit(cfg, name, which, lengths[which], arch, seed, budget)

            out += [unit("long", arch) for arch in GATED] + [unit("short", RNN)]
            gated = [done.get(_key(name, "long", a, seed)) for a in GATED]
            if any(g is None for g in gated):
                continue
            gated = [Run(**g) for g in gated]
            equal = max(r.steps for r in gated) if all(r.competent for r in gated) else cfg.budget
            out.append(unit("long", RNN, equal))
            out += [unit("short", arch) for arch, r in zip(GATED, gated) if not r.competent]
    return out


def _length(task) -> int:
    return task.length if isinstance(task, AddingProblem) else task.delay


def _key(name: str, which: str, arch: str, seed: int) -> str:
    return f"{SLUG[name]}-{which}-{arch}-s{seed}"


def _unit(cfg: Config, name: str, which: str, length: int, arch: str, seed: int, budget: int) -> Unit:
    ins, outs = (2, 1) if name == "adding" else (16, cfg.alphabet)
    per_token = flops.task_model(arch, ins, cfg.hidden, outs, length)
    return Unit(_key(name, which, arch, seed), "train_run",
                {"cfg": settings(cfg, RULE), "name": name, "length": length, "arch": arch, "seed": seed,
                 "budget": budget}, seed=seed, flops=flops.training(per_token, cfg.batch_size * length, budget))


def train_run(cfg: dict, name: str, length: int, arch: str, seed: int, budget: int) -> dict:
    """One model trained to competence (at most ``budget`` updates) on task ``name`` at ``length``."""
    cfg = config_of(Config, cfg)
    run = train(spec(arch, cfg), make_task(name, length, cfg), budget, seed=seed, lr=cfg.lr,
                batch_size=cfg.batch_size, threshold=cfg.competent, window=cfg.window)
    return asdict(run)


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    named = tasks(cfg)
    result = new_result(CLAIM_ID, CLAIM, (
        f"tanh RNN, LSTM (forget-gate bias {cfg.forget_bias:g}) and GRU, hidden {cfg.hidden}; "
        + "; ".join(f"{n} at {m} {a.length if m == 'T' else a.delay} and {b.length if m == 'T' else b.delay}"
                    for n, (a, b, m) in named.items())
        + f". Adam lr {cfg.lr}, clip 1.0, at most {cfg.budget} updates of {cfg.batch_size}, stopped at competence "
        f"(skill >= {cfg.competent} over the last {cfg.window} fresh batches; skill = accuracy, or 1 - MSE / chance "
        f"for adding); at the long length the RNN gets as many updates as the slower gated net needed; held-out "
        f"skill on 128 sequences; paired seeds {list(seeds)}."), profile, config(profile),
        seeds=seeds)
    runs: dict[tuple, Run] = {}
    for name in named:
        for which in ("short", "long"):
            for arch in ARCHS:
                for s in seeds:
                    if _key(name, which, arch, s) in results:
                        runs[name, which, arch, s] = Run(**results[_key(name, which, arch, s)])
    rows = [[n, which, a, s, r.steps, r.trained, r.competent, r.best, r.held_out]
            for (n, which, a, s), r in sorted(runs.items(), key=lambda kv: (kv[0][0], kv[0][1] == "short",
                                                                          ARCHS.index(kv[0][2]), kv[0][3]))]
    result.add_table("runs (steps = updates to competence; updates allowed + 1 = never)",
                     ["task", "length", "arch", "seed", "steps", "updates trained", "competent", "best running skill",
                      "held-out skill"], rows)
    for name in named:
        curves = {a: (np.arange(1, 9), runs[name, "long", a, seeds[0]].curve) for a in ARCHS}
        result.add_figure(f"{name.replace(' ', '_')}_long", f"{name}, long length: running skill at eight evenly "
                          f"spaced points of each run (seed {seeds[0]}; a competent run stops early).",
                          line_plot(curves, f"{name}: long length", "eighth of the run", "running skill"))
    return _verdict(result, runs, cfg, named, seeds)


def learned(runs: dict, name: str, arch: str, seed: int) -> bool:
    """The budget suffices for ``arch`` to learn task ``name`` at all: competent at the short length, or (a
    gated net, whose short run is skipped then) at the long one."""
    long, short = runs[name, "long", arch, seed], runs.get((name, "short", arch, seed))
    return (short is not None and short.competent) or (arch != RNN and long.competent)


def beats(runs: dict, name: str, arch: str, seed: int, cfg: Config) -> bool:
    """Gated ``arch`` beats the RNN at the long length of ``name`` in ``seed`` (see the rule)."""
    a, rnn = runs[name, "long", arch, seed], runs[name, "long", RNN, seed]
    return a.competent and a.held_out - rnn.held_out >= cfg.margin


def _verdict(result, runs: dict, cfg: Config, named: dict, seeds):
    gates, wins, notes = [], {}, []
    for name in named:
        learns = [learned(runs, name, a, s) for a in ARCHS for s in seeds]
        gates.append(rules.at_least(f"{name}: runs that learn the task within the budget (competent at the short "
                                    "length; gated nets: or at the long one; all archs and seeds)",
                                    rules.count(learns), len(learns)))
        for s in seeds:
            rnn = runs[name, "long", RNN, s]
            if not rnn.competent:
                gates.append(rules.converged(f"{name}: RNN plateaued at the long length, seed {s} (running skill)",
                                             rnn.curve, cfg.plateau))
        for arch in GATED:
            wins[name, arch] = [beats(runs, name, arch, s, cfg) for s in seeds]
            gap = [runs[name, "long", arch, s].held_out - runs[name, "long", RNN, s].held_out for s in seeds]
            steps = [runs[name, "long", arch, s].steps for s in seeds]
            notes.append(f"{name}, {arch}: beats the RNN in {rules.count(wins[name, arch])}/{len(seeds)} seeds "
                         f"(held-out skill gap {', '.join(f'{g:+.2f}' for g in gap)}; steps to competence "
                         f"{', '.join(str(v) for v in steps)})")
        rnn = [runs[name, "long", RNN, s] for s in seeds]
        notes.append(f"{name}, RNN at the long length: held-out skill {', '.join(f'{r.held_out:.2f}' for r in rnn)} "
                     f"after {', '.join(str(r.trained) for r in rnn)} updates")
    confirmed = all(all(w) for w in wins.values())
    refuted = any(not any(w) for w in wins.values())
    verdict = judge(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    per_arch = {arch: sum(rules.count(wins[n, arch]) for n in named) for arch in GATED}
    total = len(seeds) * len(named)
    return finish(result, verdict,
                  f"Per task and gated architecture A: A beats the RNN in a seed when A is competent at the long "
                  f"length (running skill >= {cfg.competent}) and its held-out skill there exceeds the RNN's by >= "
                  f"{cfg.margin}. Confirmed when LSTM and GRU each beat the RNN in every seed on every task; refuted "
                  f"when some gated architecture beats it in no seed of some task. Gates: every architecture, in every "
                  f"seed, competent at the short length (gated nets: or at the long one); where the RNN never became "
                  f"competent at the long length, its running skill gained <= {cfg.plateau} over the last quarter.",
                  "; ".join(notes),
                  ", ".join(f"{a.upper()} beats the RNN in {per_arch[a]}/{total} seeds" for a in GATED),
                  gates=gates)
