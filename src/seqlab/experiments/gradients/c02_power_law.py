"""C2: a per-step factor slightly below or above 1 vanishes or explodes as s^T.

Model: the linear recurrence h_t = s Q h_{t-1} + x_t with Q orthogonal. Its
Jacobian dh_T/dh_0 = (s Q)^T, and since Q preserves norms, ||(s Q)^T v|| = s^T ||v||
exactly. So the gradient reaching an input T steps back, relative to the newest
input, is predicted to be exactly s^T. We measure it with autograd (float64) and
compare with the prediction and with the rounded values the chapter prints.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqlab.config import to_dict
from seqlab.diagnostics import input_gradient_norms
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core.base import check_profile, judge, finish, new_result

CLAIM_ID = "C2"
CLAIM = ("Multiplying the gradient by a factor s at every step gives s^T after T steps: "
         "s = 0.9 or 0.95 drives it towards zero, s = 1.05 or 1.1 blows it up.")

# The chapter's printed (rounded) table: (s, T) -> value; 0.9^100 is printed as "about 0".
CHAPTER_TABLE = {
    (0.9, 30): 0.042, (0.9, 50): 0.005, (0.9, 100): 0.0,
    (0.95, 30): 0.215, (0.95, 50): 0.077, (0.95, 100): 0.006,
    (1.05, 30): 4.32, (1.05, 50): 11.47, (1.05, 100): 131.5,
    (1.1, 30): 17.45, (1.1, 50): 117.39, (1.1, 100): 13780.0,
}


@dataclass(frozen=True)
class Config:
    scales: tuple[float, ...] = (0.9, 0.95, 1.05, 1.1)
    lengths: tuple[int, ...] = (30, 50, 100)
    hidden: int = 16
    batch: int = 4
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(hidden=128, batch=16, lengths=(10, 30, 50, 100, 200))}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


class LinearRecurrence(nn.Module):
    """h_t = W h_{t-1} + x_t, W = s Q with Q orthogonal; maps (B, T, H) -> (B, T, H)."""

    def __init__(self, W: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("W", W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros_like(x[:, 0])  # (B, H)
        outs = []
        for t in range(x.shape[1]):
            h = h @ self.W.T + x[:, t]
            outs.append(h)
        return torch.stack(outs, dim=1)  # (B, T, H)


def measured_ratio(s: float, T: int, cfg: Config, gen: torch.Generator) -> float:
    """||dL/dx_1|| / ||dL/dx_{T+1}|| for L at step T+1: the gradient after T multiplications."""
    Q, _ = torch.linalg.qr(torch.randn(cfg.hidden, cfg.hidden, generator=gen, dtype=torch.float64))
    model = LinearRecurrence(s * Q)
    x = torch.randn(cfg.batch, T + 1, cfg.hidden, generator=gen, dtype=torch.float64)
    norms = input_gradient_norms(model, x, loss_at="last")
    return float(norms[0] / norms[-1])


def _chapter_agrees(chapter: float, exact: float) -> bool:
    """A printed value agrees when it is the exact one rounded (3 significant digits, or ~0)."""
    if chapter == 0.0:
        return exact < 1e-3
    return abs(chapter - exact) <= 0.02 * exact + 0.0011


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"Linear recurrence h_t = s Q h_(t-1) + x_t, Q a random orthogonal {cfg.hidden}x{cfg.hidden} matrix, "
        f"float64, batch {cfg.batch}. Probe loss: sum of h at the last step. Measured: "
        "||dL/dx_1|| / ||dL/dx_(T+1)|| by autograd; predicted: s^T."), profile, config(profile), cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rows, worst, chapter_ok, curves = [], 0.0, True, {}
    for s in cfg.scales:
        ys = []
        for T in cfg.lengths:
            meas, pred = measured_ratio(s, T, cfg, gen), s**T
            rel = abs(meas - pred) / pred
            worst = max(worst, rel)
            chap = CHAPTER_TABLE.get((s, T))
            if chap is not None:
                chapter_ok &= _chapter_agrees(chap, pred)
            rows.append([s, T, meas, pred, rel, "" if chap is None else chap])
            ys.append(meas)
        curves[f"s = {s}"] = (np.asarray(cfg.lengths), np.asarray(ys))
    result.add_table("gradient ratio after T steps",
                     ["s", "T", "measured", "predicted s^T", "relative error", "chapter"], rows)
    result.add_figure("power_law", "Measured gradient ratio vs T (log scale); lines follow s^T.",
                      line_plot(curves, "||dL/dx_1|| / ||dL/dx_(T+1)||", "steps T", "ratio", logy=True))
    verdict = judge(enough=True, confirmed=worst < 1e-6 and chapter_ok, refuted=worst > 0.1)
    return finish(result, verdict,
                  "confirmed when every measured ratio equals s^T to a relative error below 1e-6 and the chapter's "
                  "printed values are s^T rounded; refuted when any measurement is off by more than 10%.",
                  f"largest relative error {worst:.2e}; chapter table consistent with s^T: {chapter_ok}",
                  f"max rel. error vs s^T = {worst:.1e}")
