"""C5: exploding gradients show up as NaN or wild oscillation; clipping the norm cures it.

A ReLU RNN on the adding problem, trained with plain SGD, from recurrent init
scales W_hh = scale * orthogonal. Above scale 1 the backward pass multiplies by
more than 1 per step, the gradient norm explodes, and one SGD step can throw the
weights to NaN. Each scale runs twice, with and without clipping the global
gradient norm to 1. "Unstable": diverged (NaN) or final loss above 2 x chance.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.tasks import AddingProblem
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.training import fit
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C5"
CLAIM = ("When gradients explode, training produces NaN losses or oscillates; clipping the gradient norm "
         "keeps it stable.")


@dataclass(frozen=True)
class Config:
    length: int = 50
    hidden: int = 32
    scales: tuple[float, ...] = (0.5, 1.0, 1.3, 1.6)
    steps: int = 150
    lr: float = 0.03
    clip: float = 1.0
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(length=100, hidden=128, scales=(0.5, 1.0, 1.2, 1.4, 1.6, 2.0),
                                              steps=1000)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(length=10, hidden=8, scales=(0.5, 1.6), steps=12)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def summarize(f, chance: float) -> dict:
    """Final loss (mean of the last 10 steps), peak gradient norm, oscillation, stability."""
    loss, grads = np.asarray(f.curve.loss), np.asarray(f.curve.grad_norm)
    final = math.nan if f.diverged_at else float(np.mean(loss[-10:]))
    half = loss[len(loss) // 2 :]
    osc = float(np.mean(np.abs(np.diff(half)))) if len(half) > 1 else math.nan
    unstable = bool(f.diverged_at is not None or not final <= 2 * chance)
    peak = float(np.nanmax(grads)) if len(grads) else math.nan
    return {"final": final, "peak_grad": peak, "osc": osc, "unstable": unstable, "diverged_at": f.diverged_at}


def _key(scale: float, clip: float | None) -> str:
    return f"scale{scale:g}-" + ("noclip" if clip is None else f"clip{clip:g}")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (init scale, clipping): one training run."""
    cfg = PROFILES[check_profile(profile)]
    cost = flops.training(flops.task_model("rnn_relu", 16, cfg.hidden, 1, cfg.length), 32 * cfg.length, cfg.steps)
    return [Unit(_key(scale, clip), "train_run", {"cfg": settings(cfg, ("scales",)), "scale": scale, "clip": clip},
                 seed=cfg.seed, flops=cost) for scale in cfg.scales for clip in (None, cfg.clip)]


def train_run(cfg: dict, scale: float, clip: float | None) -> dict:
    """A ReLU RNN from W_hh = scale * orthogonal, trained with SGD (gradient norm clipped to ``clip``)."""
    cfg = config_of(Config, cfg)
    task = AddingProblem(cfg.length)
    spec = ModelConfig(arch="rnn_relu", hidden_size=cfg.hidden, init="orthogonal", init_scale=scale, embed_dim=16)
    f = fit(spec, task, cfg.steps, lr=cfg.lr, optimizer="sgd", clip_norm=clip, seed=cfg.seed)
    return {**summarize(f, task.chance_loss), "steps": f.curve.steps, "loss": f.curve.loss}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"ReLU RNN, hidden {cfg.hidden}, adding problem T = {cfg.length} (chance MSE 0.167), SGD lr {cfg.lr}, "
        f"{cfg.steps} batches of 32, W_hh = scale * orthogonal, scale in {list(cfg.scales)}; each without clipping "
        f"and with the global gradient norm clipped to {cfg.clip}. Gradient norms are measured before clipping."),
        profile, config(profile), cfg.seed)
    stats, rows, curves_loss = {}, [], {}
    for scale in cfg.scales:
        for clip in (None, cfg.clip):
            r = results[_key(scale, clip)]
            s = stats[(scale, clip)] = {k: r[k] for k in ("final", "peak_grad", "osc", "unstable", "diverged_at")}
            rows.append([scale, "none" if clip is None else clip, s["diverged_at"] or "", s["final"], s["peak_grad"],
                         s["osc"], "unstable" if s["unstable"] else "stable"])
            if scale == max(cfg.scales):
                label = f"scale {scale}, " + ("no clipping" if clip is None else f"clip {clip}")
                curves_loss[label] = (np.asarray(r["steps"]), np.asarray(r["loss"]))
    result.add_table("runs", ["init scale", "clip norm", "NaN at step", "final loss", "peak grad norm",
                              "mean |loss change| (2nd half)", "outcome"], rows)
    result.add_figure("loss_curves", "Training loss at the largest init scale, with and without clipping (log scale).",
                      line_plot(curves_loss, "loss curves", "step", "MSE", logy=True))
    return _verdict(result, stats, cfg)


def _verdict(result, stats: dict, cfg: Config):
    unstable_plain = [s for s in cfg.scales if stats[(s, None)]["unstable"]]
    rescued = [s for s in unstable_plain if not stats[(s, cfg.clip)]["unstable"]]
    not_rescued = [s for s in unstable_plain if stats[(s, cfg.clip)]["unstable"]]
    small_ok = not stats[(min(cfg.scales), None)]["unstable"]
    verdict = judge(enough=bool(unstable_plain) and small_ok, confirmed=bool(rescued) and not not_rescued,
                     refuted=bool(not_rescued) and not rescued)
    return finish(result, verdict,
                  "needs at least one scale where unclipped training is unstable (NaN or final loss > 2 x chance) and "
                  "the smallest scale stable. Confirmed when clipping makes every unstable scale stable; refuted when "
                  "it makes none of them stable.",
                  f"unstable without clipping at scales {unstable_plain}; stable with clipping at {rescued}; "
                  f"still unstable with clipping at {not_rescued}",
                  f"clipping rescued {len(rescued)}/{len(unstable_plain)} unstable scales")
