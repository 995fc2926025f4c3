"""C23: residual connections carry the gradient through a deep stack; a plain stack loses it.

A plain stack h_l = f(W_l h_(l-1) + b_l) multiplies the gradient by W_l^T diag(f')
at every layer, so it shrinks geometrically with depth when that factor is below 1
(f' <= 1 for tanh, <= 1/4 for the sigmoid). A residual stack h_l = h_(l-1) + f(...)
multiplies it by I + W_l^T diag(f'), whose identity term passes it on whatever the
branch does.

Measurement at initialisation (no training), float64: width-W layers under two inits,
drawn from a seeded generator (the stack of depth d uses the first d layers of the draw):
torch's default nn.Linear init (weights and biases uniform in +-1/sqrt(W), a gain of
1/sqrt(3)) and an orthogonal W with zero bias (gain 1, norm-preserving). Whether a plain
stack loses the gradient depends on the init: under the default init both activations
do; under an orthogonal init a tanh stack keeps a tenth of it at depth 64 (its slope is
near 1 around 0), the sigmoid's (slope <= 1/4) still vanishes. So the rule asks, under
*each* init, that some plain stack vanishes (there is a problem to cure) and that every
residual stack stays in the band (it is cured), rather than resting on one init.
Inputs x (B, W) standard normal; probe loss L = sum(h_d * u), u standard normal, so
dL/dh_d = u. Gradient reach = mean over the batch of ||dL/dx|| / ||dL/dh_d||.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.training import one_thread
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C23"
CLAIM = ('The chapter: "Residual connections: Skip connections allow gradients to flow unchanged" (tested: the '
         'gradient passes a deep stack with residual connections without vanishing, where the same stack without '
         'them loses it exponentially with depth; "unchanged" is read as "within a bounded factor", and the '
         'measured factor is reported).')
ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


@dataclass(frozen=True)
class Config:
    activations: tuple[str, ...] = ("tanh", "sigmoid")
    inits: tuple[str, ...] = ("default", "orthogonal")
    depths: tuple[int, ...] = (8, 16, 32, 64)
    width: int = 64
    batch: int = 32
    band: float = 100.0  # residual: reach within [1/band, band] at every depth
    vanished: float = 1e-3  # plain: reach at the deepest stack below this
    no_decay: float = 0.1  # plain: reach at the deepest stack above this means nothing to cure


PROFILES = {"quick": Config(), "full": Config(depths=(8, 16, 32, 64, 128), width=256, batch=64)}
TINY = Config(depths=(2, 4), width=8, batch=4)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])




def layers(depth: int, width: int, gen: torch.Generator, init: str = "default") -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``depth`` (W, b) pairs: "default", uniform in +-1/sqrt(width) (torch's nn.Linear init), or "orthogonal"
    (W = Q of a Gaussian's QR with the signs of R's diagonal, so uniform over orthogonal matrices; b = 0)."""
    bound = 1.0 / math.sqrt(width)
    out = []
    for _ in range(depth):
        if init == "orthogonal":
            q, r = torch.linalg.qr(torch.randn(width, width, generator=gen, dtype=torch.float64))
            out.append((q * torch.sign(torch.diagonal(r)), torch.zeros(width, dtype=torch.float64)))
            continue
        W = (torch.rand(width, width, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        b = (torch.rand(width, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        out.append((W, b))
    return out


def reach(stack, activation: str, residual: bool, x: torch.Tensor, u: torch.Tensor) -> float:
    """Mean over the batch of ||dL/dx|| / ||dL/dh_out|| with L = sum(h_out * u)."""
    f = ACTIVATIONS[activation]
    x = x.clone().requires_grad_(True)
    h = x
    for W, b in stack:
        branch = f(h @ W.T + b)
        h = h + branch if residual else branch
    (g,) = torch.autograd.grad((h * u).sum(), x)
    return float((g.norm(dim=-1) / u.norm(dim=-1)).mean())


def seed_checks(reaches: dict[tuple[str, str, bool], list[float]], cfg: Config) -> dict:
    """Per init: does every residual stack keep the reach in the band at every depth, and does some plain
    stack's reach at the deepest fall below ``vanished`` (or does none fall below ``no_decay``)?
    ``reaches[activation, init, residual]`` lists the reach at each depth, shallow to deep."""
    out = {}
    for init in cfg.inits:
        res = [r for a in cfg.activations for r in reaches[a, init, True]]
        deepest = [reaches[a, init, False][-1] for a in cfg.activations]
        out[init] = {"residual in band": all(1 / cfg.band <= r <= cfg.band for r in res),
                     "a plain stack vanished": min(deepest) < cfg.vanished,
                     "no plain stack decays": min(deepest) > cfg.no_decay}
    return out


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per seed: one draw of layers and inputs, every activation, depth and stack."""
    cfg = PROFILES[check_profile(profile)]
    work = len(cfg.inits) * len(cfg.activations) * 2 * sum(flops.TRAIN * cfg.batch * d * 2 * cfg.width ** 2 for d in cfg.depths)
    return [Unit(f"s{seed}", "measure_seed", {"cfg": settings(cfg, ("band", "vanished", "no_decay")), "seed": seed},
                 seed=seed, flops=work) for seed in rules.seeds(profile)]


def measure_seed(cfg: dict, seed: int) -> dict:
    """Reach per (activation, init, residual) at every depth, from one generator seeded with ``seed``."""
    cfg = config_of(Config, cfg)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(cfg.batch, cfg.width, generator=gen, dtype=torch.float64)  # (B, W)
    u = torch.randn(cfg.batch, cfg.width, generator=gen, dtype=torch.float64)  # (B, W)
    drawn = {init: layers(max(cfg.depths), cfg.width, gen, init) for init in cfg.inits}
    with one_thread():
        return {"reaches": [[act, init, res, [reach(drawn[init][:d], act, res, x, u) for d in cfg.depths]]
                            for init in cfg.inits for act in cfg.activations for res in (False, True)]}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Stacks of {list(cfg.depths)} fully connected layers of width {cfg.width} ({', '.join(cfg.activations)}), "
        f"with and without residual connections, at initialisation under {' and '.join(cfg.inits)} inits (seeded), "
        f"float64, batch {cfg.batch}, seeds {list(seeds)}. Reach = ||dL/dx|| / ||dL/dh_out|| for L = sum(h_out * u)."),
        profile, config(profile), seeds=seeds)
    data, rows, checks = {}, [], {}
    for seed in seeds:
        data[seed] = {(act, init, res): vals for act, init, res, vals in results[f"s{seed}"]["reaches"]}
        for (act, init, res), vals in data[seed].items():
            for d, v in zip(cfg.depths, vals):
                rows.append([seed, init, act, "residual" if res else "plain", d, v,
                             math.log10(v) if v > 0 else None])
        checks[seed] = seed_checks(data[seed], cfg)
    result.add_table("gradient reach by depth", ["seed", "init", "activation", "stack", "depth", "reach",
                                                 "log10 reach"], rows)
    result.add_table("the rule per seed and init", ["seed", "init", "residual in band", "a plain stack vanished",
                                                    "no plain stack decays"],
                     [[s, i, *("yes" if v else "no" for v in c.values())] for s, per in checks.items()
                      for i, c in per.items()])
    depths = np.asarray(cfg.depths, float)
    curves = {f"{act}, {init}, {'residual' if res else 'plain'}":
              (depths, np.asarray([statistics.median(data[s][act, init, res][i] for s in seeds)
                                   for i in range(len(cfg.depths))]))
              for init in cfg.inits for act in cfg.activations for res in (True, False)}
    result.add_figure("reach", "Gradient reach ||dL/dx|| / ||dL/dh_out|| vs depth (median over seeds), with and "
                      "without residual connections, per init.",
                      line_plot(curves, "gradient reach through a deep stack", "depth (layers)", "reach", logy=True))
    everything = [v for s in seeds for vals in data[s].values() for v in vals]
    gates = [rules.at_least("every reach is a finite, positive float64 (no underflow, so decades are measured)",
                            float(min(everything)) if all(math.isfinite(v) for v in everything) else math.nan,
                            1e-300)]
    ok = {s: all(c["residual in band"] and c["a plain stack vanished"] for c in per.values())
          for s, per in checks.items()}
    failing = {s: any(not c["residual in band"] or c["no plain stack decays"] for c in per.values())
               for s, per in checks.items()}
    verdict = judge(enough=rules.gates_pass(gates), confirmed=all(ok.values()), refuted=all(failing.values()))
    return _finish(result, verdict, data, ok, cfg, seeds, gates)


def _finish(result, verdict: str, data: dict, ok: dict, cfg: Config, seeds, gates):
    deep = max(cfg.depths)

    def med(act, init, res):
        return statistics.median(data[s][act, init, res][-1] for s in seeds)

    show = "; ".join(f"{init} {act}: residual {med(act, init, True):.3g}, plain {med(act, init, False):.3g}"
                     for init in cfg.inits for act in cfg.activations)
    res_range = [v for s in seeds for (a, i, r), vals in data[s].items() if r for v in vals]
    plain_best = {init: [min(data[s][a, init, False][-1] for a in cfg.activations) for s in seeds] for init in cfg.inits}
    result.notes.append(f"Residual reach ranges {min(res_range):.3g}..{max(res_range):.3g} over all depths, inits and "
                        "seeds: the identity path keeps the gradient from vanishing, but 'unchanged' is not literal "
                        "(the branches add to it, more for tanh, whose derivative is larger than the sigmoid's, and "
                        "more under a norm-preserving init).")
    per_seed = [max(abs(math.log10(max(v, 1e-300))) for (a, i, r), vals in data[s].items() if r for v in vals)
                for s in seeds]  # the residual reach farthest from 1, per seed (decades)
    far = max(per_seed)
    return finish(result, verdict,
                  f"Per seed, under each init ({', '.join(cfg.inits)}): every residual stack keeps the reach within "
                  f"[{1 / cfg.band:g}, {cfg.band:g}] at every depth, and some plain stack's reach at depth {deep} is "
                  f"below {cfg.vanished:g}. Confirmed when both hold under every init in every seed; refuted when in "
                  "every seed, under some init, a residual reach leaves the band or no plain reach at depth "
                  f"{deep} falls below {cfg.no_decay:g} (nothing vanishes, so nothing to cure); else inconclusive. "
                  "Gate: every reach finite and positive.",
                  f"reach at depth {deep}, median over seeds: {show}; rule holds in {rules.count(ok.values())} of "
                  f"{len(ok)} seeds",
                  f"depth {deep}: residual reach {min(res_range):.2g}..{max(res_range):.2g} over depths and inits; "
                  "plain " + ", ".join(f"{init} {statistics.median(v):.1g}" for init, v in plain_best.items())
                  + " (smallest activation)", gates=gates, margins=[
                      rules.Margin("residual reach farthest from 1, |log10| over depths, inits and seeds", far,
                                   math.log10(cfg.band), "decades", noise=rules.seed_noise(per_seed)),
                      rules.Margin(f"smallest plain reach at depth {deep}, largest over seeds and inits (log10)",
                                   math.log10(max(1e-300, max(max(v) for v in plain_best.values()))),
                                   math.log10(cfg.vanished), "decades")])
