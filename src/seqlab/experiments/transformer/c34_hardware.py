"""C34: the hardware comparison, scoped to the device that measured it.

The chapter's table puts an LSTM at 15-25% GPU utilization and ~8,000 tokens/s, the
Transformer at 80-95% and ~50,000+, and says an RNN's "training time scales linearly
with sequence length". Two of these are properties of a device, one of the algorithm:

- **Time against n** (any device). One teacher-forced training step of an LSTM
  seq2seq and of a Transformer at matched parameter counts (``seqlab.bench.models``)
  at a fixed batch B for growing T; all (model, T) pairs timed in the same interleaved
  rounds in one process. The load-robust statistic is the *minimum* over rounds (a
  busy machine only ever adds time). The exponent p of time ~ T^p is fitted over all
  T and again with each T left out.
- **Fraction of the device's GEMM peak** (reported everywhere, judged only on an
  accelerator). Counted FLOPs per step / the fastest time over the peak of an
  (n, n) @ (n, n) GEMM measured in the same run, and target tokens/s, per family.
  The chapter's percentages are GPU utilization: a CPU has no such number, so a CPU
  run says "not measured on this device" for that part, and its verdict is the
  CPU's verdict on the time-against-n part only.

Gate: the LSTM's times follow one power law (no time more than 1.3x off the fit through all
T). On a CPU a training step's working set can outgrow a cache between two lengths, and
the time then steps up by several times; a fit across such a step measures the cache,
not the algorithm, and would flip with the CPU, so the verdict is inconclusive there.

Rule (fixed before the run). On every device: the linear-time part holds when the
LSTM's exponent lies within 1 +- LINEAR_TOL in every fit; it fails when it lies
outside 1 +- 2 LINEAR_TOL in every fit. On an accelerator also: the utilization part
holds when at the longest T the Transformer reaches at least UTIL_RATIO x the LSTM's
fraction of peak with at least its tokens/s; it fails when the LSTM's fraction is the
higher. Confirmed when every part judged on this device holds; refuted when one fails;
inconclusive otherwise. The verdict's text names the device.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.bench import models
from seqlab.bench.measure import fit_exponent
from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.timing import interleaved
from seqlab.experiments.transformer.c16_parallelism import (RNN, TRANSFORMER, cpu_threads, is_accelerator,
                                                             matched_width, peak_gemm, step_flops)
from seqlab.train.device import pick_device

CLAIM_ID = "C34"
CLAIM = ("The chapter's hardware table: LSTM \"15-25%\" GPU utilization and ~8,000 tokens/s against the "
         "Transformer's \"80-95%\" and ~50,000+, and for RNNs \"Training time scales linearly with sequence "
         "length\". Controlled measurement (random tokens, matched parameter counts), decided per device.")
TIMED = True  # the verdict rests on interleaved timings: the runner runs this claim alone
FAMILIES = (RNN, TRANSFORMER)
LINEAR_TOL = 0.25  # exponent within 1 +- 0.25 in every fit: linear
MAX_FIT_FACTOR = 1.3  # a time more than 1.3x off the power law through all T: no single exponent describes them
UTIL_RATIO = 2.0  # Transformer fraction of peak / LSTM's at the longest T (the chapter: ~4x)


@dataclass(frozen=True)
class Config:
    vocab: int = 64
    params: int = 200_000
    batch: int = 8
    lengths: tuple[int, ...] = (64, 128, 256, 512)
    rounds: int = 5
    gemm_n: int = 512
    warmup: int = 1
    repeats: int = 3
    threads: int | None = 1  # CPU threads (None: as many as the run has)
    seed: int = 0


PROFILES = {"quick": Config(),
            "full": Config(vocab=1000, params=10_000_000, batch=32, lengths=(128, 256, 512, 1024, 2048), rounds=7,
                           gemm_n=4096, warmup=2, repeats=10, threads=None)}
TINY = Config(vocab=16, params=4_000, batch=2, lengths=(4, 8), rounds=2, gemm_n=32, warmup=0, repeats=2)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def measure(cfg: Config, device: torch.device) -> dict:
    """Per (family, T): counted FLOPs and interleaved seconds of one training step at batch ``cfg.batch``."""
    torch.manual_seed(cfg.seed)
    build = models.builders(cfg.vocab, max(cfg.lengths))
    fns, flops, params = {}, {}, {}
    for name in FAMILIES:
        model = build[name](matched_width(name, cfg.vocab, max(cfg.lengths), cfg.params)).to(device)
        params[name] = models.count_params(model)
        weights = [p for p in model.parameters() if p.requires_grad]
        for T in cfg.lengths:
            tokens = torch.randint(1, cfg.vocab, (cfg.batch, T + 1), device=device)  # (B, T+1)
            step = models.teacher_forced_step(model, weights, tokens, device)
            flops[name, T] = step_flops(model, step, cfg.batch * T)  # also the warm-up
            fns[name, T] = step
    seconds = interleaved(fns, device, cfg.rounds, warmup=0)
    return {"flops": flops, "seconds": seconds, "params": params}


def fit_residual(lengths, seconds) -> float:
    """The largest factor by which a time departs from the least-squares power law through all of them.

    A step in the times (a working set that leaves a cache between two lengths) shows as a
    large factor: the exponent of such a fit describes no regime of the data.
    """
    x, y = np.log(np.asarray(lengths, float)), np.log(np.asarray(seconds, float))
    slope, icpt = np.polyfit(x, y, 1)
    return float(np.exp(np.max(np.abs(y - (slope * x + icpt)))))


def exponents(lengths, fastest: dict) -> dict[str, list[float]]:
    """Per family, the exponent p of time ~ T^p: over all T first, then with each T left out."""
    out = {}
    for name in FAMILIES:
        fits = [list(lengths)] + [[t for t in lengths if t != T] for T in lengths]
        out[name] = [fit_exponent(Ts, [fastest[name, t] for t in Ts]) for Ts in fits]
    return out


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    device = pick_device("auto")
    result = new_result(CLAIM_ID, CLAIM, (
        f"LSTM seq2seq (2+2 layers) and Transformer (3+3 layers) at ~{cfg.params:,} parameters each, vocabulary "
        f"{cfg.vocab}, one teacher-forced training step at batch {cfg.batch}, S = T in {list(cfg.lengths)}, "
        f"{cfg.rounds} interleaved rounds after a counted warm-up; statistic: the fastest round. Peak: a "
        f"{cfg.gemm_n}^3 GEMM in the same run. Device: {device.type}"
        + ("." if is_accelerator(device) else f", {cfg.threads or torch.get_num_threads()} thread(s).")),
        profile, config(profile), cfg.seed, seeds=(cfg.seed,))
    with cpu_threads(device, cfg.threads):
        peak, _ = peak_gemm(cfg, device)
        m = measure(cfg, device)
        peak = max(peak, peak_gemm(cfg, device)[0])  # a busy machine can miss the ceiling once
    fastest = {key: min(secs) for key, secs in m["seconds"].items()}
    util = {key: m["flops"][key] / fastest[key] / peak for key in fastest}
    tok_s = {(name, T): cfg.batch * T / fastest[name, T] for name, T in fastest}
    result.add_table("training step by family (fixed batch)", [
        "model", "params", "T", "fastest ms", "median ms", "target tokens/s", "GFLOP per step",
        "fraction of GEMM peak"],
        [[n, m["params"][n], T, 1e3 * fastest[n, T], 1e3 * statistics.median(m["seconds"][n, T]), tok_s[n, T],
          m["flops"][n, T] / 1e9, util[n, T]] for n in FAMILIES for T in cfg.lengths],
        timing=["fastest ms", "median ms", "target tokens/s", "fraction of GEMM peak"])
    exps = exponents(cfg.lengths, fastest)
    result.add_table("time ~ T^p (fastest round)", ["fit", *(f"{n} p" for n in FAMILIES)],
                     [["all T", *(exps[n][0] for n in FAMILIES)]]
                     + [[f"without T={T}", *(exps[n][i + 1] for n in FAMILIES)] for i, T in enumerate(cfg.lengths)],
                     timing=[f"{n} p" for n in FAMILIES])
    Ts = np.asarray(cfg.lengths)
    result.add_figure("time_vs_T", "Fastest training-step time against T at a fixed batch, per family.",
                      line_plot({n: (Ts, [1e3 * fastest[n, T] for T in cfg.lengths]) for n in FAMILIES},
                                "time vs T (fixed batch)", "T", "ms", logy=True, logx=True))
    result.notes.append(f"GEMM peak here: {peak / 1e9:.1f} GFLOP/s ({device.type}).")
    result.timing = ["decided_by", "headline", "notes"]  # they quote measured times and rates
    T = cfg.lengths[-1]
    measured = {"accelerator": is_accelerator(device),
                "rnn_exponents": exps[RNN], "util": (util[RNN, T], util[TRANSFORMER, T]),
                "tokens": (tok_s[RNN, T], tok_s[TRANSFORMER, T])}
    gates = [rules.at_least("lengths in the fit (one left out still leaves 3)", len(cfg.lengths), 4),
             rules.at_least("span of T (longest / shortest)", cfg.lengths[-1] / cfg.lengths[0], 8),
             rules.at_least("interleaved rounds", cfg.rounds, 3),
             rules.at_most("LSTM times follow one power law (largest factor off the all-T fit)",
                           fit_residual(cfg.lengths, [fastest[RNN, t] for t in cfg.lengths]), MAX_FIT_FACTOR)]
    return _verdict(result, rule(measured), gates)


def rule(measured: dict) -> dict:
    """The rule on measured numbers: ``rnn_exponents`` (all T first, then leave-one-out fits), and on an
    accelerator ``util`` and ``tokens`` as (LSTM, Transformer) at the longest T."""
    p = measured["rnn_exponents"]
    dev = [abs(x - 1.0) for x in p]
    linear, not_linear = max(dev) <= LINEAR_TOL, min(dev) > 2 * LINEAR_TOL
    out = {"p": list(p), "linear": linear, "not_linear": not_linear, "margin": LINEAR_TOL - max(dev),
           "margin_fraction": (LINEAR_TOL - max(dev)) / LINEAR_TOL, "util_part": "not measured on this device"}
    holds, fails = [linear], [not_linear]
    if measured["accelerator"]:
        (ur, ut), (tr, tt) = measured["util"], measured["tokens"]
        ratio = ut / ur if ur > 0 else float("inf")
        util_holds, util_fails = ratio >= UTIL_RATIO and tt >= tr, ut < ur
        out.update(util_part="holds" if util_holds else "fails" if util_fails else "undecided", util_ratio=ratio,
                   util_margin=ratio - UTIL_RATIO, util_margin_fraction=(ratio - UTIL_RATIO) / UTIL_RATIO)
        holds.append(util_holds)
        fails.append(util_fails)
    out["confirmed"], out["refuted"] = all(holds), any(fails)
    return out


def _verdict(result, r: dict, gates):
    verdict = judge(enough=rules.gates_pass(gates), confirmed=r["confirmed"], refuted=r["refuted"])
    device = result.machine.get("cuda") or "cpu"
    rows = [["LSTM time exponent, farthest fit from 1", 1 + LINEAR_TOL - r["margin"], f"1 +- {LINEAR_TOL}",
             r["margin"], r["margin_fraction"]]]
    if "util_ratio" in r:
        rows.append(["Transformer / LSTM fraction of peak at the longest T", r["util_ratio"], UTIL_RATIO,
                     r["util_margin"], r["util_margin_fraction"]])
    result.add_table("margin of the deciding numbers", ["quantity", "value", "threshold", "margin",
                                                        "margin (fraction)"], rows,
                     timing=["value", "margin", "margin (fraction)"])
    result.notes.append(f"GPU utilization part (15-25% vs 80-95%): {r['util_part']}"
                        + (f" (decided on {device})" if r["util_part"] != "not measured on this device" else "")
                        + "; a CPU verdict never stands in for it.")
    return finish(result, verdict,
                  f"Decided on the device that ran it ({device}). Gates: >= 4 lengths spanning >= 8x, >= 3 "
                  f"interleaved rounds, and the LSTM's times within {MAX_FIT_FACTOR}x of one power law through all "
                  f"of them (a step between two lengths, e.g. a cache the working set outgrows, leaves the exponent "
                  f"undefined). Linear time: the LSTM's exponent of time ~ T^p (fastest round, fixed batch) "
                  f"within 1 +- {LINEAR_TOL} in every fit (all T and each T left out) holds; outside 1 +- "
                  f"{2 * LINEAR_TOL} in every fit fails. On an accelerator also: the Transformer's fraction of the "
                  f"GEMM peak >= {UTIL_RATIO}x the LSTM's with at least its tokens/s at the longest T holds; the "
                  "LSTM's fraction higher fails. Confirmed when every part judged on this device holds; refuted "
                  "when one fails. On a CPU the utilization part is not measured.",
                  f"on {device}: LSTM time ~ T^p with p = " + ", ".join(f"{p:.2f}" for p in r["p"])
                  + f" (all T, then each T left out); linear within +-{LINEAR_TOL}: {r['linear']} (margin {r['margin']:+.2f}, "
                  f"{r['margin_fraction']:+.0%}); utilization part: {r['util_part']}"
                  + (f" (Transformer/LSTM fraction of peak x{r['util_ratio']:.2f}, margin {r['util_margin']:+.2f})"
                     if "util_ratio" in r else ""),
                  f"{device}: LSTM time linear in T: {r['linear']}; GPU utilization: {r['util_part']}", gates=gates,
                  margins=_margins(r))


def _margins(r: dict) -> list:
    """The timed numbers that decided: the LSTM exponent's farthest distance from 1, and on an
    accelerator the Transformer / LSTM fraction of the GEMM peak."""
    margins = [rules.Margin("LSTM time exponent, farthest fit from 1: |p - 1|", LINEAR_TOL - r["margin"], LINEAR_TOL,
                            "exponent", timing=True)]
    if "util_ratio" in r:
        margins.append(rules.Margin("Transformer / LSTM fraction of peak at the longest T", r["util_ratio"],
                                    UTIL_RATIO, "ratio", timing=True))
    return margins
