"""C21: the chapter's worked attention example, checked as arithmetic.

The chapter illustrates Bahdanau attention with one decoder step: three encoder
states (for "river", "flowing", "fast"), alignment scores [2.1, 0.2, 0.1], and the
weights it says the softmax turns them into, [0.82, 0.09, 0.09], which then weight
the context vector. We recompute the softmax (float64, torch and a by-hand
exp / sum, which must agree) and compare each printed weight with the exact one.

The chapter gives no numbers for the encoder states, so the context vector cannot
be evaluated; its coefficients are the weights, and the corrected line is printed.

Two side questions, reported but not part of the verdict: which score gaps the
printed weights would need (log-ratios of weights are score differences), and
whether any softmax temperature tau (softmax(scores / tau), tau on a grid) turns
the printed scores into weights that round to the printed ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core.base import check_profile, judge, finish, new_result

CLAIM_ID = "C21"
CLAIM = ("The chapter's worked example: a softmax over the alignment scores [2.1, 0.2, 0.1] gives the "
         "attention weights [0.82, 0.09, 0.09], so the context vector is 0.82 h_river + 0.09 h_flowing + "
         "0.09 h_fast.")

WORDS = ("river", "flowing", "fast")
SCORES = (2.1, 0.2, 0.1)
PRINTED = (0.82, 0.09, 0.09)  # two decimals, as printed in the chapter


@dataclass(frozen=True)
class Config:
    scores: tuple[float, ...] = SCORES
    printed: tuple[float, ...] = PRINTED
    decimals: int = 2  # the printed weights carry this many decimals
    tau_min: float = 0.5  # temperature grid of the side question
    tau_max: float = 2.0
    tau_step: float = 0.01


PROFILES = {"quick": Config(), "full": Config(tau_min=0.25, tau_max=4.0, tau_step=0.001)}
TINY = Config(tau_step=0.05)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def softmax(scores, tau: float = 1.0) -> np.ndarray:
    """softmax(scores / tau) in float64 by torch (the exact weights)."""
    return torch.softmax(torch.tensor(scores, dtype=torch.float64) / tau, dim=0).numpy()


def softmax_by_hand(scores) -> list[float]:
    """exp(s_j) / sum_k exp(s_k), plain Python: the check on torch."""
    e = [math.exp(s) for s in scores]
    return [v / sum(e) for v in e]


def agrees(printed: float, exact: float, decimals: int) -> bool:
    """A printed value agrees when it is the exact value rounded: off by at most half a unit
    of its last decimal (plus 1e-9 for floating point)."""
    return abs(printed - exact) <= 0.5 * 10.0 ** -decimals + 1e-9


def wrong(printed: float, exact: float, decimals: int) -> bool:
    """Off by more than one unit of the last decimal: no rounding convention explains it."""
    return abs(printed - exact) > 10.0 ** -decimals + 1e-9


def temperature_search(cfg: Config) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Max |softmax(scores / tau) - printed| over the grid, and the taus whose weights round
    to the printed ones."""
    taus = np.round(np.arange(cfg.tau_min, cfg.tau_max + cfg.tau_step / 2, cfg.tau_step), 6)
    errs, matching = [], []
    for tau in taus:
        w = softmax(cfg.scores, float(tau))
        errs.append(float(np.max(np.abs(w - np.asarray(cfg.printed)))))
        if all(agrees(p, e, cfg.decimals) for p, e in zip(cfg.printed, w)):
            matching.append(float(tau))
    return taus, np.asarray(errs), matching


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"Alignment scores {list(cfg.scores)} for the encoder states of {', '.join(WORDS)}; weights printed in the "
        f"chapter {list(cfg.printed)} ({cfg.decimals} decimals). Exact weights: softmax in float64 (torch), checked "
        f"against exp/sum by hand. Side question: temperatures tau from {cfg.tau_min} to {cfg.tau_max} in steps "
        f"of {cfg.tau_step}."), profile, config(profile))
    exact = softmax(cfg.scores)
    by_hand = softmax_by_hand(cfg.scores)
    torch_vs_hand = float(max(abs(a - b) for a, b in zip(exact, by_hand)))
    diffs = [p - e for p, e in zip(cfg.printed, exact)]
    ok = [agrees(p, e, cfg.decimals) for p, e in zip(cfg.printed, exact)]
    bad = [wrong(p, e, cfg.decimals) for p, e in zip(cfg.printed, exact)]
    words = WORDS if len(WORDS) == len(cfg.scores) else tuple(f"h{j + 1}" for j in range(len(cfg.scores)))
    rows = [[f"h_{w}", s, p, e, round(e, cfg.decimals), d, "yes" if a else "no"]
            for w, s, p, e, d, a in zip(words, cfg.scores, cfg.printed, exact, diffs, ok)]
    result.add_table("printed vs computed attention weights",
                     ["encoder state", "score", "printed weight", "softmax (exact)", "softmax (rounded)",
                      "printed - exact", "printed = rounded exact"], rows)
    # the score differences the printed weights imply: s_j - s_1 = log(w_j / w_1)
    implied = [math.log(p / cfg.printed[0]) for p in cfg.printed]
    actual = [s - cfg.scores[0] for s in cfg.scores]
    result.add_table("score gaps: actual vs implied by the printed weights",
                     ["encoder state", "s_j - s_1 (chapter's scores)", "log(w_j / w_1) (printed weights)"],
                     [[f"h_{w}", a, i] for w, a, i in zip(words, actual, implied)])
    taus, errs, matching = temperature_search(cfg)
    best = int(np.argmin(errs))
    result.add_table("does a softmax temperature reproduce the printed weights?",
                     ["tau grid", "taus whose weights round to the printed ones", "closest tau",
                      "max |error| at closest tau", "weights at closest tau"],
                     [[f"{cfg.tau_min}..{cfg.tau_max} step {cfg.tau_step}", len(matching), float(taus[best]),
                       float(errs[best]), ", ".join(f"{w:.4f}" for w in softmax(cfg.scores, float(taus[best])))]])
    pos = np.arange(1, len(cfg.scores) + 1)
    result.add_figure("weights", "Attention weights per encoder state: printed in the chapter vs the softmax of "
                      "its scores.", line_plot({"printed": (pos, np.asarray(cfg.printed)), "softmax of the scores":
                                                (pos, exact)}, "attention weights", "encoder position j", "weight"))
    result.add_figure("temperature", "Largest gap between softmax(scores / tau) and the printed weights, by tau; "
                      f"half a unit of the last printed decimal is {0.5 * 10.0 ** -cfg.decimals:g}.",
                      line_plot({"max |softmax(s/tau) - printed|": (taus, errs)}, "temperature search", "tau",
                                "max abs error", logy=True))
    correct = " + ".join(f"{round(e, cfg.decimals):.{cfg.decimals}f}*h_{w}" for e, w in zip(exact, words))
    result.notes.append(f"The printed weights do not match the arithmetic: softmax({list(cfg.scores)}) = "
                        f"[{', '.join(f'{e:.4f}' for e in exact)}], about "
                        f"[{', '.join(f'{e:.2f}' for e in exact)}], not {list(cfg.printed)}. The corrected context "
                        f"line reads: context = {correct}.")
    result.notes.append("The chapter gives no values for h_river, h_flowing, h_fast, so the context vector is only "
                        "checked through its coefficients (the weights).")
    result.notes.append(f"The printed weights would need score gaps {', '.join(f'{v:+.2f}' for v in implied[1:])} "
                        f"to the first state, where the chapter's scores have {', '.join(f'{v:+.2f}' for v in actual[1:])}; "
                        "equal printed weights 0.09 / 0.09 also hide that 0.2 and 0.1 give weights in the ratio "
                        f"e^0.1 = {math.exp(0.1):.3f}. "
                        + (f"No temperature on the grid reproduces all three (closest tau = {taus[best]:g}, "
                           f"max error {errs[best]:.4f})." if not matching else
                           f"Temperatures that reproduce them: {matching[0]:g}..{matching[-1]:g}."))
    result.notes.append("The qualitative point of the example stands: the weight on h_river is the largest by far "
                        f"({exact[0]:.2f}).")
    verdict = judge(enough=torch_vs_hand < 1e-12, confirmed=all(ok), refuted=any(bad))
    return finish(result, verdict,
                  f"The printed weights are read as {cfg.decimals}-decimal roundings of softmax(scores). Confirmed when "
                  f"every printed weight is within half a unit of its last decimal ({0.5 * 10.0 ** -cfg.decimals:g}) of "
                  f"the exact softmax; refuted when any is off by more than one unit ({10.0 ** -cfg.decimals:g}), which "
                  "no rounding explains; inconclusive in between or if torch and the by-hand softmax disagree.",
                  f"softmax({list(cfg.scores)}) = [{', '.join(f'{e:.4f}' for e in exact)}] vs printed "
                  f"{list(cfg.printed)}: off by {', '.join(f'{d:+.4f}' for d in diffs)} "
                  f"({sum(bad)} of {len(bad)} beyond one unit); torch vs by hand {torch_vs_hand:.1e}",
                  f"printed {list(cfg.printed)}, exact [{', '.join(f'{e:.2f}' for e in exact)}]")
