"""C6: orthogonal and identity initialisations help at the start; training brings the gradient problem back.

An orthogonal W_hh (or the identity of an IRNN) preserves norms, so at the start the
gradient reaches far back. The chapter adds that training moves the weights away from
orthogonality and the gradient problem "eventually returns for long sequences".

Design: vanilla RNNs with orthogonal W_hh (tanh) and identity W_hh (ReLU, the IRNN)
train the same number of updates on a task both learn (``probe_tasks.DecisiveToken``:
one polarity word somewhere in T = 50 filler words, the label read at the last step),
paired seeds (seed s: same torch seed for the build, same batches). A fixed probe batch
measures, before training and after the last update, the gradient reach
log10(||dL/de_1|| / ||dL/de_T||) (e = the RNN's input, L = the outputs at the last step;
``init_runs.reach``) and the drift ||W_hh^T W_hh - I||_F. torch's default uniform init
(tanh) is measured at initialisation only: it is the yardstick of "helps at the start".

Each init is judged against its own start, not against the default init (which also
changes as it trains): distortion = |reach| (a gradient that grows going back counts as
badly as one that shrinks), and the problem *returns* when the distortion after training
exceeds the distortion at the start by >= ``returns`` decades while the drift grew.

Rule, fixed beforehand. Gates: both inits competent at the end (held-out accuracy >= 0.9
in every seed) and trained (accuracy gained <= 0.05 over the last quarter). Per init and
seed: helped = |reach default| - |reach init| >= ``helps`` decades at initialisation;
returned = distortion grew by >= ``returns`` decades and the drift grew. Confirmed when
both hold for both inits in every seed (a count over three seeds); refuted when, for
either init, it helped in every seed and its distortion did not grow at all (<= 0) in
every seed; inconclusive otherwise.
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
CLAIM = ('The chapter: "Orthogonal initialization only helps at the start of training. As weights update, they '
         'drift away from orthogonality. The gradient problem eventually returns for long sequences" (tested: '
         'orthogonal or identity W_hh lets gradients travel far at the start; training on 50-step sequences moves '
         'it away from orthogonality and its own gradient distortion grows back).')
DEFAULT, ORTHOGONAL, IDENTITY = "default (uniform), tanh", "orthogonal, tanh", "identity, ReLU (IRNN)"
INITS = {DEFAULT: ("rnn_tanh", "default"), ORTHOGONAL: ("rnn_tanh", "orthogonal"), IDENTITY: ("rnn_relu", "identity")}


@dataclass(frozen=True)
class Config:
    length: int = 50
    hidden: int = 32
    embed: int = 16
    steps: int = 400
    evals: int = 8  # held-out scores over the budget (plus one before training)
    lr: float = 3e-3
    batch: int = 32
    probe: int = 64  # sequences in the reach probe
    competent: float = 0.9  # gate: held-out accuracy at the end
    converged: float = 0.05  # gate: accuracy gained over the last quarter at most this
    helps: float = 1.0  # decades of advantage over the default init at the start
    returns: float = 1.0  # decades the init's own distortion must grow by during training


# quick: about 11 s on one thread. full: T = 100, hidden 64, 1,000 updates, five seeds (minutes on one CPU thread).
PROFILES = {"quick": Config(), "full": Config(length=100, hidden=64, embed=32, steps=1000, evals=10, probe=128)}
TINY = Config(length=8, hidden=8, embed=4, steps=8, evals=4, probe=8)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def advantage(default_reach: float, init_reach: float) -> float:
    """Decades by which the init's distortion |reach| is smaller than the default init's."""
    return abs(default_reach) - abs(init_reach)


def seed_rule(default0: float, r0: float, r1: float, d0: float, d1: float, cfg: Config) -> dict:
    """Per init and seed: did it help at the start, and did its own distortion grow back as it drifted."""
    helped = advantage(default0, r0) >= cfg.helps
    growth = abs(r1) - abs(r0)  # decades of distortion training added
    returned = growth >= cfg.returns and d1 > d0
    return {"advantage": advantage(default0, r0), "growth": growth, "drift": d1 - d0, "helped": helped,
            "returned": returned, "holds": helped and returned, "kept": helped and growth <= 0}


def drift(model) -> float:
    return float(np.mean(list(recurrent_drift(model).values())))


def train_init(cfg: Config, task, name: str, seed: int, probe_x: torch.Tensor) -> dict:
    arch, init = INITS[name]
    torch.manual_seed(seed)
    model = build_model(ModelConfig(arch=arch, hidden_size=cfg.hidden, init=init, embed_dim=cfg.embed), task)
    with one_thread():
        r0, d0 = reach(model, probe_x), drift(model)
        if name == DEFAULT:  # the yardstick at initialisation: not trained
            return {"reach0": r0, "drift0": d0}
        curve = ScoreCurve(task, every=max(cfg.steps // cfg.evals, 1)).start(model)
        trained = train_built(model, task, cfg.steps, lr=cfg.lr, seed=seed, batch_size=cfg.batch, clip_norm=1.0,
                              callbacks=(curve,))
        early = score(model, DecisiveToken(cfg.length, lo=0.0, hi=0.2), batches=2)["accuracy"]
        r1, d1 = reach(trained.model, probe_x), drift(trained.model)
    return {"reach0": r0, "reach1": r1, "drift0": d0, "drift1": d1,
            "curve": {"steps": curve.steps, "accuracy": curve.accuracy}, "accuracy": curve.accuracy[-1],
            "early": early, "competent_at": curve.first_step(cfg.competent), "diverged": trained.diverged_at}


RULE = ("competent", "converged", "helps", "returns")
KEYS = {DEFAULT: "default", ORTHOGONAL: "orthogonal", IDENTITY: "identity"}


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (init, seed): one model trained, its reach and drift before and after."""
    cfg = PROFILES[check_profile(profile)]
    cost = flops.training(flops.task_model("rnn_tanh", cfg.embed, cfg.hidden, 2, cfg.length), cfg.batch * cfg.length,
                          cfg.steps)
    return [Unit(f"{KEYS[name]}-s{s}", "train_seed", {"cfg": settings(cfg, RULE), "name": name, "seed": s}, seed=s,
                 flops=0.0 if name == DEFAULT else cost) for s in rules.seeds(profile) for name in INITS]


def train_seed(cfg: dict, name: str, seed: int) -> dict:
    """Init ``name`` trained with ``seed`` (see :func:`train_init`)."""
    cfg = config_of(Config, cfg)
    task = DecisiveToken(cfg.length)
    probe_x = task.sample(cfg.probe, torch.Generator().manual_seed(999)).x
    return train_init(cfg, task, name, seed, probe_x)


TRAINED = (ORTHOGONAL, IDENTITY)


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Vanilla RNNs, hidden {cfg.hidden}, embedding {cfg.embed}; trained: {', '.join(TRAINED)}; {DEFAULT} measured "
        f"at initialisation. Task: one polarity word among T = {cfg.length} filler words, label at the last step. "
        f"Adam lr {cfg.lr}, clip 1.0, {cfg.steps} updates of {cfg.batch}; seeds {list(seeds)} (paired). Probe: "
        f"{cfg.probe} fixed sequences; reach = log10(||dL/de_1|| / ||dL/de_T||) and drift ||W_hh^T W_hh - I||_F "
        "before and after training."), profile, config(profile), seeds=seeds)
    data = {(name, s): results[f"{KEYS[name]}-s{s}"] for s in seeds for name in INITS}
    rows = [[name, s, d["reach0"], d.get("reach1", "not trained"), d["drift0"], d.get("drift1", "not trained"),
             d.get("accuracy", "-"), d.get("early", "-"),
             "-" if name == DEFAULT else d["competent_at"] if d["competent_at"] is not None else "never"]
            for (name, s), d in data.items()]
    result.add_table("per init and seed, before and after training", [
        "init", "seed", "reach before", "reach after", "drift before", "drift after", "held-out accuracy",
        "accuracy, word in the first 20%", f"first update with accuracy >= {cfg.competent}"], rows)
    judged = {(n, s): seed_rule(data[DEFAULT, s]["reach0"], data[n, s]["reach0"], data[n, s]["reach1"],
                                data[n, s]["drift0"], data[n, s]["drift1"], cfg) for n in TRAINED for s in seeds}
    result.add_table("the rule per init and seed (decades; distortion = |reach|)", [
        "init", "seed", "advantage over default at the start", "distortion growth in training", "drift growth",
        f"helped (>= {cfg.helps:g})", f"returned (growth >= {cfg.returns:g}, drift grew)"],
        [[n, s, j["advantage"], j["growth"], j["drift"], j["helped"], j["returned"]] for (n, s), j in judged.items()])
    result.add_figure("accuracy", "Held-out accuracy during training, per init and seed.", line_plot(
        {f"{n} s{s}": (np.asarray(data[n, s]["curve"]["steps"]), np.asarray(data[n, s]["curve"]["accuracy"]))
         for n in TRAINED for s in seeds}, "learning the task", "update", "held-out accuracy"))
    gates = [rules.at_least(f"{name} competent (held-out accuracy at the end, min over seeds)",
                            min(data[name, s]["accuracy"] for s in seeds), cfg.competent) for name in TRAINED]
    gates += [rules.converged(f"{name} seed {s} trained (held-out accuracy)", data[name, s]["curve"]["accuracy"],
                              cfg.converged) for name in TRAINED for s in seeds]
    holds = {n: rules.count(judged[n, s]["holds"] for s in seeds) for n in TRAINED}
    kept = {n: rules.count(judged[n, s]["kept"] for s in seeds) for n in TRAINED}
    confirmed = all(h == len(seeds) for h in holds.values())
    refuted = any(k == len(seeds) for k in kept.values())
    verdict = judge(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    growth = [judged[n, s]["growth"] for n in TRAINED for s in seeds]
    per_init = "; ".join(
        f"{n}: advantage at the start " + ", ".join(f"{judged[n, s]['advantage']:.1f}" for s in seeds)
        + " decades, distortion growth " + ", ".join(f"{judged[n, s]['growth']:+.1f}" for s in seeds)
        + f", drift {statistics.median(data[n, s]['drift0'] for s in seeds):.2f}->"
        f"{statistics.median(data[n, s]['drift1'] for s in seeds):.2f} (median); holds in {holds[n]}/{len(seeds)}"
        for n in TRAINED)
    return finish(result, verdict,
                  f"Gates: both trained inits competent (held-out accuracy >= {cfg.competent} at the end, every "
                  f"seed) and trained (gain <= {cfg.converged} over the last quarter). Per init and seed: helped = "
                  f"|reach default| - |reach init| >= {cfg.helps:g} decades at initialisation; returned = the init's "
                  f"own |reach| grew by >= {cfg.returns:g} decades in training while its drift grew. Confirmed when "
                  "both hold for both inits in every seed; refuted when, for either init, it helped and its "
                  "distortion did not grow (<= 0) in every seed.",
                  per_init, ("both inits help at the start, drift, and their own gradient distortion grows back by "
                             f"{min(growth):.1f}-{max(growth):.1f} decades" if confirmed else
                             "the gradient problem does not return as stated: " + per_init), gates=gates,
                  margins=[rules.Margin("distortion growth in training, smallest over inits and seeds", min(growth),
                                        cfg.returns, "decades", noise=rules.seed_noise(growth))])
