"""C10: a GRU has fewer parameters than an LSTM of the same width, learns as well, and runs faster.

Per hidden size H and input size E a GRU layer has 3 (H E + H H + 2 H) parameters
against the LSTM's 4 (...): a ratio of exactly 3/4 for the recurrent layer. Quality
is compared after the same training budget on the adding problem and on copy
memory; speed is forward + backward tokens per second of the project's layers
(fused backend) and of torch's own nn.LSTM / nn.GRU kernels, on this machine
(median of repeats; noisy on a shared CPU). The speed verdict uses torch's
kernels, the ones a practitioner would run; the project's layers are listed too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.data.tasks import AddingProblem, CopyMemory
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.training import fit, score, step_seconds
from seqlab.train.device import pick_device

CLAIM_ID = "C10"
CLAIM = ("A GRU has about a quarter fewer parameters than an LSTM of the same width, reaches similar quality, "
         "and is faster.")
ARCHS = ("lstm", "gru")


@dataclass(frozen=True)
class Config:
    hidden: int = 32
    adding_length: int = 50
    copy_delay: int = 20
    steps: int = 300
    lr: float = 0.01
    time_batch: int = 32
    time_length: int = 100
    time_reps: int = 5
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(hidden=256, adding_length=200, copy_delay=100, steps=3000, lr=2e-3,
                                              time_batch=64, time_length=500, time_reps=20)}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


TORCH_LAYERS = {"lstm": nn.LSTM, "gru": nn.GRU}


def tokens_per_second(arch: str, cfg: Config, torch_kernel: bool) -> float:
    """Forward + backward tokens/s of a model on a (time_batch, time_length) adding batch."""
    task = AddingProblem(cfg.time_length)
    torch.manual_seed(cfg.seed)
    device = pick_device("auto")
    model = build_model(ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=cfg.hidden), task)
    if torch_kernel:
        model.backbone = TORCH_LAYERS[arch](cfg.hidden, cfg.hidden, batch_first=True)
    model.to(device)
    x = task.sample(cfg.time_batch, torch.Generator().manual_seed(0)).x.to(device)  # (B, T, 2)
    return cfg.time_batch * cfg.time_length / step_seconds(model, x, cfg.time_reps)


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"LSTM (forget bias 1) and GRU, hidden {cfg.hidden}; training: Adam lr {cfg.lr}, clip 1.0, {cfg.steps} "
        f"batches of 32 on the adding problem (T = {cfg.adding_length}) and copy memory (2 symbols of 4, delay "
        f"{cfg.copy_delay}); speed: forward + backward on a ({cfg.time_batch}, {cfg.time_length}) batch, median of "
        f"{cfg.time_reps}."), profile, config(profile), cfg.seed)
    tasks = {"adding": AddingProblem(cfg.adding_length), "copy": CopyMemory(cfg.copy_delay, 2, 4)}
    params, quality, speed, rows = {}, {}, {}, []
    for arch in ARCHS:
        spec = ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=cfg.hidden,
                           forget_bias=1.0 if arch == "lstm" else None)
        backbone = build_model(spec, tasks["adding"]).backbone
        params[arch] = sum(p.numel() for p in backbone.parameters())
        for name, task in tasks.items():
            f = fit(spec, task, cfg.steps, lr=cfg.lr, seed=cfg.seed, clip_norm=1.0)
            quality[(arch, name)] = score(f.model, task, batches=2)["normalized"]
        speed[arch] = tokens_per_second(arch, cfg, torch_kernel=True)
        ours = tokens_per_second(arch, cfg, torch_kernel=False)
        rows.append([arch, params[arch], quality[(arch, "adding")], quality[(arch, "copy")], speed[arch], ours])
    result.add_table("GRU vs LSTM", ["arch", "recurrent-layer parameters", "adding loss / chance",
                                     "copy loss / chance", "tokens/s torch.nn (fwd+bwd)", "tokens/s seqlab fused"],
                     rows)
    result.notes.append("Speed depends on the kernels of the machine that ran this: a GRU does 3/4 of an LSTM's "
                        "matrix work, but a backend may fuse one architecture better than the other. Re-run on the "
                        "target hardware (see the machine in the metadata).")
    return _verdict(result, params, quality, speed, tasks)


def _verdict(result, params: dict, quality: dict, speed: dict, tasks: dict):
    ratio = params["gru"] / params["lstm"]
    diffs = {t: quality[("gru", t)] - quality[("lstm", t)] for t in tasks}
    learned = all(min(quality[(a, t)] for a in ARCHS) < 0.5 for t in tasks)
    comparable = all(abs(d) <= 0.1 or quality[("gru", t)] < 0.2 for t, d in diffs.items())
    worse = any(d > 0.3 for d in diffs.values())
    speedup = speed["gru"] / speed["lstm"]
    confirmed = abs(ratio - 0.75) < 0.01 and comparable and speedup >= 1.05
    refuted = ratio > 0.9 or worse or speedup < 0.95
    verdict = decide(enough=learned, confirmed=confirmed, refuted=refuted)
    return finish(result, verdict,
                  "needs each task learned by at least one model (loss < 0.5 x chance). Confirmed when the GRU has 3/4 "
                  "of the LSTM's parameters, its loss is within 0.1 x chance of the LSTM's (or below 0.2 x chance) on "
                  "every task, and its tokens/s are at least 1.05x; refuted when the GRU is slower than 0.95x, or "
                  "worse by more than 0.3 x chance on a task, or not smaller.",
                  f"parameter ratio {ratio:.3f}; GRU - LSTM loss/chance: "
                  + ", ".join(f"{t} {d:+.2f}" for t, d in diffs.items())
                  + f"; speed ratio GRU/LSTM (torch.nn kernels) {speedup:.2f}",
                  f"params x{ratio:.2f}, speed x{speedup:.2f}")
