"""C3: saturated tanh units pass almost no gradient.

tanh'(z) = 1 - tanh(z)^2: 0.0199 at tanh = 0.99, 0.36 at 0.8, 0.96 at 0.2. We
train vanilla tanh RNNs on the adding problem from three recurrent init scales
(W_hh = scale * orthogonal) and probe a fixed batch for (a) the fraction of
hidden units with |h_t| > 0.95 and (b) the gradient reach
log10(||dL/dx_1|| / ||dL/dx_T||).

The init scale moves both saturation and ||W_hh|| (which by itself scales the
gradient, see C2), so pooling runs would confound the two. The decisive test holds
the weights fixed: for each trained model we multiply the inputs by a gain
(0.25 .. 16), which drives units into saturation without touching W, and rank-
correlate saturation with reach. The traces during training (per run) are
reported alongside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.tasks import AddingProblem
from seqlab.diagnostics import (
    DiagnosticsCallback,
    hidden_saturation,
    input_gradient_norms,
    tanh_derivative_from_activation,
)
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.training import fit, spearman

CLAIM_ID = "C3"
CLAIM = ("A tanh unit near +-1 has a derivative near 0 (1 - tanh^2), so the more hidden units saturate, "
         "the less gradient flows back through time.")


@dataclass(frozen=True)
class Config:
    length: int = 50
    hidden: int = 32
    scales: tuple[float, ...] = (1.0, 2.0, 4.0)
    gains: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    steps: int = 150
    probe_every: int = 15
    threshold: float = 0.95
    lr: float = 3e-3
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(length=200, hidden=128, steps=2000, probe_every=100)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(length=10, hidden=8, scales=(1.0, 2.0), gains=(0.5, 1.0, 4.0), steps=6, probe_every=2)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def gain_sweep(model, probe_x: torch.Tensor, gains, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Saturated fraction and log10 gradient reach of a fixed model at each input gain."""
    model.eval()
    x0 = probe_x.to(next(model.parameters()).device)
    sat, reach = [], []
    for g in gains:
        x = x0 * g  # (B, T, 2)
        with torch.no_grad():
            sat.append(float(hidden_saturation(model.backbone, model.inp(x), threshold).mean()))
        norms = input_gradient_norms(model, x, loss_at="last")
        reach.append(float(np.log10(max(norms[0], 1e-300) / norms[-1])))
    return np.asarray(sat), np.asarray(reach)


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"tanh RNN, hidden {cfg.hidden}, adding problem T = {cfg.length}, Adam lr {cfg.lr}, clip 1.0, {cfg.steps} "
        f"steps, W_hh = scale * orthogonal with scale in {list(cfg.scales)}. Probe batch of 16: saturation = "
        f"fraction of |h_t| > {cfg.threshold}; reach = log10(||dL/dx_1|| / ||dL/dx_T||), L = output at the last "
        f"step. Controlled test: each trained model, inputs multiplied by gains {list(cfg.gains)}."),
        profile, config(profile), cfg.seed)
    table = [[a, float(tanh_derivative_from_activation(a))] for a in (0.99, 0.95, 0.8, 0.5, 0.2)]
    result.add_table("tanh'(z) = 1 - a^2 at activation a = tanh(z)", ["a", "tanh'"], table)
    task = AddingProblem(cfg.length)
    probe_x = task.sample(16, torch.Generator().manual_seed(999)).x
    trace_rows, sweep_rows, rhos, drops, curves = [], [], [], [], {}
    for scale in cfg.scales:
        cb = DiagnosticsCallback(probe_x, every=cfg.probe_every, threshold=cfg.threshold)
        model_cfg = ModelConfig(arch="rnn_tanh", hidden_size=cfg.hidden, init="orthogonal", init_scale=scale,
                                embed_dim=cfg.hidden)
        trained = fit(model_cfg, task, cfg.steps, lr=cfg.lr, seed=cfg.seed, clip_norm=1.0, callbacks=(cb,)).model
        s, g = cb.series("saturation"), np.log10(cb.series("grad_ratio"))
        trace_rows.append([scale, float(s[0]), float(s[-1]), float(g[0]), float(g[-1]), spearman(s, g)])
        sat, reach = gain_sweep(trained, probe_x, cfg.gains, cfg.threshold)
        rhos.append(spearman(sat, reach))
        drops.append(float(reach[int(np.argmin(sat))] - reach[int(np.argmax(sat))]))
        sweep_rows += [[scale, gain, a, b] for gain, a, b in zip(cfg.gains, sat, reach)]
        curves[f"scale {scale}"] = (sat, reach)
    result.add_table("controlled: fixed trained weights, inputs times a gain",
                     ["init scale", "input gain", "saturated fraction", "log10 grad reach"], sweep_rows)
    result.add_table("during training (first and last probe)", ["init scale", "saturation first", "saturation last",
                     "reach first", "reach last", "Spearman rho over the run"], trace_rows)
    result.add_figure("sweep", "Gradient reach against saturated fraction, fixed weights, rising input gain.",
                      line_plot(curves, "gradient reach vs saturation", "saturated fraction", "log10 reach"))
    return _verdict(result, [r[-1] for r in trace_rows], rhos, drops, table[0][1])


def _verdict(result, train_rhos: list[float], sweep_rhos: list[float], drops: list[float], d99: float):
    worst_train, sweep = max(train_rhos), float(np.median(sweep_rhos))
    confirmed = worst_train <= -0.5 and sweep <= -0.5 and max(drops) >= 1.0
    refuted = float(np.median(train_rhos)) >= 0.3 or sweep >= 0.3
    verdict = decide(enough=len(train_rhos) >= 2, confirmed=confirmed, refuted=refuted)
    return finish(result, verdict,
                  "confirmed when, in every training run, saturated fraction and log10 gradient reach are rank-"
                  "correlated with Spearman rho <= -0.5, and in the controlled sweep (weights fixed, input gain "
                  "raised) the median rho over models is <= -0.5 with at least one model losing >= 1 decade of reach; "
                  "refuted when the median training rho or the median sweep rho is >= +0.3.",
                  f"training rho per run {', '.join(f'{r:.2f}' for r in train_rhos)}; sweep rho per model "
                  f"{', '.join(f'{r:.2f}' for r in sweep_rhos)}, reach lost {', '.join(f'{d:.1f}' for d in drops)} "
                  f"decades; tanh'(0.99) = {d99:.4f}",
                  f"training rho <= {worst_train:.2f}; sweep median rho {sweep:.2f}")
