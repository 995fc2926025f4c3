"""C24: Xavier initialisation suits feedforward layers; an RNN's W_hh wants orthogonal.

The chapter's argument is about the spectrum of W_hh: the gradient flowing back
through T steps is multiplied by W_hh^T diag(tanh') each step, so it keeps its
size only when W_hh preserves norms (all singular values 1, as for an orthogonal
matrix). Xavier-uniform on a square H x H matrix has the right average scale
(variance 1/H) but spread singular values (about 0..2), so the product over many
steps loses the gradient along most directions.

Two measurements, each with its own rule; the verdict needs both.

1. Gradient reach at initialisation. A tanh RNN (torch's nn.RNN, float64) initialised
   with ``seqlab.nn.init.xavier_`` (Xavier-uniform W_ih and W_hh, zero biases); its twin is
   the same network with W_hh replaced by ``seqlab.nn.init.orthogonal_``, so the two differ
   only in W_hh. Both read the same inputs, standard normal times an input scale; reach =
   log10(||dL/dh_1|| / ||dL/dh_T||) with L = sum of h_T (``diagnostics.hidden_gradient_norms``).
   The spectrum argument is about the linear regime, so this part is decided at the smallest
   input scale, where a gate checks that tanh is nearly linear (mean tanh' >= 0.9); larger
   scales, where saturation rather than W_hh sets the reach, are reported beside it. Norm
   preservation is what the chapter asks of W_hh, so the rule compares the distortion |reach|
   (decades away from 0, shrinking or growing): confirmed when Xavier's exceeds orthogonal's
   by >= 1 decade in every seed, refuted when by <= 0.25 decades in every seed.

2. Training at equal updates. The same twin construction inside a task model (embedding 16,
   tanh RNN hidden 32, linear head; built Xavier by ``seqlab.build``, the twin's W_hh made
   orthogonal) trains on ``probe_tasks.DecisiveToken`` (one polarity word among T = 30
   fillers, label at the last step), same seed, same batches, Adam, clip 1.0. The long
   dependency is scored on held-out sequences whose word lies in the first 20% (>= 24 steps
   before the label) every 10 updates; "competent from update t" = accuracy >= 0.9 from t to
   the end of the budget (a model that learns and then breaks is not competent). Gate: the
   orthogonal twin is competent by the end in every seed (the budget suffices). Per seed,
   "orthogonal better" = it is competent and Xavier is not, or it needs <= 0.7 x Xavier's
   updates. Confirmed when orthogonal is better in all seeds but at most one and the median
   ratio of updates (orthogonal / Xavier) is <= 0.7; refuted when it is better in fewer than
   half the seeds (an advantage the claim predicts that most seeds do not show).

Verdict: confirmed when both parts confirm; refuted when either refutes; else inconclusive.
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.diagnostics import hidden_gradient_norms
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.gradients.init_runs import ScoreCurve, train_built
from seqlab.experiments.core.probe_tasks import DecisiveToken
from seqlab.experiments.core.training import one_thread, score
from seqlab.experiments.core.units import Unit, config_of
from seqlab.nn.init import orthogonal_, xavier_

CLAIM_ID = "C24"
CLAIM = ("Xavier/Glorot initialisation is meant for feedforward layers, not for an RNN's hidden-to-hidden "
         "weights: an orthogonal W_hh (all singular values 1) keeps the size of the gradient flowing back through "
         "time far better than a Xavier W_hh, which lets it vanish or explode, and so trains better on long "
         "dependencies.")
INITS = ("xavier", "orthogonal")


@dataclass(frozen=True)
class Config:
    # 1. reach at initialisation
    lengths: tuple[int, ...] = (200,)
    scales: tuple[float, ...] = (1.0, 0.1, 0.01)  # input scales; the smallest decides
    hidden: int = 32
    inputs: int = 8
    batch: int = 8
    advantage: float = 1.0  # confirmed: |reach| of Xavier exceeds orthogonal's by this many decades, every seed
    no_advantage: float = 0.25  # refuted: by at most this many decades (or less), every seed
    linear: float = 0.9  # gate: mean tanh' at the deciding scale
    # 2. training at equal updates
    train_length: int = 30
    train_hidden: int = 32
    embed: int = 16
    steps: int = 200
    lr: float = 3e-3
    train_batch: int = 32
    eval_every: int = 10
    early: float = 0.2  # the long dependency: the word lies in the first 20% of the sequence
    competent: float = 0.9  # accuracy on those sequences
    faster: float = 0.7  # orthogonal better: at most this fraction of Xavier's updates


# quick: about 14 s on one thread. full: the reach at T up to 1000 and hidden 128; training at T = 50, hidden 64,
# 1,000 updates, five seeds (minutes on a GPU or on one CPU thread).
PROFILES = {"quick": Config(),
            "full": Config(lengths=(100, 300, 1000), hidden=128, batch=16, train_length=50, train_hidden=64,
                           embed=32, steps=1000, eval_every=20)}
TINY = Config(lengths=(10, 20), scales=(1.0, 0.01), hidden=8, inputs=3, batch=2, train_length=8, train_hidden=8,
              embed=4, steps=6, eval_every=2)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def twins(cfg: Config, seed: int) -> dict[str, nn.RNN]:
    """A Xavier-initialised tanh RNN and a copy with an orthogonal W_hh (float64, seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rnn = xavier_(nn.RNN(cfg.inputs, cfg.hidden, nonlinearity="tanh", batch_first=True).double())
        orth = orthogonal_(copy.deepcopy(rnn))
    return {"xavier": rnn, "orthogonal": orth}


def model_twins(cfg: Config, task, seed: int) -> dict[str, nn.Module]:
    """Task models (embedding, tanh RNN, head) built Xavier by seqlab.build, and a copy whose W_hh is orthogonal."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        xav = build_model(ModelConfig(arch="rnn_tanh", hidden_size=cfg.train_hidden, init="xavier",
                                      embed_dim=cfg.embed), task)
        orth = copy.deepcopy(xav)
        orthogonal_(orth.backbone)
    return {"xavier": xav, "orthogonal": orth}


def reach_decades(norms: np.ndarray) -> float:
    """log10(||dL/dh_1|| / ||dL/dh_T||): negative = the gradient shrank on its way back."""
    return float(np.log10(max(float(norms[0]), 1e-300) / float(norms[-1])))


def rule(advantages: list[float], cfg: Config) -> tuple[bool, bool]:
    """(confirmed, refuted) from the per-seed advantages |reach(Xavier)| - |reach(orthogonal)|, in decades."""
    return (all(a >= cfg.advantage for a in advantages), all(a <= cfg.no_advantage for a in advantages))


def training_rule(kept: dict[int, dict[str, int | None]], cfg: Config) -> dict:
    """Per seed, from the first update from which each twin stays competent (None = not competent at the end):
    the ratio orthogonal / Xavier of those updates and whether orthogonal is better; (confirmed, refuted)."""
    ratio, better = {}, {}
    for s, k in kept.items():
        o, x = k["orthogonal"], k["xavier"]
        ratio[s] = math.inf if o is None else 0.0 if x is None else o / max(x, 1)
        better[s] = o is not None and (x is None or o <= cfg.faster * x)
    n, wins = len(kept), rules.count(better.values())
    return {"ratio": ratio, "better": better,
            "confirmed": wins >= n - 1 and statistics.median(ratio.values()) <= cfg.faster,
            "refuted": wins < n / 2}


def spectrum(W: torch.Tensor) -> tuple[float, float, float]:
    """Largest and smallest singular value and spectral radius of W."""
    sv = torch.linalg.svdvals(W)
    return float(sv.max()), float(sv.min()), float(torch.linalg.eigvals(W).abs().max())


REACH = ("lengths", "scales", "hidden", "inputs", "batch")  # what the reach units read
TRAINING = ("train_length", "train_hidden", "embed", "steps", "lr", "train_batch", "eval_every", "early")


def units(profile: str, done: dict) -> list[Unit]:
    """Per seed: one unit measuring the twins' reach at initialisation, and one training unit per twin."""
    cfg = PROFILES[check_profile(profile)]
    reach = {k: v for k, v in to_dict(cfg).items() if k in REACH}
    train = {k: v for k, v in to_dict(cfg).items() if k in TRAINING}
    reach_work = 2 * len(cfg.scales) * sum(flops.TRAIN * cfg.batch * T * flops.recurrent("rnn_tanh", cfg.inputs,
                                                                                          cfg.hidden)
                                           for T in cfg.lengths)
    train_work = flops.training(flops.task_model("rnn_tanh", cfg.embed, cfg.train_hidden, 2, cfg.train_length),
                                cfg.train_batch * cfg.train_length, cfg.steps)
    seeds = rules.seeds(profile)
    out = []
    for seed in seeds:
        out.append(Unit(f"reach-s{seed}", "reach_seed", {"cfg": reach, "seed": seed, "profiles": seed == seeds[0]},
                        seed=seed, flops=reach_work))
        out += [Unit(f"train-{name}-s{seed}", "train_twin", {"cfg": train, "name": name, "seed": seed}, seed=seed,
                     flops=train_work) for name in INITS]
    return out


def reach_seed(cfg: dict, seed: int, profiles: bool) -> dict:
    """One seed's twins at initialisation: W_hh spectra, and per (T, input scale, init) the reach and mean
    tanh'; with ``profiles``, the gradient norms over t at the longest T."""
    cfg = config_of(Config, cfg)
    nets = twins(cfg, seed)
    out = {"spectrum": [[name, *spectrum(net.weight_hh_l0.detach())] for name, net in nets.items()], "points": [],
           "profiles": []}
    gen = torch.Generator().manual_seed(10_000 + seed)
    for length in cfg.lengths:
        base = torch.randn(cfg.batch, length, cfg.inputs, generator=gen, dtype=torch.float64)  # (B, T, D)
        for scale in cfg.scales:
            x = scale * base
            for name, net in nets.items():
                with one_thread():
                    norms = hidden_gradient_norms(net, x)
                    with torch.no_grad():
                        h, _ = net(x)  # (B, T, H)
                out["points"].append([length, scale, name, reach_decades(norms), float((1 - h.square()).mean())])
                if profiles and length == max(cfg.lengths):
                    out["profiles"].append([f"{name}, input scale {scale:g}", np.asarray(norms, float).tolist()])
    return out


def train_twin(cfg: dict, name: str, seed: int) -> dict:
    """One seed's ``name`` twin trained at equal updates: its long-dependency accuracy curve and final scores."""
    cfg = config_of(Config, cfg)
    task = DecisiveToken(cfg.train_length)
    model = model_twins(cfg, task, seed)[name]
    with one_thread():
        curve = ScoreCurve(DecisiveToken(cfg.train_length, lo=0.0, hi=cfg.early), every=cfg.eval_every,
                           batches=1).start(model)
        trained = train_built(model, task, cfg.steps, lr=cfg.lr, seed=seed, batch_size=cfg.train_batch,
                              clip_norm=1.0, callbacks=(curve,))
        overall = score(trained.model, task, batches=2)["accuracy"]
    return {"steps": curve.steps, "accuracy": curve.accuracy, "overall": overall, "diverged_at": trained.diverged_at}


def reach_part(cfg: Config, seeds, result, results: dict) -> dict:
    """Part 1: reach at initialisation; adds its tables, figure and notes to ``result``."""
    T, decisive = max(cfg.lengths), min(cfg.scales)
    reach, deriv, profiles, rows, spec_rows = {}, {}, {}, [], []
    for seed in seeds:
        r = results[f"reach-s{seed}"]
        spec_rows += [[seed, *row] for row in r["spectrum"]]
        for length, scale, name, decades, d in r["points"]:
            reach[seed, length, scale, name], deriv[seed, length, scale, name] = decades, d
            if name == INITS[-1]:
                got = {n: reach[seed, length, scale, n] for n in INITS}
                rows.append([seed, length, scale, got["xavier"], got["orthogonal"],
                             abs(got["xavier"]) - abs(got["orthogonal"]), deriv[seed, length, scale, "xavier"],
                             deriv[seed, length, scale, "orthogonal"]])
        profiles.update({label: (np.arange(1, T + 1), np.asarray(norms)) for label, norms in r["profiles"]})
    result.add_table("1. gradient reach at initialisation (decades; 0 = kept, negative = shrank, positive = grew)",
                     ["seed", "T", "input scale", "reach, Xavier W_hh", "reach, orthogonal W_hh",
                      "|Xavier| - |orthogonal|", "mean tanh', Xavier", "mean tanh', orthogonal"], rows)
    result.add_table("spectrum of W_hh", ["seed", "init", "largest singular value", "smallest singular value",
                                          "spectral radius"], spec_rows)
    result.add_figure("gradient_profile", f"||dL/dh_t|| over t (seed {seeds[0]}, T = {T}) for both inits and "
                      "every input scale; L = sum of h_T.",
                      line_plot(profiles, "gradient flowing back through time", "time step t", "||dL/dh_t||",
                                logy=True))
    for scale in cfg.scales:
        if scale == decisive:
            continue
        a = [abs(reach[s, T, scale, "xavier"]) - abs(reach[s, T, scale, "orthogonal"]) for s in seeds]
        sign = ("mixed in sign" if min(a) < 0 < max(a) else "orthogonal ahead in every seed" if min(a) > 0
                else "Xavier ahead or equal in every seed")
        result.notes.append(
            f"Reach, input scale {scale:g} (not deciding): Xavier median "
            f"{statistics.median(reach[s, T, scale, 'xavier'] for s in seeds):.1f}, orthogonal "
            f"{statistics.median(reach[s, T, scale, 'orthogonal'] for s in seeds):.1f} decades; |Xavier| - "
            f"|orthogonal| per seed {', '.join(f'{v:+.2f}' for v in a)} ({sign}); smallest mean tanh' "
            f"{min(deriv[s, T, scale, n] for s in seeds for n in INITS):.2f}.")
    adv = [abs(reach[s, T, decisive, "xavier"]) - abs(reach[s, T, decisive, "orthogonal"]) for s in seeds]
    gate = rules.at_least(f"tanh nearly linear at input scale {decisive:g}, T = {T} (smallest mean tanh' over "
                          "seeds and inits)", min(deriv[s, T, decisive, n] for s in seeds for n in INITS), cfg.linear)
    confirmed, refuted = rule(adv, cfg)
    med = {n: statistics.median(reach[s, T, decisive, n] for s in seeds) for n in INITS}
    return {"confirmed": confirmed, "refuted": refuted, "gate": gate, "advantages": adv, "median": med}


def training_part(cfg: Config, seeds, result, results: dict) -> dict:
    """Part 2: the twins trained at equal updates on a long dependency; adds its tables and figure."""
    curves, kept, rows = {}, {}, []
    for seed in seeds:
        kept[seed] = {}
        for name in INITS:
            r = results[f"train-{name}-s{seed}"]
            curve = ScoreCurve.of(r["steps"], r["accuracy"])
            curves[name, seed], kept[seed][name] = curve, curve.kept_from(cfg.competent)
            rows.append([seed, name, curve.first_step(cfg.competent) or "never",
                         kept[seed][name] if kept[seed][name] is not None else "not at the end", curve.accuracy[-1],
                         r["overall"], r["diverged_at"] or "-"])
    judged = training_rule(kept, cfg)
    result.add_table(f"2. training at equal updates ({cfg.steps}): accuracy with the word in the first "
                     f"{cfg.early:.0%} (the long dependency)", [
                         "seed", "W_hh", f"first update with accuracy >= {cfg.competent}",
                         f"competent (>= {cfg.competent}) from update", "long-dependency accuracy at the end",
                         "accuracy, all positions, at the end", "diverged at"], rows)
    result.add_table("2. the training rule per seed", ["seed", "updates to competence, orthogonal / Xavier",
                                                       f"orthogonal better (ratio <= {cfg.faster})"],
                     [[s, judged["ratio"][s], judged["better"][s]] for s in seeds])
    result.add_figure("training", "Held-out accuracy on sequences whose word lies in the first "
                      f"{cfg.early:.0%}, per W_hh init and seed.", line_plot(
                          {f"{n} s{s}": (np.asarray(c.steps), np.asarray(c.accuracy)) for (n, s), c in curves.items()},
                          "learning the long dependency", "update", "accuracy"))
    competent = [kept[s]["orthogonal"] is not None for s in seeds]
    gate = rules.Gate("orthogonal twin competent by the end of the budget in every seed (the budget suffices)",
                      all(competent), f"{rules.count(competent)}/{len(seeds)} seeds")
    return {**judged, "gate": gate, "kept": kept}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    T, decisive = max(cfg.lengths), min(cfg.scales)
    result = new_result(CLAIM_ID, CLAIM, (
        f"1. tanh RNN, {cfg.inputs} inputs, hidden {cfg.hidden}, float64, at initialisation: Xavier-uniform W_ih and "
        "W_hh with zero biases (seqlab.nn.init.xavier_) vs the same network with an orthogonal W_hh; inputs N(0, 1) x "
        f"scale {list(cfg.scales)}, batch {cfg.batch}, T in {list(cfg.lengths)}; reach = log10(||dL/dh_1|| / "
        f"||dL/dh_T||), L = sum of h_T. 2. The same twins in a task model (embedding {cfg.embed}, hidden "
        f"{cfg.train_hidden}) trained {cfg.steps} updates (Adam lr {cfg.lr}, clip 1.0, batch {cfg.train_batch}) on one "
        f"polarity word among T = {cfg.train_length} fillers; scored every {cfg.eval_every} updates on sequences whose "
        f"word lies in the first {cfg.early:.0%}. Seeds {list(seeds)}, paired."), profile, config(profile), seeds=seeds)
    at_init = reach_part(cfg, seeds, result, results)
    trained = training_part(cfg, seeds, result, results)
    gates = [at_init["gate"], trained["gate"]]
    verdict = judge(enough=rules.gates_pass(gates), confirmed=at_init["confirmed"] and trained["confirmed"],
                     refuted=at_init["refuted"] or trained["refuted"])
    med, kept = at_init["median"], trained["kept"]
    part1 = ("confirmed" if at_init["confirmed"] else "refuted" if at_init["refuted"] else "undecided")
    part2 = ("confirmed" if trained["confirmed"] else "refuted" if trained["refuted"] else "undecided")
    return finish(result, verdict,
                  f"1. Reach, decided at the smallest input scale ({decisive:g}, tanh nearly linear, so W_hh's "
                  f"spectrum sets the reach) and T = {T}; distortion = |reach| in decades. Confirmed when Xavier "
                  f"W_hh's distortion exceeds orthogonal W_hh's by >= {cfg.advantage:g} decade in every seed; "
                  f"refuted when by <= {cfg.no_advantage:g} (or less) in every seed. Gate: mean tanh' >= "
                  f"{cfg.linear} for both inits. "
                  f"2. Training, {cfg.steps} equal updates; competent from update t = long-dependency accuracy >= "
                  f"{cfg.competent} from t to the end. Gate: orthogonal competent by the end in every seed. Per seed, "
                  f"orthogonal better = Xavier not competent, or ratio of updates orthogonal / Xavier <= {cfg.faster}. "
                  f"Confirmed when orthogonal is better in all seeds but at most one and the median ratio is <= "
                  f"{cfg.faster}; refuted when it is better in fewer than half the seeds. "
                  "Verdict: confirmed when both parts confirm; refuted when either refutes.",
                  f"1 ({part1}): T = {T}, input scale {decisive:g}: |reach Xavier| - |reach orthogonal| per seed "
                  f"{', '.join(f'{a:+.2f}' for a in at_init['advantages'])} decades (reach Xavier median "
                  f"{med['xavier']:.2f}, orthogonal {med['orthogonal']:.2f}). 2 ({part2}): competent from update "
                  + "; ".join(f"seed {s}: Xavier {k['xavier']}, orthogonal {k['orthogonal']} (ratio "
                              f"{trained['ratio'][s]:.2f})" for s, k in kept.items()),
                  f"at initialisation orthogonal W_hh {med['orthogonal']:+.1f} vs Xavier {med['xavier']:+.1f} decades "
                  f"({part1}); in training {part2}", gates=gates)
