"""C6: orthogonal and identity initialisations help early, then training drifts away from them.

An orthogonal W_hh (or the identity of an IRNN) preserves norms, so at the start the
gradient reaches far back. The chapter adds that training moves the weights away from
orthogonality, so the advantage is temporary.

Design: three vanilla RNNs, torch's default uniform init (tanh), orthogonal W_hh (tanh)
and identity W_hh (ReLU, the IRNN), train the same number of updates on a task all of them
can learn (``probe_tasks.DecisiveToken``: one polarity word somewhere in T = 30 filler
words, the label read at the last step), paired seeds (seed s: same torch seed for the
build, same batches). A fixed probe batch measures, before training and after the last
update, the gradient reach log10(||dL/de_1|| / ||dL/de_T||) (e = the RNN's input, L = the
outputs at the last step; ``init_runs.reach``) and the drift ||W_hh^T W_hh - I||_F.

Advantage, in decades: the default init's distortion |reach| minus the init's (norm
preservation is what orthogonality promises, so a gradient that grows going back counts
as badly as one that shrinks). Fading is judged relative to the start:
ratio = advantage at the end / advantage at the start.

Rule, fixed beforehand. Gates: every model is competent at the end (held-out accuracy
>= 0.9 in every seed) and trained (accuracy gained <= 0.05 over the last quarter). Per init
and seed: "helps then fades" = advantage at the start >= 1 decade and ratio <= 0.5.
Confirmed when, for both the orthogonal and the identity init, that holds in a majority of
seeds; refuted when it fails in a majority of seeds for either (the advantage was absent,
or more than half of it was kept).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.diagnostics import recurrent_drift
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.gradients.init_runs import ScoreCurve, reach, train_built
from seqlab.experiments.core.probe_tasks import DecisiveToken
from seqlab.experiments.core.training import one_thread, score
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C6"
CLAIM = ("Orthogonal or identity recurrent weights let gradients travel far at the start of training, but "
         "training moves the weights away from orthogonality and the advantage fades.")
DEFAULT, ORTHOGONAL, IDENTITY = "default (uniform), tanh", "orthogonal, tanh", "identity, ReLU (IRNN)"
INITS = {DEFAULT: ("rnn_tanh", "default"), ORTHOGONAL: ("rnn_tanh", "orthogonal"), IDENTITY: ("rnn_relu", "identity")}


@dataclass(frozen=True)
class Config:
    length: int = 20
    hidden: int = 32
    embed: int = 16
    steps: int = 200
    evals: int = 8  # held-out scores over the budget (plus one before training)
    lr: float = 3e-3
    batch: int = 32
    probe: int = 64  # sequences in the reach probe
    competent: float = 0.9  # gate: held-out accuracy at the end
    converged: float = 0.05  # gate: accuracy gained over the last quarter at most this
    helps: float = 1.0  # decades of advantage at the start
    fades: float = 0.5  # advantage at the end / at the start at most this


# quick: about 16 s on one thread. full: T = 50, hidden 64, 1,000 updates, five seeds (minutes on a GPU or on one CPU
# thread; T = 50 is where torch's default init still learns the task in this budget, so the competence gate can pass).
PROFILES = {"quick": Config(), "full": Config(length=50, hidden=64, embed=32, steps=1000, evals=10, probe=128)}
TINY = Config(length=8, hidden=8, embed=4, steps=8, evals=4, probe=8)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def advantage(default_reach: float, init_reach: float) -> float:
    """Decades by which the init's distortion |reach| is smaller than the default init's."""
    return abs(default_reach) - abs(init_reach)


def seed_rule(a0: float, a1: float, cfg: Config) -> dict:
    """Per init and seed: did it help at the start, and how much of the advantage is left."""
    ratio = a1 / a0 if a0 > 0 else float("nan")
    helped = a0 >= cfg.helps
    return {"start": a0, "end": a1, "ratio": ratio, "helped": helped,
            "helps then fades": bool(helped and ratio <= cfg.fades)}


def drift(model) -> float:
    return float(np.mean(list(recurrent_drift(model).values())))


def train_init(cfg: Config, task, name: str, seed: int, probe_x: torch.Tensor) -> dict:
    arch, init = INITS[name]
    torch.manual_seed(seed)
    model = build_model(ModelConfig(arch=arch, hidden_size=cfg.hidden, init=init, embed_dim=cfg.embed), task)
    with one_thread():
        r0, d0 = reach(model, probe_x), drift(model)
        curve = ScoreCurve(task, every=max(cfg.steps // cfg.evals, 1)).start(model)
        trained = train_built(model, task, cfg.steps, lr=cfg.lr, seed=seed, batch_size=cfg.batch, clip_norm=1.0,
                              callbacks=(curve,))
        early = score(model, DecisiveToken(cfg.length, lo=0.0, hi=0.2), batches=2)["accuracy"]
        r1, d1 = reach(trained.model, probe_x), drift(trained.model)
    return {"reach0": r0, "reach1": r1, "drift0": d0, "drift1": d1,
            "curve": {"steps": curve.steps, "accuracy": curve.accuracy}, "accuracy": curve.accuracy[-1],
            "early": early, "competent_at": curve.first_step(cfg.competent), "diverged": trained.diverged_at}


RULE = ("competent", "converged", "helps", "fades")
KEYS = {DEFAULT: "default", ORTHOGONAL: "orthogonal", IDENTITY: "identity"}


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (init, seed): one model trained, its reach and drift before and after."""
    cfg = PROFILES[check_profile(profile)]
    cost = flops.training(flops.task_model("rnn_tanh", cfg.embed, cfg.hidden, 2, cfg.length), cfg.batch * cfg.length,
                          cfg.steps)
    return [Unit(f"{KEYS[name]}-s{s}", "train_seed", {"cfg": settings(cfg, RULE), "name": name, "seed": s}, seed=s,
                 flops=cost) for s in rules.seeds(profile) for name in INITS]


def train_seed(cfg: dict, name: str, seed: int) -> dict:
    """Init ``name`` trained with ``seed`` (see :func:`train_init`)."""
    cfg = config_of(Config, cfg)
    task = DecisiveToken(cfg.length)
    probe_x = task.sample(cfg.probe, torch.Generator().manual_seed(999)).x
    return train_init(cfg, task, name, seed, probe_x)


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Vanilla RNNs, hidden {cfg.hidden}, embedding {cfg.embed}; inits: {', '.join(INITS)}. Task: one polarity word "
        f"among T = {cfg.length} filler words, label at the last step. Adam lr {cfg.lr}, clip 1.0, {cfg.steps} "
        f"updates of {cfg.batch}; seeds {list(seeds)} (paired). Probe: {cfg.probe} fixed sequences; reach = "
        "log10(||dL/de_1|| / ||dL/de_T||) and drift ||W_hh^T W_hh - I||_F before and after training."),
        profile, config(profile), seeds=seeds)
    data = {(name, s): results[f"{KEYS[name]}-s{s}"] for s in seeds for name in INITS}
    rows = [[name, s, d["reach0"], d["reach1"], d["drift0"], d["drift1"], d["accuracy"], d["early"],
             d["competent_at"] if d["competent_at"] is not None else "never"]
            for (name, s), d in data.items()]
    result.add_table("per init and seed, before and after training", [
        "init", "seed", "reach before", "reach after", "drift before", "drift after", "held-out accuracy",
        "accuracy, word in the first 20%", f"first update with accuracy >= {cfg.competent}"], rows)
    judged = {(name, s): seed_rule(advantage(data[DEFAULT, s]["reach0"], data[name, s]["reach0"]),
                                   advantage(data[DEFAULT, s]["reach1"], data[name, s]["reach1"]), cfg)
              for name in (ORTHOGONAL, IDENTITY) for s in seeds}
    result.add_table("the rule per init and seed (advantage = |reach default| - |reach init|, decades)", [
        "init", "seed", "advantage before", "advantage after", "after / before", "helped (>= 1 decade)",
        f"helps then fades (ratio <= {cfg.fades})"],
        [[n, s, j["start"], j["end"], j["ratio"], j["helped"], j["helps then fades"]] for (n, s), j in judged.items()])
    result.add_figure("accuracy", "Held-out accuracy during training, per init and seed.", line_plot(
        {f"{n} s{s}": (np.asarray(d["curve"]["steps"]), np.asarray(d["curve"]["accuracy"])) for (n, s), d in data.items()},
        "learning the task", "update", "held-out accuracy"))
    gates = [rules.at_least(f"{name} competent (held-out accuracy at the end, min over seeds)",
                            min(data[name, s]["accuracy"] for s in seeds), cfg.competent) for name in INITS]
    gates += [rules.converged(f"{name} seed {s} trained (held-out accuracy)", data[name, s]["curve"]["accuracy"],
                              cfg.converged) for name in INITS for s in seeds]
    majority = len(seeds) // 2 + 1
    holds = {n: rules.count(judged[n, s]["helps then fades"] for s in seeds) for n in (ORTHOGONAL, IDENTITY)}
    confirmed = all(h >= majority for h in holds.values())
    refuted = any(len(seeds) - h >= majority for h in holds.values())
    verdict = judge(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    def listed(values, fmt=".1f"):
        return ", ".join(format(v, fmt) if isinstance(v, float) else str(v) for v in values)

    per_init = "; ".join(
        f"{n}: start advantage {listed(judged[n, s]['start'] for s in seeds)} decades, end/start "
        f"{listed((judged[n, s]['ratio'] for s in seeds), '.2f')}, drift "
        f"{statistics.median(data[n, s]['drift0'] for s in seeds):.2f}->"
        f"{statistics.median(data[n, s]['drift1'] for s in seeds):.2f} (median), helps then fades in "
        f"{holds[n]}/{len(seeds)}" for n in (ORTHOGONAL, IDENTITY))
    reached = "; ".join(f"{n}: reach {statistics.median(data[n, s]['reach0'] for s in seeds):.1f} -> "
                        f"{statistics.median(data[n, s]['reach1'] for s in seeds):.1f}, accuracy >= {cfg.competent} at "
                        f"update {listed(data[n, s]['competent_at'] for s in seeds)}" for n in INITS)
    result.notes.append(f"What happened per init (median reach over seeds, decades): {reached}.")
    return finish(result, verdict,
                  f"Gates: every init competent (held-out accuracy >= {cfg.competent} at the end, every seed) and "
                  f"trained (gain <= {cfg.converged} over the last quarter). Advantage = |reach default| - "
                  f"|reach init| in decades, before and after training; per seed 'helps then fades' = advantage "
                  f"before >= {cfg.helps:g} and after / before <= {cfg.fades}. Confirmed when that holds in a "
                  "majority of seeds for both the orthogonal and the identity init; refuted when it fails in a "
                  "majority for either.",
                  per_init, ("both inits help at the start and lose most of the advantage by the end" if confirmed
                             else "the advantage does not fade as stated for " +
                             " and ".join(n for n, h in holds.items() if len(seeds) - h >= majority)), gates=gates)
