"""C23: residual connections carry the gradient through a deep stack; a plain stack loses it.

A plain stack h_l = f(W_l h_(l-1) + b_l) multiplies the gradient by W_l^T diag(f')
at every layer, so it shrinks geometrically with depth when that factor is below 1
(f' <= 1 for tanh, <= 1/4 for the sigmoid). A residual stack h_l = h_(l-1) + f(...)
multiplies it by I + W_l^T diag(f'), whose identity term passes it on whatever the
branch does.

Measurement at initialisation (no training), float64: width-W layers with torch's
default nn.Linear init (weights and biases uniform in +-1/sqrt(W)), drawn from a
seeded generator; the stack of depth d uses the first d layers of the seed's draw.
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
CLAIM = ("Residual (skip) connections let the gradient pass through a deep stack of layers without vanishing, "
         "while the same stack without them loses the gradient exponentially with depth.")
ACTIVATIONS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


@dataclass(frozen=True)
class Config:
    activations: tuple[str, ...] = ("tanh", "sigmoid")
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




def layers(depth: int, width: int, gen: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``depth`` (W, b) pairs, uniform in +-1/sqrt(width): the distribution of torch's nn.Linear init."""
    bound = 1.0 / math.sqrt(width)
    out = []
    for _ in range(depth):
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


def seed_checks(reaches: dict[tuple[str, bool], list[float]], cfg: Config) -> dict[str, dict[str, bool]]:
    """Per activation: does the residual stack keep the reach in the band at every depth, and does the
    plain stack's reach at the deepest fall below ``vanished`` (or stay above ``no_decay``)?
    ``reaches[activation, residual]`` lists the reach at each depth, shallow to deep."""
    out = {}
    for act in cfg.activations:
        res, plain = reaches[act, True], reaches[act, False]
        out[act] = {"residual in band": all(1 / cfg.band <= r <= cfg.band for r in res),
                    "plain vanished": plain[-1] < cfg.vanished,
                    "plain does not decay": plain[-1] > cfg.no_decay}
    return out


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per seed: one draw of layers and inputs, every activation, depth and stack."""
    cfg = PROFILES[check_profile(profile)]
    work = len(cfg.activations) * 2 * sum(flops.TRAIN * cfg.batch * d * 2 * cfg.width ** 2 for d in cfg.depths)
    return [Unit(f"s{seed}", "measure_seed", {"cfg": settings(cfg, ("band", "vanished", "no_decay")), "seed": seed},
                 seed=seed, flops=work) for seed in rules.seeds(profile)]


def measure_seed(cfg: dict, seed: int) -> dict:
    """Reach per (activation, residual) at every depth, from one generator seeded with ``seed``."""
    cfg = config_of(Config, cfg)
    gen = torch.Generator().manual_seed(seed)
    all_layers = layers(max(cfg.depths), cfg.width, gen)
    x = torch.randn(cfg.batch, cfg.width, generator=gen, dtype=torch.float64)
    u = torch.randn(cfg.batch, cfg.width, generator=gen, dtype=torch.float64)
    with one_thread():
        return {"reaches": [[act, res, [reach(all_layers[:d], act, res, x, u) for d in cfg.depths]]
                            for act in cfg.activations for res in (False, True)]}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Stacks of {list(cfg.depths)} fully connected layers of width {cfg.width} ({', '.join(cfg.activations)}), "
        "with and without residual connections, at initialisation (torch's default Linear init, seeded), float64, "
        f"batch {cfg.batch}, seeds {list(seeds)}. Reach = ||dL/dx|| / ||dL/dh_out|| for L = sum(h_out * u)."),
        profile, config(profile), seeds=seeds)
    data, rows, checks = {}, [], {}
    for seed in seeds:
        reaches = {(act, res): vals for act, res, vals in results[f"s{seed}"]["reaches"]}
        data[seed] = reaches
        for (act, res), vals in reaches.items():
            for d, v in zip(cfg.depths, vals):
                rows.append([seed, act, "residual" if res else "plain", d, v, math.log10(v) if v > 0 else None])
        checks[seed] = seed_checks(reaches, cfg)
    result.add_table("gradient reach by depth", ["seed", "activation", "stack", "depth", "reach",
                                                 "log10 reach"], rows)
    result.add_table("the rule per seed and activation", ["seed", "activation", "residual in band",
                     "plain vanished", "plain does not decay"],
                     [[s, a, *("yes" if v else "no" for v in c.values())] for s, per in checks.items()
                      for a, c in per.items()])
    depths = np.asarray(cfg.depths, float)
    curves = {f"{act}, {'residual' if res else 'plain'}":
              (depths, np.asarray([statistics.median(data[s][act, res][i] for s in seeds)
                                   for i in range(len(cfg.depths))]))
              for act in cfg.activations for res in (True, False)}
    result.add_figure("reach", "Gradient reach ||dL/dx|| / ||dL/dh_out|| vs depth (median over seeds), with and "
                      "without residual connections.", line_plot(curves, "gradient reach through a deep stack",
                                                                 "depth (layers)", "reach", logy=True))
    everything = [v for s in seeds for vals in data[s].values() for v in vals]
    gates = [rules.at_least("every reach is a finite, positive float64 (no underflow, so decades are measured)",
                            float(min(everything)) if all(math.isfinite(v) for v in everything) else math.nan,
                            1e-300)]
    ok = {s: all(c["residual in band"] and c["plain vanished"] for c in per.values()) for s, per in checks.items()}
    failing = {s: any(not c["residual in band"] or c["plain does not decay"] for c in per.values())
               for s, per in checks.items()}
    verdict = judge(enough=rules.gates_pass(gates), confirmed=all(ok.values()), refuted=all(failing.values()))
    deep = max(cfg.depths)

    def med(act, res):
        return statistics.median(data[s][act, res][-1] for s in seeds)

    show = "; ".join(f"{act}: residual {med(act, True):.3g}, plain {med(act, False):.3g}" for act in cfg.activations)
    res_range = [v for s in seeds for act in cfg.activations for v in data[s][act, True]]
    result.notes.append(f"Residual reach ranges {min(res_range):.3g}..{max(res_range):.3g} over all depths and seeds: "
                        "the identity path keeps the gradient from vanishing, but 'unchanged' is not literal (the "
                        "branches add to it, more for tanh, whose derivative is larger than the sigmoid's).")
    return finish(result, verdict,
                  f"Per seed and activation: the residual stack keeps the reach within [{1 / cfg.band:g}, {cfg.band:g}] "
                  f"at every depth, and the plain stack's reach at depth {deep} is below {cfg.vanished:g}. Confirmed "
                  "when both hold for every activation in every seed; refuted when in every seed some activation "
                  f"has its residual reach outside the band or its plain reach at depth {deep} above {cfg.no_decay:g} "
                  "(nothing vanishes, so nothing to cure); else inconclusive. Gate: every reach finite and positive.",
                  f"reach at depth {deep}, median over seeds: {show}; rule holds in {rules.count(ok.values())} of "
                  f"{len(ok)} seeds",
                  f"depth {deep}: residual {', '.join(f'{med(a, True):.2g}' for a in cfg.activations)} vs plain "
                  f"{', '.join(f'{med(a, False):.1g}' for a in cfg.activations)} ({', '.join(cfg.activations)})",
                  gates=gates)
