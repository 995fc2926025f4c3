"""C6: orthogonal and identity initialisations help early, then training drifts away from them.

An orthogonal W_hh (or the identity of an IRNN) preserves norms, so at step 0 the
gradient reaches far back (see C2 with s = 1). We train three vanilla RNNs on the
adding problem, torch's default uniform init, orthogonal (tanh) and identity
(ReLU, the IRNN), and probe a fixed batch every few steps: the drift
||W_hh^T W_hh - I||_F and the gradient reach log10(||dL/dx_1|| / ||dL/dx_T||).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.tasks import AddingProblem
from seqlab.diagnostics import DiagnosticsCallback
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.training import fit, score

CLAIM_ID = "C6"
CLAIM = ("Orthogonal or identity recurrent weights let gradients travel far at the start of training, but "
         "training moves the weights away from orthogonality and the advantage fades.")


@dataclass(frozen=True)
class Config:
    length: int = 100
    hidden: int = 32
    steps: int = 200
    probe_every: int = 20
    lr: float = 3e-3
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(length=300, hidden=128, steps=3000, probe_every=150)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(length=10, hidden=8, steps=6, probe_every=2)

INITS = {"default (uniform), tanh": ModelConfig(arch="rnn_tanh", hidden_size=32, init="default"),
         "orthogonal, tanh": ModelConfig(arch="rnn_tanh", hidden_size=32, init="orthogonal"),
         "identity, ReLU (IRNN)": ModelConfig(arch="rnn_relu", hidden_size=32, init="identity")}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"Vanilla RNNs, hidden {cfg.hidden}, adding problem T = {cfg.length}, Adam lr {cfg.lr}, clip 1.0, "
        f"{cfg.steps} batches of 32; inits: {', '.join(INITS)}. A batch of 16 is probed every {cfg.probe_every} "
        "steps for ||W_hh^T W_hh - I||_F and log10(||dL/dx_1|| / ||dL/dx_T||)."), profile, config(profile), cfg.seed)
    task = AddingProblem(cfg.length)
    probe_x = task.sample(16, torch.Generator().manual_seed(999)).x
    traces, rows, drift_curves, reach_curves = {}, [], {}, {}
    for name, base in INITS.items():
        spec = ModelConfig(arch=base.arch, hidden_size=cfg.hidden, init=base.init, embed_dim=16)
        cb = DiagnosticsCallback(probe_x, every=cfg.probe_every)
        f = fit(spec, task, cfg.steps, lr=cfg.lr, seed=cfg.seed, clip_norm=1.0, callbacks=(cb,))
        steps, drift, reach = cb.series("step"), cb.series("drift"), np.log10(cb.series("grad_ratio"))
        traces[name] = (drift, reach)
        rows.append([name, drift[0], drift[-1], reach[0], reach[-1], score(f.model, task, batches=2)["normalized"]])
        drift_curves[name], reach_curves[name] = (steps, drift), (steps, reach)
    result.add_table("first and last probe", ["init", "drift at step 1", "drift at end", "reach at step 1",
                                              "reach at end", "final loss / chance"], rows)
    result.add_figure("drift", "||W_hh^T W_hh - I||_F during training.",
                      line_plot(drift_curves, "orthogonality drift", "step", "Frobenius norm"))
    result.add_figure("reach", "Gradient reach log10(||dL/dx_1|| / ||dL/dx_T||) during training.",
                      line_plot(reach_curves, "gradient reach", "step", "decades"))
    return _verdict(result, traces)


def _verdict(result, traces: dict):
    default_reach = traces["default (uniform), tanh"][1][0]
    special = {k: v for k, v in traces.items() if not k.startswith("default")}
    helps = {k: v[1][0] - default_reach for k, v in special.items()}  # decades gained at step 1
    drifts = {k: v[0][-1] - v[0][0] for k, v in special.items()}
    fades = {k: v[1][0] - v[1][-1] for k, v in special.items()}  # decades of reach lost by the end
    confirmed = all(h >= 3 for h in helps.values()) and all(d >= 0.5 for d in drifts.values()) \
        and all(f >= 1 for f in fades.values())
    refuted = all(h < 1 for h in helps.values()) or all(d < 0.1 for d in drifts.values())
    verdict = decide(enough=True, confirmed=confirmed, refuted=refuted)
    show = "; ".join(f"{k}: +{helps[k]:.1f} decades at start, drift +{drifts[k]:.2f}, reach lost {fades[k]:.1f}"
                     for k in special)
    return finish(result, verdict,
                  "confirmed when both orthogonal and identity inits reach at least 3 decades further back than the "
                  "default init at step 1, their drift ||W^T W - I||_F grows by at least 0.5, and each loses at least "
                  "1 decade of reach by the end; refuted when neither helps by 1 decade at the start, or neither "
                  "drifts by 0.1.",
                  show, f"start advantage {min(helps.values()):.1f}+ decades; drift +{min(drifts.values()):.2f}+")
