"""C26: the symptom table of exploding and vanishing gradients, and the monitor's thresholds.

The chapter lists symptoms (vanishing: the loss stays at its initial value, the gradient
at early time steps is ~0; exploding: the loss turns NaN, the weights become enormous) and
a monitor that flags any parameter whose gradient norm falls below 1e-7 or rises above
1e3. seqlab's monitor is ``seqlab.train.monitor.gradient_health``, which the trainer calls
after every backward pass with ``TrainConfig.monitor_low / monitor_high`` (1e-7 / 1e3).

Design: one task, one network, three recurrent scales. The task (:class:`RecallFirst`)
shows a random vector x_1 at the first step, zeros after it, and asks at the last step T
for its first component (MSE; predicting 0 costs E[x^2] = 1). A tanh RNN (hidden 32) reads
x_t directly (no input layer), with W_hh = scale * orthogonal, trained by plain SGD (the
update W - lr * dL/dW of the chapter's formula), no clipping, equal updates:

* healthy: scale 1 (the norm-preserving W_hh), lr 0.01;
* vanishing: scale 0.5 (eigenvalues below 1), lr 0.01: the only signal W_ih gets comes
  from x_1, through T - 1 contractions;
* exploding: scale 3 (eigenvalues above 1) and lr 0.05. (At lr 0.01, found while
  designing: the first update, with gradients near 1e5, throws the weights into tanh's
  flat region, the gradient then vanishes and the loss stays finite: a tanh RNN "saturates
  out" of an explosion unless the step size keeps it going, so the driven run uses both.)

Each seed builds the three networks from one torch seed (same orthogonal matrix, W_ih,
biases and head, only the scale differs) and trains them on the same batches.
``init_runs.MonitorLog`` records the monitor's flags after every update, with the norm of
all weights; the held-out loss is scored every fifth of the budget.

Rule, fixed beforehand, per seed (every check must hold in every seed for "confirmed"):
healthy: never flagged, the held-out loss falls to <= 0.5 x its initial value, the weight
norm stays within 2x its initial value; vanishing: flagged as vanishing from the first
update, never as exploding, the held-out loss stays >= 0.9 x its initial value, and the
gradient reaching x_1 is below 1e-7 of the one at x_T (reach <= -7 decades); exploding:
flagged as exploding, the loss becomes NaN/inf within the budget, and the weight norm
reaches >= 1e3 x its initial value. The three runs above are built to show
the symptoms (the task feeds W_ih from x_1 alone; the exploding run's lr keeps it going),
so they test the table, not whether the monitor would catch vanishing in ordinary use.

The monitor is also judged where nothing is arranged for it: the vanishing network on
inputs at every step (x_t standard normal for all t). The gradient still dies going back
in time (reach <= ``no_reach``: the chapter's "gradient at early time steps is ~0"), but
W_ih also gets the recent steps' signal, so a per-parameter norm may never fall below
1e-7. "Catches vanishing" then requires the monitor to flag that run at its first update.

Confirmed when every check above holds in every seed and the monitor flags the
dense-input run in every seed; refuted when in every seed the monitor flags the healthy
run, misses a driven one, or misses the dense-input run while its gradient has vanished
(a miss counts only in a seed whose reach is <= ``no_reach``); inconclusive otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.data.batch import SeqBatch
from seqlab.diagnostics import input_gradient_norms
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.gradients.init_runs import MonitorLog, ScoreCurve, train_built, weight_norm
from seqlab.experiments.core.training import one_thread
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C26"
CLAIM = ("Exploding and vanishing gradients show the symptoms of the chapter's table (vanishing: the loss stays at "
         "its initial value and early steps get no gradient; exploding: the loss turns NaN and the weights grow "
         "enormous), and a monitor that flags gradient norms below 1e-7 or above 1e3 catches both while leaving a "
         "healthy run alone (the monitor also judged on a vanishing net fed inputs at every step, where nothing "
         "is arranged for it).")
RUNS = ("healthy", "vanishing", "exploding")


@dataclass(frozen=True)
class RecallFirst:
    """x_1 ~ N(0, I_D), x_t = 0 for t > 1 (``dense``: x_t ~ N(0, I_D) for every t); target at
    step T: the first component of x_1. Chance (predict 0): MSE E[x^2] = 1."""

    length: int = 30
    input_dim: int = 8
    dense: bool = False

    output_dim = 1
    vocab_size = None
    loss_kind = "mse"
    chance_loss = 1.0

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, T, D = batch_size, self.length, self.input_dim
        x = torch.randn(B, T, D, generator=generator)  # (B, T, D)
        if not self.dense:
            x[:, 1:] = 0.0
        y = torch.zeros(B, T, 1)
        y[:, -1, 0] = x[:, 0, 0]
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, -1] = True
        return SeqBatch(x, y, mask)


@dataclass(frozen=True)
class Config:
    length: int = 30
    inputs: int = 8
    hidden: int = 32
    batch: int = 32
    steps: int = 150
    lr: float = 0.01  # healthy and vanishing
    high_lr: float = 0.05  # exploding
    scales: tuple[float, float, float] = (1.0, 0.5, 3.0)  # healthy, vanishing, exploding W_hh scale
    learns: float = 0.5  # healthy: final / initial held-out loss at most this
    stuck: float = 0.9  # vanishing: final / initial held-out loss at least this
    stable: float = 2.0  # healthy: weight norm at most this x initial
    enormous: float = 1e3  # exploding: weight norm at least this x initial
    no_reach: float = -7.0  # vanishing: log10 ||dL/dx_1|| / ||dL/dx_T|| at most this


# quick: about 9 s on one thread. full: five seeds and 300 updates at the same sizes (a minute on one CPU thread).
# Longer sequences need their own step sizes: at T = 60, lr 0.01 leaves the healthy run unlearned after 300 updates.
PROFILES = {"quick": Config(), "full": Config(steps=300)}
TINY = Config(length=10, inputs=3, hidden=8, batch=8, steps=8)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def network(cfg: Config, task, scale: float, seed: int):
    """The seed's tanh RNN with W_hh = scale * orthogonal (same draw for every scale)."""
    torch.manual_seed(seed)
    spec = ModelConfig(arch="rnn_tanh", hidden_size=cfg.hidden, init="orthogonal", init_scale=scale,
                       embed_dim=cfg.inputs)  # embed_dim = input_dim: x_t goes straight into W_ih
    return build_model(spec, task)


def reach(model, x: torch.Tensor) -> float:
    """log10(||dL/dx_1|| / ||dL/dx_T||), L = output at T; NaN when the model is not finite."""
    with one_thread():
        x = x.to(next(model.parameters()).device)  # the trainer may have moved the model to a GPU
        norms = input_gradient_norms(model.eval(), x, loss_at="last")  # (T,)
    first, last = float(norms[0]), float(norms[-1])
    if not (math.isfinite(first) and math.isfinite(last)) or last == 0:
        return math.nan
    return math.log10(max(first, 1e-300) / last)


def train_one(cfg: Config, task, run: str, seed: int, probe_x: torch.Tensor) -> dict:
    scale = cfg.scales[RUNS.index(run)]
    model = network(cfg, task, scale, seed)
    w0 = weight_norm(model)
    scores, monitor = ScoreCurve(task, every=max(cfg.steps // 5, 1)).start(model), MonitorLog()
    lr = cfg.high_lr if run == "exploding" else cfg.lr
    with one_thread():
        trained = train_built(model, task, cfg.steps, lr=lr, seed=seed, batch_size=cfg.batch, optimizer="sgd",
                              callbacks=(scores, monitor))
    finite = [w for w in monitor.weights if math.isfinite(w)]
    return {"scale": scale, "lr": lr, "w0": w0, "w_max": max(monitor.weights), "w_last": finite[-1] if finite else w0,
            "loss0": scores.normalized[0], "loss_end": scores.normalized[-1], "diverged": trained.diverged_at,
            "vanishing": monitor.flagged("vanishing"), "exploding": monitor.flagged("exploding"),
            "names": sorted({n for f in monitor.vanishing + monitor.exploding for n in f}),
            "smallest": min(monitor.smallest), "largest": max(monitor.largest),
            "monitor": {"steps": monitor.steps, "largest": monitor.largest, "smallest": monitor.smallest},
            "reach": math.nan if trained.diverged_at else reach(trained.model, probe_x), "updates": len(monitor.steps),
            "first_largest": monitor.largest[0], "w1": monitor.weights[0], "head": head_share(trained.model)}


@torch.no_grad()
def head_share(model) -> float:
    """The readout's share of the squared weight norm, ||head||^2 / ||theta||^2 (NaN if not finite)."""
    head = sum(float(p.double().square().sum()) for p in model.head.parameters())
    total = sum(float(p.double().square().sum()) for p in model.parameters())
    return head / total if math.isfinite(total) and total > 0 else math.nan


def checks(r: dict, run: str, cfg: Config) -> dict[str, bool]:
    """The symptoms of ``run`` that must show (names as in the rule)."""
    if run == "healthy":
        return {"never flagged": not r["vanishing"] and not r["exploding"],
                "loss falls": r["loss_end"] <= cfg.learns * r["loss0"],
                "weights stable": r["diverged"] is None and r["w_max"] <= cfg.stable * r["w0"]}
    if run == "vanishing":
        return {"flagged vanishing from update 1": bool(r["vanishing"]) and r["vanishing"][0] == 1,
                "never flagged exploding": not r["exploding"],
                "loss stuck": r["diverged"] is None and r["loss_end"] >= cfg.stuck * r["loss0"],
                "no gradient at x_1": r["reach"] <= cfg.no_reach}
    return {"flagged exploding": bool(r["exploding"]), "loss NaN/inf": r["diverged"] is not None,
            "weights enormous": r["w_max"] >= cfg.enormous * r["w0"]}


MONITOR_CHECKS = {"healthy": "never flagged", "vanishing": "flagged vanishing from update 1",
                  "exploding": "flagged exploding"}


def silent_vanishing(cfg: Config, seed: int) -> dict:
    """The vanishing network for one update on inputs at every step: what the monitor sees."""
    task = RecallFirst(cfg.length, cfg.inputs, dense=True)
    model, monitor = network(cfg, task, cfg.scales[1], seed), MonitorLog()
    x = task.sample(16, torch.Generator().manual_seed(77)).x
    r0 = reach(model, x)
    with one_thread():
        train_built(model, task, 1, lr=cfg.lr, seed=seed, batch_size=cfg.batch, optimizer="sgd", callbacks=(monitor,))
    return {"reach": r0, "smallest": monitor.smallest[0], "flagged": bool(monitor.vanishing[0]),
            "names": sorted(monitor.vanishing[0])}


RULE = ("learns", "stuck", "stable", "enormous", "no_reach")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (run, seed), and per seed one for the vanishing net with inputs at every step."""
    cfg = PROFILES[check_profile(profile)]
    args = {"cfg": settings(cfg, RULE)}
    cost = flops.training(flops.task_model("rnn_tanh", cfg.inputs, cfg.hidden, 1, cfg.length), cfg.batch * cfg.length,
                          cfg.steps)
    out = []
    for seed in rules.seeds(profile):
        out += [Unit(f"{name}-s{seed}", "train_run", {**args, "name": name, "seed": seed}, seed=seed, flops=cost)
                for name in RUNS]
        out.append(Unit(f"silent-s{seed}", "silent_run", {**args, "seed": seed}, seed=seed, flops=cost / cfg.steps))
    return out


def train_run(cfg: dict, name: str, seed: int) -> dict:
    """Run ``name`` (healthy, vanishing or exploding) of seed ``seed`` (see :func:`train_one`)."""
    cfg = config_of(Config, cfg)
    task = RecallFirst(cfg.length, cfg.inputs)
    return train_one(cfg, task, name, seed, task.sample(16, torch.Generator().manual_seed(99)).x)


def silent_run(cfg: dict, seed: int) -> dict:
    """:func:`silent_vanishing` of seed ``seed``."""
    return silent_vanishing(config_of(Config, cfg), seed)


def rule(held: dict, silent: list[dict], seeds, no_reach: float) -> tuple[bool, bool]:
    """(confirmed, refuted) from the checks per (run, seed) and the dense-input runs (one per seed, in order).

    A monitor that misses the dense-input run counts against it only in a seed whose
    gradient did vanish there (reach <= ``no_reach``).
    """
    confirmed = all(all(held[n, s].values()) for s in seeds for n in RUNS) and all(v["flagged"] for v in silent)
    refuted = all(any(not held[n, s][MONITOR_CHECKS[n]] for n in RUNS) or (v["reach"] <= no_reach and not v["flagged"])
                  for s, v in zip(seeds, silent))
    return confirmed, refuted


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Recall the first input: x_1 ~ N(0, I_{cfg.inputs}), zeros after, target x_1[0] at T = {cfg.length} (MSE, "
        f"chance 1). tanh RNN, hidden {cfg.hidden}, W_hh = scale x orthogonal; plain SGD, batch {cfg.batch}, "
        f"{cfg.steps} updates, no clipping; healthy scale {cfg.scales[0]} lr {cfg.lr}, vanishing scale "
        f"{cfg.scales[1]} lr {cfg.lr}, exploding scale {cfg.scales[2]} lr {cfg.high_lr}; seeds {list(seeds)}. "
        "Monitor: seqlab.train.monitor.gradient_health after every update (thresholds 1e-7 / 1e3)."),
        profile, config(profile), seeds=seeds)
    data, rows, rule_rows, held = {}, [], [], {}
    for seed in seeds:
        for name in RUNS:
            r = data[name, seed] = results[f"{name}-s{seed}"]
            held[name, seed] = checks(r, name, cfg)
            rows.append([seed, name, r["scale"], r["lr"], len(r["vanishing"]), len(r["exploding"]), r["updates"],
                         r["smallest"], r["largest"], ", ".join(r["names"]) or "-", r["loss0"], r["loss_end"],
                         r["diverged"] if r["diverged"] is not None else "-", r["reach"]])
            rule_rows += [[seed, name, check, ok] for check, ok in held[name, seed].items()]
    result.add_table("the monitor's flags and the loss per run", [
        "seed", "run", "W_hh scale", "lr", "updates flagged vanishing", "updates flagged exploding", "updates run",
        "smallest parameter grad norm", "largest parameter grad norm", "parameters flagged",
        "held-out loss / chance at start", "at end", "diverged at update", "log10 reach x_1 vs x_T at end"], rows)
    result.add_table("weight norms ||theta||_2 (all parameters)", ["seed", "run", "before training", "largest",
                     "last finite", "largest / before"],
                     [[s, n, data[n, s]["w0"], data[n, s]["w_max"], data[n, s]["w_last"],
                       data[n, s]["w_max"] / data[n, s]["w0"]] for s in seeds for n in RUNS])
    result.add_table("the rule per seed", ["seed", "run", "symptom", "shows"], rule_rows)
    silent = [results[f"silent-s{s}"] for s in seeds]
    result.add_table("the vanishing net with inputs at every step, first update (does the monitor catch it?)", [
        "seed", "log10 reach x_1 vs x_T", "smallest parameter grad norm", "flagged vanishing"],
        [[s, v["reach"], v["smallest"], v["flagged"]] for s, v in zip(seeds, silent)])
    result.add_figure("gradient_norms", f"Largest and smallest per-parameter gradient norm per update (seed "
                      f"{seeds[0]}), with the monitor's thresholds 1e3 and 1e-7.", _plot(data, seeds[0]))
    confirmed, refuted = rule(held, silent, seeds, cfg.no_reach)
    verdict = judge(enough=True, confirmed=confirmed, refuted=refuted)
    shown = rules.count(all(held[n, s].values()) for s in seeds for n in RUNS)
    margin = rules.Margin("runs x seeds showing every symptom of their row", shown, len(seeds) * len(RUNS) - 0.5,
                          "runs")
    missing = sorted({f"{n}: {c}" for (n, s), per in held.items() for c, ok in per.items() if not ok})
    if not all(v["flagged"] for v in silent):
        missing.append("monitor: flags the dense-input vanishing run (reach "
                       + ", ".join(f"{v['reach']:.1f}" for v in silent) + " decades, smallest parameter gradient "
                       + ", ".join(f"{v['smallest']:.1g}" for v in silent) + ")")
        result.notes.append(
            "With inputs at every step the vanishing net's gradient still dies going back (reach "
            + ", ".join(f"{v['reach']:.1f}" for v in silent) + " decades), but its smallest parameter gradient norm is "
            + ", ".join(f"{v['smallest']:.1e}" for v in silent) + ": a per-parameter monitor is silent then, because "
            "every weight also gets the recent steps' gradient. The flag needs a parameter fed only by early steps.")
    boom = [data["exploding", s] for s in seeds]
    result.notes.append(
        "Exploding, how it unfolds: the largest parameter gradient norm at update 1 is "
        + ", ".join(f"{b['first_largest']:.1e}" for b in boom) + " (the gradient grown through time), and that one "
        "update multiplies the weight norm by " + ", ".join(f"{b['w1'] / b['w0']:.0f}" for b in boom) + ". The tanh "
        "units are then saturated, so the gradients through them nearly stop (the monitor also flags vanishing at "
        + ", ".join(f"{len(b['vanishing'])}" for b in boom) + " updates), while the readout's weights, whose SGD step "
        "is too large for saturated features, grow geometrically until the loss is NaN (the readout's share of "
        "the squared weight norm at the last finite update: " + ", ".join(f"{b['head']:.3f}" for b in boom) + ").")
    show = "; ".join(_summary(data, s) for s in seeds)
    return finish(result, verdict,
                  f"Confirmed when in every seed: healthy (scale {cfg.scales[0]}) is never flagged, its held-out loss "
                  f"falls to <= {cfg.learns} x its initial value and its weight norm stays <= {cfg.stable} x initial; "
                  f"vanishing (scale {cfg.scales[1]}) is flagged vanishing from update 1 and never exploding, its loss "
                  f"stays >= {cfg.stuck} x initial and log10(||dL/dx_1|| / ||dL/dx_T||) <= {cfg.no_reach:g}; exploding "
                  f"(scale {cfg.scales[2]}, lr {cfg.high_lr}) is flagged exploding, its loss turns NaN/inf within "
                  f"{cfg.steps} updates and its weight norm reaches >= {cfg.enormous:g} x initial; and the monitor "
                  "flags the vanishing net fed inputs at every step at its first update. Refuted when in every seed "
                  "the monitor flags the healthy run, misses a driven one, or misses the dense-input run while its "
                  f"gradient has vanished (reach <= {cfg.no_reach:g} in that seed).",
                  show + (f". Not shown: {'; '.join(missing)}" if missing else ""),
                  "every symptom as the table describes, and the monitor catches every case, in every seed"
                  if confirmed else "not shown: " + "; ".join(missing), gates=[], margins=[margin])


def _summary(data: dict, seed: int) -> str:
    """One seed's runs in a line: flags, losses, reach, divergence, weight growth."""
    h, v, e = (data[n, seed] for n in RUNS)
    return (f"seed {seed}: healthy flags {len(h['vanishing']) + len(h['exploding'])}, loss {h['loss0']:.2f}->"
            f"{h['loss_end']:.2f}; vanishing flagged {len(v['vanishing'])}/{v['updates']} updates, loss "
            f"{v['loss0']:.2f}->{v['loss_end']:.2f}, reach {v['reach']:.1f}; exploding flagged "
            f"{len(e['exploding'])} updates, NaN at update {e['diverged']}, weights x{e['w_max'] / e['w0']:.2g}")


def _plot(data: dict, seed: int) -> bytes:
    curves = {}
    for name in RUNS:
        mon = data[name, seed]["monitor"]
        steps = np.asarray(mon["steps"])
        curves[f"{name}: largest"] = (steps, np.asarray(mon["largest"]))
        curves[f"{name}: smallest"] = (steps, np.asarray(mon["smallest"]))
    span = np.asarray([1, max(len(data[n, seed]["monitor"]["steps"]) for n in RUNS)])
    curves["threshold 1e3"] = (span, np.asarray([1e3, 1e3]))
    curves["threshold 1e-7"] = (span, np.asarray([1e-7, 1e-7]))
    return line_plot(curves, "per-parameter gradient norms", "update", "gradient norm", logy=True)
