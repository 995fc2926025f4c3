"""C11: a bidirectional RNN uses context to the right of a position, at about twice the cost.

Task: label every token with its right neighbour (y_t = x_(t+1)). A left-to-right
model never sees the answer and stays at chance (1/alphabet); a bidirectional one
reads it from its backward half. Cost: forward + backward time of a batch, and
the parameter count, bidirectional over unidirectional.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.probe_tasks import NextToken
from seqlab.experiments.training import fit, score, step_seconds
from seqlab.train.device import pick_device

CLAIM_ID = "C11"
CLAIM = ("A bidirectional RNN can use what comes after a position, which a one-directional RNN cannot, and it "
         "costs about twice as much to run.")


@dataclass(frozen=True)
class Config:
    length: int = 20
    alphabet: int = 8
    hidden: int = 32
    steps: int = 200
    lr: float = 0.01
    time_batch: int = 32
    time_length: int = 200
    time_reps: int = 5
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(length=100, hidden=128, steps=2000, lr=3e-3, time_batch=64,
                                              time_length=500, time_reps=20)}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def seconds_per_batch(spec: ModelConfig, cfg: Config) -> float:
    task = NextToken(cfg.time_length, cfg.alphabet)
    torch.manual_seed(cfg.seed)
    device = pick_device("auto")
    model = build_model(spec, task).to(device)
    x = task.sample(cfg.time_batch, torch.Generator().manual_seed(0)).x.to(device)  # (B, T)
    return step_seconds(model, x, cfg.time_reps)


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"LSTM, hidden {cfg.hidden} per direction, task y_t = x_(t+1) over {cfg.alphabet} symbols, length "
        f"{cfg.length} (chance accuracy {1 / cfg.alphabet:.3f}); Adam lr {cfg.lr}, {cfg.steps} batches of 32. "
        f"Cost: forward + backward of a ({cfg.time_batch}, {cfg.time_length}) batch, median of {cfg.time_reps}."),
        profile, config(profile), cfg.seed)
    task = NextToken(cfg.length, cfg.alphabet)
    acc, secs, params, rows = {}, {}, {}, []
    for bi in (False, True):
        spec = ModelConfig(arch="lstm", hidden_size=cfg.hidden, embed_dim=16, bidirectional=bi, forget_bias=1.0)
        f = fit(spec, task, cfg.steps, lr=cfg.lr, seed=cfg.seed, clip_norm=1.0)
        acc[bi] = score(f.model, task, batches=2)["accuracy"]
        params[bi] = sum(p.numel() for p in f.model.backbone.parameters())
        secs[bi] = seconds_per_batch(spec, cfg)
        rows.append(["bidirectional" if bi else "left-to-right", acc[bi], params[bi], secs[bi] * 1e3])
    result.add_table("uni vs bi", ["model", "accuracy", "recurrent parameters", "ms per batch (fwd+bwd)"], rows)
    return _verdict(result, acc, secs, params, cfg)


def _verdict(result, acc: dict, secs: dict, params: dict, cfg: Config):
    chance = 1 / cfg.alphabet
    cost = secs[True] / secs[False]
    uses_future = acc[True] >= 0.9 and acc[False] <= chance + 0.1
    confirmed = uses_future and 1.5 <= cost <= 3.0
    refuted = acc[True] <= chance + 0.1 or cost < 1.2 or cost > 4.0
    verdict = decide(enough=True, confirmed=confirmed, refuted=refuted)
    return finish(result, verdict,
                  "confirmed when the bidirectional model reaches accuracy >= 0.9 while the left-to-right one stays "
                  "within 0.1 of chance, and the time ratio bi / uni lies in 1.5..3; refuted when the bidirectional "
                  "model also stays at chance, or the time ratio is below 1.2 or above 4.",
                  f"accuracy bi {acc[True]:.3f}, uni {acc[False]:.3f} (chance {chance:.3f}); time ratio {cost:.2f}; "
                  f"parameter ratio {params[True] / params[False]:.2f}",
                  f"acc bi {acc[True]:.2f} vs uni {acc[False]:.2f}; time x{cost:.2f}")
