"""C3: saturated tanh units pass almost no gradient.

tanh'(z) = 1 - tanh(z)^2: 0.0199 at tanh = 0.99, 0.36 at 0.8, 0.96 at 0.2. Backpropagation
through time multiplies the gradient at every step by W_hh^T diag(1 - h_t^2), so the more
units sit near +-1 the less gradient gets back.

Design: saturation is the one thing varied, directly, on untrained networks. Training
would change the weights along with the saturation (and ||W_hh|| scales the gradient by
itself, see C2), so no model is trained here. Per seed: one tanh RNN (torch's nn.RNN,
float64) with an orthogonal W_hh (all singular values 1, so W_hh alone neither shrinks nor
grows the gradient and any loss is tanh''s) and torch's default W_ih and biases; one batch
of standard normal inputs. The inputs are multiplied by a gain (the same as scaling W_ih
with the biases fixed), which pushes the pre-activations, and so the saturation, up. Every
gain sees the same network and the same inputs (paired), seeds 0-2 (quick) / 0-4 (full).

Measured per (seed, gain): the saturated fraction (share of |h_t| > 0.95 over batch, units
and steps; ``diagnostics.hidden_saturation``), the mean tanh', and the gradient reach
log10(||dL/dh_1|| / ||dL/dh_T||), L = sum of h_T (``diagnostics.hidden_gradient_norms``).

Rule, fixed beforehand, per seed: the gains must spread the saturated fraction by at least
``min_spread`` (0.3) between the least and the most saturated setting (gate: a narrow range
cannot decide a correlation); then saturation and reach are rank-correlated (Spearman with
average ranks for ties). Confirmed when in every seed rho <= -0.8 and the most saturated
setting has lost >= 1 decade of reach against the least saturated; refuted when in every
seed rho >= 0 or no reach is lost.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqlab.config import to_dict
from seqlab.diagnostics import hidden_gradient_norms, hidden_saturation, tanh_derivative_from_activation
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.training import one_thread
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.nn.init import orthogonal_

CLAIM_ID = "C3"
CLAIM = ("A tanh unit near +-1 has a derivative near 0 (1 - tanh^2), so the more hidden units saturate, "
         "the less gradient flows back through time.")


@dataclass(frozen=True)
class Config:
    length: int = 100
    hidden: int = 32
    inputs: int = 8
    batch: int = 16
    gains: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # input scale; 1 = N(0, 1) inputs
    threshold: float = 0.95  # |h| above this counts as saturated
    min_spread: float = 0.3  # gate: most minus least saturated fraction, every seed
    rho: float = -0.8  # confirmed: Spearman rho at most this in every seed ...
    min_loss: float = 1.0  # ... and at least this many decades of reach lost


# quick: about 2 s on one thread. full: H = 128, 32 inputs, batch 32, five seeds (seconds to a minute). T stays 100:
# at T = 300 the most saturated setting's gradient underflows float64 (below 1e-300), so its reach is not measured.
PROFILES = {"quick": Config(), "full": Config(hidden=128, inputs=32, batch=32)}
TINY = Config(length=12, hidden=8, inputs=3, batch=4, gains=(1.0, 8.0, 64.0))


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def rank_correlation(a, b) -> float:
    """Spearman's rho with average ranks for ties (a run of equal values shares its mean rank).

    NaN when either side is constant (no ordering to correlate).
    """
    ra, rb = _average_ranks(a), _average_ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _average_ranks(values) -> np.ndarray:
    v = np.asarray(values, float)
    order = np.argsort(v, kind="stable")
    ranks = np.empty(len(v))
    ranks[order] = np.arange(len(v), dtype=float)
    for value in np.unique(v):  # ties: the mean of their ranks
        tied = v == value
        ranks[tied] = ranks[tied].mean()
    return ranks


def network(cfg: Config, seed: int) -> nn.RNN:
    """A float64 tanh RNN: torch's default W_ih and biases (seeded), W_hh orthogonal."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return orthogonal_(nn.RNN(cfg.inputs, cfg.hidden, nonlinearity="tanh", batch_first=True).double())


def measure(net: nn.RNN, x: torch.Tensor, threshold: float) -> dict:
    """Saturated fraction, mean tanh' and log10 reach of ``net`` on inputs x (B, T, D)."""
    with one_thread():
        sat = float(hidden_saturation(net, x, threshold).mean())  # mean over steps of (T,)
        with torch.no_grad():
            h, _ = net(x)  # (B, T, H)
        norms = hidden_gradient_norms(net, x)  # (T,) ||dL/dh_t||, L = sum of h_T
    first, last = float(norms[0]), float(norms[-1])
    return {"saturated": sat, "derivative": float((1 - h.square()).mean()),
            "reach": float(np.log10(max(first, 1e-300) / last)), "finite": bool(first > 0 and np.isfinite(first))}


def seed_rule(sat: list[float], reach: list[float], cfg: Config) -> dict:
    """Per seed: the spread of saturation, rho, and the reach lost from the least to the most saturated."""
    lo, hi = int(np.argmin(sat)), int(np.argmax(sat))
    rho, lost = rank_correlation(sat, reach), reach[lo] - reach[hi]
    return {"spread": sat[hi] - sat[lo], "rho": rho, "lost": lost,
            "confirms": bool(rho <= cfg.rho and lost >= cfg.min_loss),
            "refutes": bool(not rho < 0 or lost <= 0)}  # NaN rho counts as no negative correlation


RULE = ("min_spread", "rho", "min_loss")  # read by the rule only


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per seed: one network, every gain."""
    cfg = PROFILES[check_profile(profile)]
    per_gain = flops.TRAIN * cfg.batch * cfg.length * flops.recurrent("rnn_tanh", cfg.inputs, cfg.hidden)
    return [Unit(f"s{seed}", "measure_seed", {"cfg": settings(cfg, RULE), "seed": seed}, seed=seed,
                 flops=2 * per_gain * len(cfg.gains)) for seed in rules.seeds(profile)]


def measure_seed(cfg: dict, seed: int) -> dict:
    """Saturation, mean tanh' and reach of seed ``seed``'s network at every input gain."""
    cfg = config_of(Config, cfg)
    net = network(cfg, seed)
    base = torch.randn(cfg.batch, cfg.length, cfg.inputs, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(10_000 + seed))  # (B, T, D)
    return {"points": [measure(net, gain * base, cfg.threshold) for gain in cfg.gains]}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Untrained tanh RNNs (torch nn.RNN, float64), {cfg.inputs} inputs, hidden {cfg.hidden}, W_hh orthogonal, "
        f"W_ih and biases torch's default; seeds {list(seeds)}. Inputs N(0, 1) (batch {cfg.batch}, T = {cfg.length}) "
        f"times a gain in {list(cfg.gains)}: the only thing varied. Saturated = |h_t| > {cfg.threshold}; reach = "
        "log10(||dL/dh_1|| / ||dL/dh_T||), L = sum of h_T."), profile, config(profile), seeds=seeds)
    table = [[a, float(tanh_derivative_from_activation(a))] for a in (0.99, 0.95, 0.8, 0.5, 0.2)]
    result.add_table("tanh'(z) = 1 - a^2 at activation a = tanh(z)", ["a", "tanh'"], table)
    rows, per_seed, curves, finite = [], {}, {}, True
    for seed in seeds:
        points = results[f"s{seed}"]["points"]
        finite &= all(p["finite"] for p in points)
        rows += [[seed, g, p["saturated"], p["derivative"], p["reach"]] for g, p in zip(cfg.gains, points)]
        sat, reach = [p["saturated"] for p in points], [p["reach"] for p in points]
        per_seed[seed] = seed_rule(sat, reach, cfg)
        curves[f"seed {seed}"] = (np.asarray(sat), np.asarray(reach))
    result.add_table("untrained nets, inputs times a gain", ["seed", "input gain", "saturated fraction",
                     "mean tanh'", "log10 grad reach"], rows)
    result.add_table("the rule per seed", ["seed", "saturation spread", "Spearman rho", "decades lost",
                                           "confirms", "refutes"],
                     [[s, r["spread"], r["rho"], r["lost"], r["confirms"], r["refutes"]] for s, r in per_seed.items()])
    result.add_figure("reach_vs_saturation", "Gradient reach against saturated fraction; one line per seed, "
                      "points = input gains.", line_plot(curves, "gradient reach vs saturation", "saturated fraction",
                                                         "log10 reach"))
    gates = [rules.at_least(f"saturation spread (most - least saturated fraction), smallest over seeds",
                            min(r["spread"] for r in per_seed.values()), cfg.min_spread),
             rules.Gate("every gradient norm is a positive float64 (reach measured, not underflowed)", finite,
                        "yes" if finite else "a norm underflowed to 0")]
    verdict = judge(enough=rules.gates_pass(gates), confirmed=all(r["confirms"] for r in per_seed.values()),
                     refuted=all(r["refutes"] for r in per_seed.values()))
    med_lost = statistics.median(r["lost"] for r in per_seed.values())
    return finish(result, verdict,
                  f"Gate: in every seed the input gains spread the saturated fraction by >= {cfg.min_spread} (most "
                  f"minus least saturated setting). Confirmed when in every seed Spearman rho(saturated fraction, "
                  f"reach) <= {cfg.rho} and the most saturated setting has lost >= {cfg.min_loss:g} decade of reach "
                  "against the least saturated; refuted when in every seed rho >= 0 or no reach is lost.",
                  "; ".join(f"seed {s}: saturation {min(curves[f'seed {s}'][0]):.3f}-{max(curves[f'seed {s}'][0]):.3f}"
                            f", rho {r['rho']:.2f}, {r['lost']:.1f} decades lost" for s, r in per_seed.items())
                  + f"; tanh'(0.99) = {table[0][1]:.4f}",
                  f"more saturation, less reach: median {med_lost:.1f} decades lost over seeds", gates=gates)
