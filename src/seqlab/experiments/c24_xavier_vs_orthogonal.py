"""C24: Xavier initialisation suits feedforward layers; an RNN's W_hh wants orthogonal.

The chapter's argument is about the spectrum of W_hh: the gradient flowing back
through T steps is multiplied by W_hh^T diag(tanh') each step, so it keeps its
size only when W_hh preserves norms (all singular values 1, as for an orthogonal
matrix). Xavier-uniform on a square H x H matrix has the right average scale
(variance 1/H) but spread singular values (about 0..2), so the product over many
steps loses the gradient along most directions.

Measurement at initialisation only (no training; issue 13 also mentions training,
which this claim does not do): a tanh RNN (torch's nn.RNN, float64) initialised
with ``seqlab.nn.init.xavier_`` (Xavier-uniform W_ih and W_hh, zero biases); its
twin is the same network with W_hh replaced by ``seqlab.nn.init.orthogonal_``, so
the two differ only in W_hh. Both read the same inputs, standard normal times an
input scale; reach = log10(||dL/dh_1|| / ||dL/dh_T||) with L = sum of h_T
(``seqlab.diagnostics.hidden_gradient_norms``). The spectrum argument is about the
linear regime, so the verdict is taken at the smallest input scale, where a gate
checks that tanh is nearly linear (mean tanh' = 1 - h^2 >= 0.9); larger scales,
where saturation rather than W_hh sets the reach, are reported beside it.

Norm preservation is what the chapter asks of W_hh, so the rule compares the
distortion |reach| (decades away from 0, whether the gradient shrank or grew): a
Xavier W_hh whose spectral radius exceeds 1 can make the gradient grow, which is no
better than letting it vanish.
"""

from __future__ import annotations

import copy
import math
import statistics
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqlab.config import to_dict
from seqlab.diagnostics import hidden_gradient_norms
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments import rules
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.training import one_thread
from seqlab.nn.init import orthogonal_, xavier_

CLAIM_ID = "C24"
CLAIM = ("Xavier/Glorot initialisation is meant for feedforward layers, not for an RNN's hidden-to-hidden "
         "weights: an orthogonal W_hh (all singular values 1) keeps the size of the gradient flowing back through "
         "time far better than a Xavier W_hh, which lets it vanish or explode.")
INITS = ("xavier", "orthogonal")


@dataclass(frozen=True)
class Config:
    lengths: tuple[int, ...] = (200,)
    scales: tuple[float, ...] = (1.0, 0.1, 0.01)  # input scales; the smallest decides
    hidden: int = 32
    inputs: int = 8
    batch: int = 8
    advantage: float = 1.0  # confirmed: |reach| of Xavier exceeds orthogonal's by this many decades, every seed
    no_advantage: float = 0.25  # refuted: by at most this many decades (or less), every seed
    linear: float = 0.9  # gate: mean tanh' at the deciding scale


PROFILES = {"quick": Config(), "full": Config(lengths=(100, 300, 1000), hidden=128, batch=16)}
TINY = Config(lengths=(10, 20), scales=(1.0, 0.01), hidden=8, inputs=3, batch=2)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])




def twins(cfg: Config, seed: int) -> dict[str, nn.RNN]:
    """A Xavier-initialised tanh RNN and a copy with an orthogonal W_hh (float64, seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        rnn = xavier_(nn.RNN(cfg.inputs, cfg.hidden, nonlinearity="tanh", batch_first=True).double())
        orth = orthogonal_(copy.deepcopy(rnn))
    return {"xavier": rnn, "orthogonal": orth}


def reach_decades(norms: np.ndarray) -> float:
    """log10(||dL/dh_1|| / ||dL/dh_T||): negative = the gradient shrank on its way back."""
    return float(np.log10(max(float(norms[0]), 1e-300) / float(norms[-1])))


def rule(advantages: list[float], cfg: Config) -> tuple[bool, bool]:
    """(confirmed, refuted) from the per-seed advantages |reach(Xavier)| - |reach(orthogonal)|, in decades."""
    return (all(a >= cfg.advantage for a in advantages), all(a <= cfg.no_advantage for a in advantages))


def spectrum(W: torch.Tensor) -> tuple[float, float, float]:
    """Largest and smallest singular value and spectral radius of W."""
    sv = torch.linalg.svdvals(W)
    return float(sv.max()), float(sv.min()), float(torch.linalg.eigvals(W).abs().max())


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    T, decisive = max(cfg.lengths), min(cfg.scales)
    result = new_result(CLAIM_ID, CLAIM, (
        f"tanh RNN, {cfg.inputs} inputs, hidden {cfg.hidden}, float64, at initialisation: Xavier-uniform W_ih and "
        "W_hh with zero biases (seqlab.nn.init.xavier_) vs the same network with an orthogonal W_hh "
        f"(seqlab.nn.init.orthogonal_); seeds {list(seeds)}; inputs N(0, 1) x scale {list(cfg.scales)}, batch "
        f"{cfg.batch}, T in {list(cfg.lengths)}; reach = log10(||dL/dh_1|| / ||dL/dh_T||), L = sum of h_T."),
        profile, config(profile), seeds=seeds)
    reach, deriv, profiles, rows, spec_rows = {}, {}, {}, [], []
    for seed in seeds:
        nets = twins(cfg, seed)
        for name, net in nets.items():
            spec_rows.append([seed, name, *spectrum(net.weight_hh_l0.detach())])
        gen = torch.Generator().manual_seed(10_000 + seed)
        for length in cfg.lengths:
            base = torch.randn(cfg.batch, length, cfg.inputs, generator=gen, dtype=torch.float64)
            for scale in cfg.scales:
                x = scale * base
                for name, net in nets.items():
                    with one_thread():
                        norms = hidden_gradient_norms(net, x)
                        with torch.no_grad():
                            h, _ = net(x)
                    reach[seed, length, scale, name] = reach_decades(norms)
                    deriv[seed, length, scale, name] = float((1 - h.square()).mean())
                    if seed == seeds[0] and length == T:
                        profiles[f"{name}, input scale {scale:g}"] = (np.arange(1, length + 1), norms)
                rows.append([seed, length, scale, reach[seed, length, scale, "xavier"],
                             reach[seed, length, scale, "orthogonal"],
                             abs(reach[seed, length, scale, "xavier"]) - abs(reach[seed, length, scale, "orthogonal"]),
                             deriv[seed, length, scale, "xavier"], deriv[seed, length, scale, "orthogonal"]])
    result.add_table("gradient reach at initialisation (decades; 0 = kept, negative = shrank, positive = grew)",
                     ["seed", "T", "input scale", "reach, Xavier W_hh", "reach, orthogonal W_hh",
                      "|Xavier| - |orthogonal|", "mean tanh', Xavier", "mean tanh', orthogonal"], rows)
    result.add_table("spectrum of W_hh", ["seed", "init", "largest singular value", "smallest singular value",
                                          "spectral radius"], spec_rows)
    result.add_figure("gradient_profile", f"||dL/dh_t|| over t (seed {seeds[0]}, T = {T}) for both inits and "
                      "every input scale; L = sum of h_T.",
                      line_plot(profiles, "gradient flowing back through time", "time step t", "||dL/dh_t||",
                                logy=True))
    adv = {s: abs(reach[s, T, decisive, "xavier"]) - abs(reach[s, T, decisive, "orthogonal"]) for s in seeds}
    gates = [rules.at_least(f"tanh nearly linear at input scale {decisive:g}, T = {T} (smallest mean tanh' over "
                            "seeds and inits)", min(deriv[s, T, decisive, n] for s in seeds for n in INITS),
                            cfg.linear)]
    confirmed, refuted = rule(list(adv.values()), cfg)
    verdict = decide(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    for scale in cfg.scales:
        if scale == decisive:
            continue
        a = [abs(reach[s, T, scale, "xavier"]) - abs(reach[s, T, scale, "orthogonal"]) for s in seeds]
        result.notes.append(
            f"Input scale {scale:g} (not deciding): reach Xavier median {statistics.median(reach[s, T, scale, 'xavier'] for s in seeds):.1f}, "
            f"orthogonal {statistics.median(reach[s, T, scale, 'orthogonal'] for s in seeds):.1f} decades; "
            f"|Xavier| - |orthogonal| per seed {', '.join(f'{v:+.2f}' for v in a)} "
            f"({'mixed in sign' if min(a) < 0 < max(a) else 'orthogonal ahead in every seed' if min(a) > 0 else 'Xavier ahead or equal in every seed'}); "
            f"smallest mean tanh' {min(deriv[s, T, scale, n] for s in seeds for n in INITS):.2f}.")
    result.notes.append("This measures the reach at initialisation only, as the chapter's argument concerns the "
                        "spectrum of W_hh at the start; it does not train the networks (issue 13 also asks how "
                        "they train, which is left out here; C6 follows orthogonal init through training).")
    med = {n: statistics.median(reach[s, T, decisive, n] for s in seeds) for n in INITS}
    return finish(result, verdict,
                  f"Decided at the smallest input scale ({decisive:g}, where tanh is nearly linear and W_hh's spectrum "
                  f"sets the reach) and the longest T ({T}). Distortion = |reach| in decades (shrinking and growing "
                  f"both count). Confirmed when Xavier W_hh's distortion exceeds orthogonal W_hh's by at least "
                  f"{cfg.advantage:g} decade in every seed; refuted when it exceeds it by at most {cfg.no_advantage:g} "
                  f"decades (or falls below it) in every seed; else inconclusive. Gate: "
                  f"mean tanh' >= {cfg.linear} for both inits in every seed at that scale.",
                  f"T = {T}, input scale {decisive:g}: |reach Xavier| - |reach orthogonal| per seed "
                  f"{', '.join(f'{adv[s]:+.2f}' for s in seeds)} decades (reach Xavier median {med['xavier']:.2f}, "
                  f"orthogonal {med['orthogonal']:.2f})",
                  f"T = {T}: orthogonal W_hh {med['orthogonal']:+.1f} vs Xavier {med['xavier']:+.1f} decades",
                  gates=gates)
