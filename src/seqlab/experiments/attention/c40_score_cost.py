"""C40: the cost per (query, key) pair of Luong's three score functions, against the width d.

The chapter's table of score functions gives each a cost per pair: dot O(d), general
O(d^2), concat O(d^2). Measured here as written, one pair at a time: P (query, key) pairs
of width d are scored in one batched call per function, with P d fixed (the same bytes of
keys and queries at every width, so no width falls out of a cache the others fit in: a
first design with P fixed at 4,096 saw dot's time per pair jump 8x from d = 512 to 1,024,
when its 16 MB of operands left the cache),

    dot:      e = h_j^T s_i                          (P, d) x (P, d) -> (P,)     ~ P d
    general:  e = h_j^T (W_a s_i), W_a (d, d)        (P, d) @ (d, d) -> (P, d)   ~ P d^2
    concat:   e = v^T tanh(W_c [h_j; s_i]), W_c (d, 2d)                          ~ 2 P d^2

and the seconds per call, over d, give an exponent p (time ~ d^p, least squares on
log-log). Timings are interleaved rounds in one process (``core.timing.interleaved``),
summarised by the minimum over rounds (the least disturbed call: a loaded machine can only
add time), on one thread on a CPU, in process CPU time (the claim is about the amount of
work, and a busy neighbour that preempts every round adds wall time, not CPU time).

Not deciding, reported beside it: the same scores computed the way an attention layer
does (``seqlab.nn.attention``): W_a h_s (general) and W_1 h_j (concat) depend on the key
alone and are applied once per key, W_2 s_i once per query, so an n x n grid costs
O(n d^2) for projections plus O(n^2 d) for the pairs: per pair O(d) once n >> d.

Rule, fixed before the run: confirmed when the dot exponent is <= 1.3 and the general and
concat exponents are each >= 1.6, and at the largest d both are slower than dot by at
least the margin (minimum over rounds); refuted when the dot exponent is >= 1.6 or the
general or concat exponent <= 1.3; else inconclusive. Gate: at least 4 widths in the fit.
The margin of the deciding numbers to their thresholds is reported (exponent units and as a
fraction of the threshold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.bench.measure import fit_exponent
from seqlab.config import to_dict
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.timing import interleaved
from seqlab.experiments.core.training import one_thread
from seqlab.nn.attention import AdditiveAttention, DotAttention, GeneralAttention

CLAIM_ID = "C40"
QUOTE = ("Luong (dot) h_j^T s_i O(d) per pair; Luong (general) h_j^T W s_i O(d²) per pair; "
         "Luong (concat) v^T tanh(W[h_j; s_i]) O(d²) per pair")
CLAIM = (f"The chapter's score-function table: \"{QUOTE}\". Controlled measurement: seconds per scored pair "
         "against the width d, exponents fitted, interleaved timing.")
TIMED = True  # the verdict rests on measured times: the runner runs this claim alone
SCORES = ("dot", "general", "concat")


@dataclass(frozen=True)
class Config:
    elements: int = 2 ** 18  # P d: pairs per call (as written) times the width
    grid: int = 64  # the factored grid is grid x grid
    widths: tuple[int, ...] = (128, 256, 512, 1024)  # from 128: at d = 64 per-call overheads flatten the fit
    rounds: int = 7
    warmup: int = 1
    linear: float = 1.3  # dot's exponent at most this
    quadratic: float = 1.6  # general's and concat's at least this
    margin: float = 2.0  # general and concat at least this much slower than dot at the largest d
    min_widths: int = 4
    seed: int = 0


PROFILES = {"quick": Config(),
            "full": Config(elements=2 ** 22, grid=256, widths=(128, 256, 512, 1024, 2048), rounds=15, warmup=3)}  # a GPU
TINY = Config(elements=512, grid=8, widths=(8, 16, 32), rounds=2, warmup=0)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def as_written(d: int, cfg: Config, device: torch.device) -> dict:
    """One call per score function scoring P pairs of width d, each pair on its own (the table's count)."""
    g = torch.Generator().manual_seed(cfg.seed * 7919 + d)
    h, s = (torch.randn(pairs(d, cfg), d, generator=g).to(device) for _ in range(2))  # (P, d) keys, queries
    w_a = (torch.randn(d, d, generator=g) / d ** 0.5).to(device)  # (d, d)
    w_c = (torch.randn(d, 2 * d, generator=g) / (2 * d) ** 0.5).to(device)  # (d, 2d)
    v = (torch.randn(d, generator=g) / d ** 0.5).to(device)  # (d,)
    hs = torch.cat([h, s], dim=-1)  # (P, 2d): [h_j; s_i], made outside the timing
    return {
        "dot": lambda: (h * s).sum(-1),  # h_j^T s_i: (P,)
        "general": lambda: (h * (s @ w_a.T)).sum(-1),  # h_j^T W_a s_i: (P, d) @ (d, d) then (P,)
        "concat": lambda: torch.tanh(hs @ w_c.T) @ v,  # v^T tanh(W_c [h_j; s_i]): (P, 2d) @ (2d, d) then (P,)
    }


def factored(d: int, cfg: Config, device: torch.device) -> dict:
    """The same scores on an n x n grid as seqlab's attention layers compute them (projections once per key)."""
    n = cfg.grid
    g = torch.Generator().manual_seed(cfg.seed * 7919 + d + 1)
    keys, queries = (torch.randn(1, n, d, generator=g).to(device) for _ in range(2))  # (1, n, d)
    torch.manual_seed(cfg.seed)
    layers = {"dot": DotAttention(), "general": GeneralAttention(d, d), "concat": AdditiveAttention(d, d, d)}
    layers = {k: m.to(device) for k, m in layers.items()}

    def call(layer):
        with torch.no_grad():
            return layer.scores(queries, layer.project_keys(keys), None)  # (1, n, n)

    return {name: (lambda layer=layer: call(layer)) for name, layer in layers.items()}


def pairs(d: int, cfg: Config) -> int:
    """P, the pairs one as-written call scores at width d."""
    return cfg.elements // d


def measure(cfg: Config, device: torch.device, make) -> dict[tuple[str, int], list[float]]:
    """Seconds per call of every (score, d), all in the same interleaved rounds."""
    fns = {}
    for d in cfg.widths:
        fns |= {(name, d): fn for name, fn in make(d, cfg, device).items()}
    with one_thread():
        return interleaved(fns, device, cfg.rounds, cfg.warmup, clock="cpu")  # the work per pair, one thread


def exponents(times: dict, widths) -> dict[str, float]:
    """time ~ d^p per score (seconds keyed (score, d)), fitted on the minimum over rounds."""
    return {name: fit_exponent(list(widths), [min(times[name, d]) for d in widths]) for name in SCORES}


def outcome(exps: dict[str, float], ratios: dict[str, float], cfg: Config) -> dict:
    """The rule on measured numbers: exponents per score, and general/concat over dot at the largest d."""
    quadratic = min(exps["general"], exps["concat"])
    return {
        "confirmed": exps["dot"] <= cfg.linear and quadratic >= cfg.quadratic
        and min(ratios["general"], ratios["concat"]) >= cfg.margin,
        "refuted": exps["dot"] >= cfg.quadratic or quadratic <= cfg.linear,
        "margins": {"dot exponent below linear": cfg.linear - exps["dot"],
                    "general/concat exponent above quadratic": quadratic - cfg.quadratic,
                    "slower than dot at largest d, ratio over margin": min(ratios["general"], ratios["concat"])
                    - cfg.margin},
    }


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    result = new_result(CLAIM_ID, CLAIM, (
        f"P = {cfg.elements} / d (query, key) pairs per call, widths d in {list(cfg.widths)}; as written: each pair scored on "
        f"its own (dot: elementwise product summed; general: W_a s_i then the dot; concat: W_c [h_j; s_i], tanh, "
        f"v). Beside it, not deciding: a {cfg.grid}^2 grid through seqlab.nn.attention "
        f"(projections once per key and query). {cfg.rounds} interleaved rounds after {cfg.warmup} warm-up, "
        f"minimum over rounds, {device.type}" + (", one thread." if device.type == "cpu" else ".")),
        profile, to_dict(cfg), cfg.seed, seeds=(cfg.seed,))
    written, fact = measure(cfg, device, as_written), measure(cfg, device, factored)
    top = cfg.widths[-1]
    per = {"as written, per pair": (written, lambda d: pairs(d, cfg)),
           "factored grid (not deciding)": (fact, lambda d: cfg.grid ** 2)}
    for label, (times, count) in per.items():
        result.add_table(f"ns per pair, {label} (minimum over rounds)", ["d", "pairs per call", *SCORES],
                         [[d, count(d), *(1e9 * min(times[n, d]) / count(d) for n in SCORES)] for d in cfg.widths],
                         timing=list(SCORES))
    per_pair = {(n, d): [t / pairs(d, cfg) for t in written[n, d]] for n, d in written}
    exps, exps_f = exponents(per_pair, cfg.widths), exponents(fact, cfg.widths)
    ratios = {n: min(written[n, top]) / min(written["dot", top]) for n in SCORES}
    result.add_table("time ~ d^p", ["score", "the table says", "p as written", "p factored (not deciding)",
                                    f"/ dot at d={top}"],
                     [[n, "O(d)" if n == "dot" else "O(d^2)", exps[n], exps_f[n], ratios[n]] for n in SCORES],
                     timing=["p as written", "p factored (not deciding)", f"/ dot at d={top}"])
    return _verdict(result, exps, ratios, cfg)


def _verdict(result, exps: dict, ratios: dict, cfg: Config):
    gates = [rules.at_least("widths in the fit", len(cfg.widths), cfg.min_widths)]
    out = outcome(exps, ratios, cfg)
    thresholds = {"dot exponent below linear": cfg.linear, "general/concat exponent above quadratic": cfg.quadratic,
                  "slower than dot at largest d, ratio over margin": cfg.margin}
    result.add_table("margin of each deciding number to its threshold", ["number", "margin", "as a fraction"],
                     [[k, m, m / thresholds[k]] for k, m in out["margins"].items()], timing=["margin", "as a fraction"])
    verdict = judge(enough=rules.gates_pass(gates), confirmed=out["confirmed"], refuted=out["refuted"])
    result.timing = ["decided_by", "headline"]  # both quote measured exponents
    margin = min(out["margins"].values(), key=abs)
    return finish(
        result, verdict,
        f"time per pair ~ d^p, fitted on the minimum over {cfg.rounds} interleaved rounds. Confirmed when dot's p <= "
        f"{cfg.linear}, general's and concat's p >= {cfg.quadratic} and both are >= {cfg.margin}x dot's time at the "
        f"largest d; refuted when dot's p >= {cfg.quadratic} or general's or concat's p <= {cfg.linear}. Gate: at "
        f"least {cfg.min_widths} widths.",
        "p as written: " + ", ".join(f"{n} {exps[n]:.2f}" for n in SCORES) + f"; at d={cfg.widths[-1]} general "
        f"x{ratios['general']:.1f}, concat x{ratios['concat']:.1f} dot's time; margins: "
        + ", ".join(f"{k} {m:+.2f} ({m / thresholds[k]:+.0%})" for k, m in out["margins"].items()),
        f"time ~ d^p: dot {exps['dot']:.2f}, general {exps['general']:.2f}, concat {exps['concat']:.2f} "
        f"(smallest margin {margin:+.2f})", gates=gates,
        margins=[rules.Margin("dot exponent p", exps["dot"], cfg.linear, "exponent", timing=True),
                 rules.Margin("general/concat exponent p, the smaller", min(exps["general"], exps["concat"]),
                              cfg.quadratic, "exponent", timing=True),
                 rules.Margin(f"general/concat time / dot's at d={cfg.widths[-1]}, the smaller",
                              min(ratios["general"], ratios["concat"]), cfg.margin, "x", timing=True)])
