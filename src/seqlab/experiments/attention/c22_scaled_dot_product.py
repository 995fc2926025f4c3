"""C22: the 1/sqrt(d_k) of scaled dot-product attention keeps the softmax out of saturation.

With query and key components drawn independently with unit variance, q . k has
variance d_k: the logits spread out as d_k grows, the softmax puts almost all its
weight on one key, and its Jacobian (hence the gradient that reaches q and k)
shrinks. Dividing by sqrt(d_k) keeps the logits' variance at 1 for every d_k.

Measurement, per seed and per d_k, on the same random draws for both variants
(float64): queries q (B, d_k), keys and values (B, n, d_k), unit-variance normal;
weights w = softmax(q . k / c) with c = 1 (unscaled) or sqrt(d_k) (scaled); output
o = sum_j w_j v_j; probe loss L = o . u with u a random unit vector per query (so
the upstream gradient has the same size for every d_k). Reported: the mean largest
weight, the mean entropy of w divided by log n (1 = uniform, 0 = one-hot), the
median over queries of ||dL/d logits|| (what leaves the softmax) and of ||dL/dq||
(what reaches the query and the layers below it).
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
from seqlab.experiments.core.units import Unit

CLAIM_ID = "C22"
CLAIM = ("Without the 1/sqrt(d_k) scale, dot-product attention saturates as the key dimension grows (nearly "
         "one-hot weights) and its gradients shrink; with the scale, saturation and gradient size stay the same "
         "for every d_k.")
VARIANTS = ("unscaled", "scaled")


@dataclass(frozen=True)
class Config:
    dims: tuple[int, ...] = (16, 64, 256, 1024)
    keys: int = 32  # n, keys per query
    queries: int = 64  # B, independent queries per d_k
    min_span: int = 16  # gate: d_max / d_min at least this
    saturate_rise: float = 0.2  # unscaled: mean max weight rises at least this much from d_min to d_max
    entropy_drop: float = 0.5  # unscaled: normalised entropy at d_max at most this fraction of d_min's
    grad_shrink: float = 0.1  # unscaled: median ||dL/dq|| at d_max at most this fraction of d_min's
    flat_weight: float = 0.05  # scaled: max weight and entropy stay within this of their d_min values
    flat_grad: float = 1.5  # scaled: median ||dL/dq|| max/min over d_k at most this factor


PROFILES = {"quick": Config(), "full": Config(dims=(16, 32, 64, 128, 256, 512, 1024, 2048), keys=64, queries=256)}
TINY = Config(dims=(4, 16, 64), keys=8, queries=16)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])




def measure(d: int, keys: int, queries: int, gen: torch.Generator) -> dict[str, dict[str, float]]:
    """Saturation and gradient sizes of one draw at key dimension ``d``, for both variants."""
    q0 = torch.randn(queries, d, generator=gen, dtype=torch.float64)
    k = torch.randn(queries, keys, d, generator=gen, dtype=torch.float64)
    v = torch.randn(queries, keys, d, generator=gen, dtype=torch.float64)
    u = torch.randn(queries, d, generator=gen, dtype=torch.float64)
    u = u / u.norm(dim=-1, keepdim=True)
    out = {}
    for variant in VARIANTS:
        q = q0.clone().requires_grad_(True)
        logits = torch.einsum("bd,bnd->bn", q, k) / (math.sqrt(d) if variant == "scaled" else 1.0)
        w = logits.softmax(dim=-1)  # (B, n)
        loss = (torch.einsum("bn,bnd->bd", w, v) * u).sum()
        g_logits, g_q = torch.autograd.grad(loss, (logits, q))
        w = w.detach()
        entropy = -(w * torch.log(w.clamp_min(1e-300))).sum(-1) / math.log(keys)
        out[variant] = {"max weight": float(w.max(-1).values.mean()), "entropy": float(entropy.mean()),
                        "grad logits": float(g_logits.norm(dim=-1).median()),
                        "grad q": float(g_q.norm(dim=-1).median())}
    return out


def seed_checks(per_d: dict[int, dict[str, dict[str, float]]], cfg: Config) -> dict[str, bool]:
    """The three parts of the rule for one seed; ``per_d[d][variant][metric]``."""
    dims = sorted(per_d)
    lo, hi = per_d[dims[0]], per_d[dims[-1]]
    un = [per_d[d]["unscaled"] for d in dims]
    sc = [per_d[d]["scaled"] for d in dims]
    saturates = (hi["unscaled"]["max weight"] - lo["unscaled"]["max weight"] >= cfg.saturate_rise
                 and hi["unscaled"]["entropy"] <= cfg.entropy_drop * lo["unscaled"]["entropy"])
    shrinks = un[-1]["grad q"] <= cfg.grad_shrink * un[0]["grad q"]
    grads = [m["grad q"] for m in sc]
    flat = (all(abs(m["max weight"] - sc[0]["max weight"]) <= cfg.flat_weight for m in sc)
            and all(abs(m["entropy"] - sc[0]["entropy"]) <= cfg.flat_weight for m in sc)
            and min(grads) > 0 and max(grads) / min(grads) <= cfg.flat_grad)
    return {"unscaled saturates": saturates, "unscaled gradient shrinks": shrinks, "scaled stays flat": flat}


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per seed: one draw of queries, keys and values at every d_k (one generator, in order)."""
    cfg = PROFILES[check_profile(profile)]
    work = sum(flops.TRAIN * 2 * 2 * cfg.queries * cfg.keys * d for d in cfg.dims)
    return [Unit(f"s{seed}", "measure_seed", {"dims": cfg.dims, "keys": cfg.keys, "queries": cfg.queries,
                                              "seed": seed}, seed=seed, flops=work) for seed in rules.seeds(profile)]


def measure_seed(dims: list, keys: int, queries: int, seed: int) -> dict:
    """:func:`measure` at every d_k of ``dims``, from one generator seeded with ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    with one_thread():
        return {"per_d": [[d, measure(d, keys, queries, gen)] for d in dims]}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Random unit-variance queries, keys and values (float64), {cfg.queries} queries x {cfg.keys} keys per "
        f"d_k in {list(cfg.dims)}, seeds {list(seeds)}; weights softmax(q.k / c), c = 1 or sqrt(d_k); probe loss "
        "o.u with u a random unit vector; medians over queries of ||dL/d logits|| and ||dL/dq||."),
        profile, config(profile), seeds=seeds)
    data, rows, checks = {}, [], {}
    for seed in seeds:
        data[seed] = dict(results[f"s{seed}"]["per_d"])
        for d in cfg.dims:
            for variant in VARIANTS:
                m = data[seed][d][variant]
                rows.append([seed, d, variant, m["max weight"], m["entropy"], m["grad logits"], m["grad q"]])
        checks[seed] = seed_checks(data[seed], cfg)
    result.add_table("saturation and gradient size by d_k", ["seed", "d_k", "variant", "mean max weight",
                     "entropy / log n", "median ||dL/d logits||", "median ||dL/dq||"], rows)
    result.add_table("the rule per seed", ["seed", *next(iter(checks.values()))],
                     [[s, *("yes" if v else "no" for v in c.values())] for s, c in checks.items()])
    dims = np.asarray(cfg.dims, float)
    s0 = seeds[0]
    for metric, title, logy in (("max weight", "mean largest attention weight", False),
                                ("grad q", "median ||dL/dq||", True)):
        curves = {v: (dims, np.asarray([data[s0][d][v][metric] for d in cfg.dims])) for v in VARIANTS}
        result.add_figure(metric.replace(" ", "_"), f"{title} vs d_k (seed {s0}), with and without 1/sqrt(d_k).",
                          line_plot(curves, title, "d_k", metric, logy=logy, logx=True))
    gates = [rules.at_least("the d_k sweep spans enough sizes to show a trend (d_max / d_min)",
                            max(cfg.dims) / min(cfg.dims), cfg.min_span)]
    passed = [all(c.values()) for c in checks.values()]
    verdict = judge(enough=rules.gates_pass(gates), confirmed=all(passed), refuted=not any(passed))
    lo, hi = min(cfg.dims), max(cfg.dims)

    def med(variant, d, metric):
        return statistics.median(data[s][d][variant][metric] for s in seeds)

    return finish(result, verdict,
                  f"Per seed, three parts: (1) unscaled saturates: its mean largest weight rises by at least "
                  f"{cfg.saturate_rise} from d_k = {lo} to {hi} and its normalised entropy at d_k = {hi} is at most "
                  f"{cfg.entropy_drop} of that at {lo}; (2) unscaled gradient shrinks: median ||dL/dq|| at d_k = {hi} at "
                  f"most {cfg.grad_shrink} of that at {lo}; (3) scaled stays flat: at every d_k its mean largest weight "
                  f"and entropy are within {cfg.flat_weight} of their values at d_k = {lo} and its median ||dL/dq|| "
                  f"varies by at most a factor {cfg.flat_grad}. Confirmed when all three hold in every seed, refuted "
                  "when they hold together in no seed, else inconclusive. Gate: d_max / d_min >= "
                  f"{cfg.min_span}.",
                  f"medians over seeds, d_k {lo} -> {hi}: unscaled max weight {med('unscaled', lo, 'max weight'):.3f} -> "
                  f"{med('unscaled', hi, 'max weight'):.3f}, entropy {med('unscaled', lo, 'entropy'):.3f} -> "
                  f"{med('unscaled', hi, 'entropy'):.3f}, ||dL/dq|| {med('unscaled', lo, 'grad q'):.3g} -> "
                  f"{med('unscaled', hi, 'grad q'):.3g}; scaled max weight {med('scaled', lo, 'max weight'):.3f} -> "
                  f"{med('scaled', hi, 'max weight'):.3f}, ||dL/dq|| {med('scaled', lo, 'grad q'):.3g} -> "
                  f"{med('scaled', hi, 'grad q'):.3g}; rule holds in {rules.count(passed)} of {len(passed)} seeds",
                  f"d_k {lo}->{hi}: unscaled ||dL/dq|| x{med('unscaled', hi, 'grad q') / med('unscaled', lo, 'grad q'):.2g}"
                  f", scaled x{med('scaled', hi, 'grad q') / med('scaled', lo, 'grad q'):.2g}", gates=gates)
