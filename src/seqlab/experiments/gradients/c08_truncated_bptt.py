"""C8: truncated BPTT cannot learn a dependency longer than its window k2; memory grows with k2.

Task: delayed echo, y_t = x_(t - d) with d = 10 fixed and a fresh random token at
every step (so the dependency is exactly d steps long). An LSTM trains with
truncated BPTT, k1 = k2 = k (non-overlapping windows, the state carried across),
for k below and above d. Below d no gradient path joins a target to its source,
so accuracy should stay at chance (1/alphabet).

Memory: the trainer's own TBPTT loop runs over a long sequence; for each update
the bytes autograd saves for backward are counted exactly with
``torch.autograd.graph.saved_tensors_hooks`` (unique storages, parameters
excluded). The largest update is the activation memory peak: for each k2, and
at fixed k2 for growing T (it must not grow with T). On CUDA the peak allocated
memory of the pass is reported as well.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.probe_tasks import DelayedEcho
from seqlab.experiments.core.training import fit, score
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.train import tbptt_windows
from seqlab.train.device import pick_device
from seqlab.train.losses import masked_loss

CLAIM_ID = "C8"
CLAIM = ("Backpropagating through only the last k2 steps means a dependency longer than k2 cannot be learned, "
         "and the memory the backward pass needs grows with k2 (not with the sequence length).")


@dataclass(frozen=True)
class Config:
    delay: int = 10
    length: int = 40
    alphabet: int = 4
    windows: tuple[int, ...] = (5, 8, 20, 40)
    hidden: int = 32
    steps: int = 300
    lr: float = 0.01
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(delay=50, length=200, windows=(10, 25, 45, 60, 100, 200),
                                              hidden=128, steps=3000, lr=3e-3)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(delay=2, length=8, windows=(2, 4, 8), hidden=8, steps=4)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def tbptt_memory(model: torch.nn.Module, batch, k: int) -> tuple[int, int | None]:
    """Peak over updates of the bytes saved for backward, running the trainer's TBPTT(k, k).

    Each window's forward runs inside ``saved_tensors_hooks`` that record every saved
    tensor's storage (parameters excluded); the window is then backpropagated, which
    frees its graph. Returns (largest window's bytes, CUDA peak bytes of the whole pass
    or None on CPU).
    """
    cuda = batch.x.is_cuda
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    windows = tbptt_windows(model, batch, k, k, lambda out, b: masked_loss(out, b, "ce"))
    peak = 0
    while True:
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor, seen=seen):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            item = next(windows, None)
        if item is None:
            break
        item[0].backward()
        peak = max(peak, sum(n for ptr, n in seen.items() if ptr not in params))
    model.zero_grad(set_to_none=True)
    return peak, (torch.cuda.max_memory_allocated() - base if cuda else None)


def units(profile: str, done: dict) -> list[Unit]:
    """One training unit per window k, and one unit measuring the backward memory."""
    cfg = PROFILES[check_profile(profile)]
    common = settings(cfg, ("windows",))
    per_token = flops.task_model("lstm", 16, cfg.hidden, cfg.alphabet, cfg.length)
    train = [Unit(f"k{k}", "train_window", {"cfg": common, "k": k}, seed=cfg.seed,
                  flops=flops.training(per_token, 32 * cfg.length, cfg.steps)) for k in cfg.windows]
    passes = len(set(cfg.windows) | {2 * cfg.length, 4 * cfg.length}) + 3
    return train + [Unit("memory", "measure_memory", {"cfg": to_dict(cfg)}, seed=cfg.seed,
                         flops=passes * flops.TRAIN * 32 * 4 * cfg.length * per_token)]


def _spec(cfg: Config) -> ModelConfig:
    return ModelConfig(arch="lstm", hidden_size=cfg.hidden, embed_dim=16, forget_bias=1.0)


def train_window(cfg: dict, k: int) -> dict:
    """Held-out accuracy of the LSTM trained with TBPTT(k, k) (full BPTT when k covers the sequence)."""
    cfg = config_of(Config, cfg)
    task = DelayedEcho(cfg.delay, cfg.length, cfg.alphabet)
    f = fit(_spec(cfg), task, cfg.steps, lr=cfg.lr, seed=cfg.seed, clip_norm=1.0,
            tbptt=None if k >= cfg.length else (k, k))
    return {"accuracy": score(f.model, task, batches=2)["accuracy"], "wall_time": f.wall_time}


def measure_memory(cfg: dict) -> dict:
    """Bytes saved for backward: per k2 on a sequence of 4 x length, and at the smallest k2 per T."""
    cfg = config_of(Config, cfg)
    torch.manual_seed(cfg.seed)
    device = pick_device("auto")
    T_max = 4 * cfg.length
    model = build_model(_spec(cfg), DelayedEcho(cfg.delay, T_max, cfg.alphabet)).to(device)
    batch = DelayedEcho(cfg.delay, T_max, cfg.alphabet).sample(32, torch.Generator().manual_seed(0)).to(device)
    ks = sorted(set(cfg.windows) | {2 * cfg.length, T_max})
    by_k = [[k, *tbptt_memory(model, batch, k)] for k in ks]
    k_fixed = min(cfg.windows)
    by_T = [[T, tbptt_memory(model, batch.time_slice(0, T), k_fixed)[0]] for T in (cfg.length, 2 * cfg.length, T_max)]
    return {"by_k": by_k, "by_T": by_T}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"LSTM, hidden {cfg.hidden}, delayed echo with d = {cfg.delay}, sequences of {cfg.length}, alphabet "
        f"{cfg.alphabet} (chance accuracy {1 / cfg.alphabet:.2f}), Adam lr {cfg.lr}, clip 1.0, {cfg.steps} "
        f"batches of 32, truncated BPTT with k1 = k2 = k for k in {list(cfg.windows)} (k = {cfg.length} is full "
        "BPTT). Accuracy on held-out sequences, every scored step."), profile, config(profile), cfg.seed)
    acc, rows = {}, []
    for k in cfg.windows:
        acc[k] = results[f"k{k}"]["accuracy"]
        rows.append([k, "yes" if k > cfg.delay else "no", acc[k], round(results[f"k{k}"]["wall_time"], 1)])
    result.add_table("accuracy vs window", ["k1 = k2", "window spans d", "accuracy", "train s"], rows,
                     timing=["train s"])
    mem = _memory_tables(result, results["memory"], cfg)
    result.add_figure("accuracy", f"Accuracy against the truncation window; the dependency is d = {cfg.delay}.",
                      line_plot({"LSTM": (np.asarray(cfg.windows), [acc[k] for k in cfg.windows]),
                                 "chance": (np.asarray(cfg.windows), [1 / cfg.alphabet] * len(cfg.windows))},
                                "truncated BPTT", "k2", "accuracy"))
    return _verdict(result, acc, mem, cfg)


def _memory_tables(result, measured: dict, cfg: Config) -> dict:
    T_max = 4 * cfg.length
    by_k = {k: (s, p) for k, s, p in measured["by_k"]}
    ks = sorted(by_k)
    result.add_table(f"backward memory vs k2 (sequence of {T_max})", ["k1 = k2", "largest window's saved "
                     "activations (KiB)", "CUDA peak of the pass (KiB)"],
                     [[k, s / 1024, "" if p is None else p / 1024] for k, (s, p) in by_k.items()])
    k_fixed = min(cfg.windows)
    by_T = dict(measured["by_T"])
    result.add_table(f"backward memory at k1 = k2 = {k_fixed} vs sequence length T",
                     ["T", "largest window's saved activations (KiB)"], [[T, b / 1024] for T, b in by_T.items()])
    result.add_figure("memory", "Bytes saved for backward per update against k2 (log-log).",
                      line_plot({"saved activations": (np.asarray(ks), [by_k[k][0] for k in ks])},
                                "backward memory vs k2", "k2", "bytes", logy=True, logx=True))
    return {"by_k": {k: v[0] for k, v in by_k.items()}, "by_T": by_T}


def _verdict(result, acc: dict, mem: dict, cfg: Config):
    chance = 1 / cfg.alphabet
    short = [k for k in cfg.windows if k <= cfg.delay]
    long = [k for k in cfg.windows if k > cfg.delay]
    short_fail = all(acc[k] < chance + 0.1 for k in short)
    long_learns = max(acc[k] for k in long) >= chance + 0.3
    ks = sorted(mem["by_k"])
    slope = np.polyfit(np.log(ks), np.log([mem["by_k"][k] for k in ks]), 1)[0]  # memory ~ k2^slope
    flat_T = max(mem["by_T"].values()) <= 1.05 * min(mem["by_T"].values())
    confirmed = short_fail and long_learns and 0.8 <= slope <= 1.2 and flat_T
    refuted = any(acc[k] >= chance + 0.3 for k in short) or slope < 0.5 or not flat_T
    verdict = judge(enough=long_learns and bool(short), confirmed=confirmed, refuted=refuted)
    return finish(result, verdict,
                  "needs a window longer than d to learn (accuracy >= chance + 0.3). Confirmed when every window "
                  "k2 <= d stays below chance + 0.1, backward memory grows about linearly in k2 (log-log slope "
                  "0.8..1.2) and stays flat (within 5%) as T grows at fixed k2; refuted when a window k2 <= d learns "
                  "(>= chance + 0.3), or memory grows much slower than k2 or grows with T.",
                  "accuracy: " + ", ".join(f"k2={k}: {acc[k]:.2f}" for k in cfg.windows)
                  + f" (chance {chance:.2f}); memory ~ k2^{slope:.2f}; flat in T: {flat_T}",
                  f"acc k2<=d max {max(acc[k] for k in short):.2f}, k2>d max {max(acc[k] for k in long):.2f}; "
                  f"mem ~ k2^{slope:.2f}")
