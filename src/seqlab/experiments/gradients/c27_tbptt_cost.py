"""C27: truncated BPTT bounds the cost of an update: it grows with k2, not with the sequence length.

An LSTM runs the trainer's own truncated-BPTT loop (``seqlab.train.tbptt_windows``)
over one batch of long sequences, TBPTT(k, k): windows of k steps tile the sequence,
each starts from the detached state the previous one left, and each is one update
(forward of its k steps, backward through them). Two costs per update:

- **time**: seconds of the whole pass / number of updates (ceil(T / k)), every
  variant timed in interleaved rounds in one process (``timing.interleaved``);
- **memory**: the bytes autograd saves for backward in the largest window, counted
  exactly with saved-tensor hooks (``c08_truncated_bptt.tbptt_memory``, deterministic).

Sweeps: k2 from ``windows[0]`` to T at a fixed long T (k2 = T is full BPTT), and at the
smallest k2 the same per-update costs at a sequence ``short`` times shorter. A control,
full BPTT (k2 = T) at both lengths, shows that the measurement does see a cost that
grows with T (a gate: if it cannot, the flat line at fixed k2 means nothing).

Rule, with K = k2_max / k2_min (fixed before the run):
- memory ~ k2^p with p in [0.9, 1.1] (log-log fit) and flat in T (within 5%);
- time per update grows with k2 about linearly: the ratio (largest / smallest k2) is
  clearly at least K / 4 (a per-update overhead, the same at every k2, keeps it below K:
  the cost is affine, a + b k2, and the fitted a and b are reported) and its median at
  most 2 K; and flat in T: at the smallest k2 the median ratio long / short lies within
  [1 / FLAT, FLAT];
- refuted when memory or time grows with T (memory ratio > 1.5, time clearly >= 2x for
  a sequence ``short`` times longer), memory's exponent lies outside [0.5, 1.5], or the
  time ratio is clearly below K / 8 or above 4 K.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, judge, finish, new_result
from seqlab.experiments.gradients.c08_truncated_bptt import tbptt_memory
from seqlab.experiments.limitations.c11_bidirectional import ratio_clearly
from seqlab.experiments.core.probe_tasks import DelayedEcho
from seqlab.experiments.core.timing import interleaved, median_ms, range_ms
from seqlab.experiments.core.training import one_thread
from seqlab.train import tbptt_windows
from seqlab.train.device import pick_device
from seqlab.train.losses import masked_loss

CLAIM_ID = "C27"
CLAIM = ("Truncated BPTT bounds the cost of an update: time and memory per update grow with the truncation length "
         "k2, not with the sequence length.")
TIMED = True  # the time half of the verdict rests on interleaved timings: the runner runs this claim alone
FLAT = 1.3  # "flat in T": per-update time ratio within [1/FLAT, FLAT]
GROWS_WITH_T = 2.0  # ... and clearly this much more per update on a `short`-times longer sequence refutes
MIN_ROUNDS = 3  # gate: fewer interleaved rounds have no quartiles to compare


@dataclass(frozen=True)
class Config:
    length: int = 256  # T, fixed long
    windows: tuple[int, ...] = (16, 32, 64, 128, 256)  # k1 = k2; the last = T is full BPTT
    short: int = 4  # the shorter sequence is T / short
    hidden: int = 64
    batch: int = 16
    rounds: int = 5
    seed: int = 0


# full: sized for one H200 (the longest pass, T = 4096 of a width-512 LSTM, in well under a second there); hours
# on a CPU
PROFILES = {"quick": Config(),
            "full": Config(length=4096, windows=(16, 64, 256, 1024, 4096), hidden=512, batch=64, rounds=10)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice); 2 rounds fail the rounds
# gate, so the verdict (inconclusive) does not rest on the tiny, noisy timings
TINY = Config(length=16, windows=(2, 4, 16), short=2, hidden=4, batch=2, rounds=2)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def tbptt_pass(model: torch.nn.Module, batch, k: int):
    """A closure: the trainer's TBPTT(k, k) over ``batch``, backward after each window; gradients
    accumulate and are cleared at the end, so every call does the same work."""

    def run_pass() -> int:
        updates = 0
        for loss, _, _ in tbptt_windows(model, batch, k, k, lambda out, b: masked_loss(out, b, "ce")):
            loss.backward()
            updates += 1
        model.zero_grad(set_to_none=True)
        return updates

    return run_pass


def variants(cfg: Config) -> list[tuple[int, int]]:
    """(T, k2) pairs: the k2 sweep at T, the smallest k2 and full BPTT at T / short."""
    short = cfg.length // cfg.short
    return [(cfg.length, k) for k in cfg.windows] + [(short, cfg.windows[0]), (short, short)]


def measure(cfg: Config) -> tuple[dict, dict]:
    """Per (T, k2): seconds per update in each interleaved round, and the largest window's saved bytes."""
    device = pick_device("auto")
    task = DelayedEcho(10, cfg.length, 4)
    torch.manual_seed(cfg.seed)
    model = build_model(ModelConfig(arch="lstm", hidden_size=cfg.hidden, embed_dim=16), task).to(device)
    batch = task.sample(cfg.batch, torch.Generator().manual_seed(cfg.seed)).to(device)
    pairs = variants(cfg)
    passes = {(T, k): tbptt_pass(model, batch.time_slice(0, T), k) for T, k in pairs}
    rounds = interleaved(passes, device, cfg.rounds)
    per_update = {(T, k): [s / math.ceil(T / k) for s in rounds[(T, k)]] for T, k in pairs}
    memory = {(T, k): tbptt_memory(model, batch.time_slice(0, T), k)[0] for T, k in pairs}
    return per_update, memory


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"LSTM, hidden {cfg.hidden}, batch {cfg.batch}, sequences of T = {cfg.length} (and T / {cfg.short}); "
        f"truncated BPTT with k1 = k2 in {list(cfg.windows)} through the trainer's own windows, backward after each "
        f"window. Time per update = pass time / updates, {cfg.rounds} interleaved rounds; memory per update = bytes "
        "saved for backward in the largest window (saved-tensor hooks)."), profile, config(profile), cfg.seed)
    with one_thread():
        per_update, memory = measure(cfg)
    timed = ["ms per update", "min-max ms"]
    result.add_table("cost per update", ["T", "k1 = k2", "updates", "saved activations per update (KiB)", *timed],
                     [[T, k, math.ceil(T / k), memory[(T, k)] / 1024, median_ms(s), range_ms(s)]
                      for (T, k), s in per_update.items()], timing=timed)
    ks = np.asarray(cfg.windows)
    T = cfg.length
    result.add_figure("cost_vs_k2", f"Cost per update against k2 at T = {T}, each relative to the smallest k2 "
                      "(log-log); the line 'linear' is exact proportionality.",
                      line_plot({"time": (ks, [statistics.median(per_update[(T, k)]) /
                                               statistics.median(per_update[(T, ks[0])]) for k in cfg.windows]),
                                 "memory": (ks, [memory[(T, k)] / memory[(T, ks[0])] for k in cfg.windows]),
                                 "linear": (ks, ks / ks[0])}, "TBPTT cost per update", "k2", "x smallest k2",
                                logx=True, logy=True))
    return _verdict(result, per_update, memory, cfg)


def _verdict(result, per_update: dict, memory: dict, cfg: Config):
    """``per_update``: per (T, k2), seconds per update in each interleaved round; ``memory``: saved bytes."""
    T, short = cfg.length, cfg.length // cfg.short
    k0, k_max = cfg.windows[0], cfg.windows[-1]
    K = k_max / k0
    slope = float(np.polyfit(np.log(cfg.windows), np.log([memory[(T, k)] for k in cfg.windows]), 1)[0])
    mem_T = memory[(T, k0)] / memory[(short, k0)]
    t_small, t_large = per_update[(T, k0)], per_update[(T, k_max)]
    time_k = statistics.median(t_large) / statistics.median(t_small)
    time_T = statistics.median(t_small) / statistics.median(per_update[(short, k0)])
    full_time = statistics.median(per_update[(T, T)]) / statistics.median(per_update[(short, short)])
    full_mem = memory[(T, T)] / memory[(short, short)]
    per_step, overhead = np.polyfit(cfg.windows, [median_ms(per_update[(T, k)]) for k in cfg.windows], 1)  # a + b k2
    gates = [rules.at_least(f"full BPTT's memory per update grows with T (x{cfg.short} T)", full_mem,
                            cfg.short / 2),
             rules.at_least("interleaved timing rounds", cfg.rounds, MIN_ROUNDS),
             rules.Gate(f"full BPTT's time per update grows with T (x{cfg.short} T)",
                        ratio_clearly(per_update[(short, short)], per_update[(T, T)], cfg.short / 2),
                        f"x{full_time:.2f}, clearly >= {cfg.short / 2:g} (rounds apart): "
                        f"{ratio_clearly(per_update[(short, short)], per_update[(T, T)], cfg.short / 2)}")]
    memory_ok = 0.9 <= slope <= 1.1 and abs(mem_T - 1) <= 0.05
    time_ok = ratio_clearly(t_small, t_large, K / 4) and time_k <= 2 * K and 1 / FLAT <= time_T <= FLAT
    refuted = (mem_T > 1.5 or not 0.5 <= slope <= 1.5
               or ratio_clearly(per_update[(short, k0)], t_small, GROWS_WITH_T)
               or ratio_clearly(t_large, [K / 8 * t for t in t_small], 1.0) or ratio_clearly(t_small, t_large, 4 * K))
    verdict = judge(enough=rules.gates_pass(gates), confirmed=memory_ok and time_ok, refuted=refuted)
    result.timing = ["decided_by", "headline", "gates"]  # all three quote measured time ratios
    return finish(result, verdict,
                  f"Gates: full BPTT's memory and time per update grow at least {cfg.short / 2:g}x when T grows "
                  f"{cfg.short}x (time: clearly, rounds apart); at least {MIN_ROUNDS} interleaved rounds. With K = {K:g} (largest / smallest k2), confirmed when "
                  "saved activations per update ~ k2^p with p in [0.9, 1.1] and equal within 5% at T and "
                  f"T / {cfg.short}, and time per update at the largest k2 is clearly >= K / 4 times the smallest "
                  f"k2's (interleaved rounds apart) with a median ratio <= 2 K, and within [1/{FLAT}, {FLAT}] at T vs "
                  f"T / {cfg.short} for the smallest k2; refuted when memory per update grows > 1.5x with T or p is "
                  f"outside [0.5, 1.5], or time per update is clearly >= {GROWS_WITH_T}x on the longer sequence, or "
                  "its k2 ratio is clearly below K / 8 or above 4 K.",
                  f"memory ~ k2^{slope:.2f}, x{mem_T:.3f} from T={short} to T={T} at k2={k0}; time per update "
                  f"x{time_k:.1f} from k2={k0} to {k_max} (linear: x{K:g}), x{time_T:.2f} from T={short} to T={T} at "
                  f"k2={k0}; fitted time per update {overhead:.3g} ms + {per_step:.3g} ms x k2; full BPTT per update: memory "
                  f"x{full_mem:.2f}, time x{full_time:.2f} for x{cfg.short} T",
                  f"per update: memory ~ k2^{slope:.2f}, time x{time_k:.1f} for x{K:g} k2; x{time_T:.2f} time, "
                  f"x{mem_T:.2f} memory for x{cfg.short} T", gates=gates)
