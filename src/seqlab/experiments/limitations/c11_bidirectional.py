"""C11: a bidirectional RNN uses context to the right of a position, at about twice the cost.

Task: label every token with its right neighbour (y_t = x_(t+1)). A left-to-right
model never sees the answer and stays at chance (1/alphabet); a bidirectional one
reads it from its backward half. Cost: forward + backward time of a batch, and
the parameter count, bidirectional over unidirectional. Both models are timed in
interleaved rounds in one process, and the time ratio counts only when it clears
its bounds in the fastest and the second fastest rounds (load only adds time) (``rules.clearly_faster``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.experiments.core import flops
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.probe_tasks import NextToken
from seqlab.experiments.core.rules import Margin, clearly_faster, speed_ratio
from seqlab.experiments.core.timing import interleaved, median_ms, range_ms
from seqlab.experiments.core.training import fit, one_thread, score, train_pass
from seqlab.experiments.core.units import Unit, config_of
from seqlab.train.device import pick_device

CLAIM_ID = "C11"
CLAIM = ("A bidirectional RNN can use what comes after a position, which a one-directional RNN cannot, and it "
         "costs about twice as much to run.")
TIMED = True  # the verdict rests on measured times: the runner runs this claim alone


@dataclass(frozen=True)
class Config:
    length: int = 20
    alphabet: int = 8
    hidden: int = 32
    steps: int = 200
    lr: float = 0.01
    time_batch: int = 32
    time_length: int = 200
    time_reps: int = 5  # interleaved timing rounds
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(length=100, hidden=128, steps=2000, lr=3e-3, time_batch=64,
                                              time_length=500, time_reps=20)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice); after one step the
# bidirectional model is at chance, so the verdict (refuted) does not rest on the tiny, noisy timings
TINY = Config(length=6, alphabet=8, hidden=8, steps=1, time_batch=4, time_length=8, time_reps=2)
COST = (1.5, 3.0)  # "about twice": the time ratio bi / uni clearly inside these bounds confirms
REFUTE_COST = (1.2, 4.0)  # ... and clearly outside these refutes


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def seconds_per_batch(specs: dict[bool, ModelConfig], cfg: Config) -> dict[bool, list[float]]:
    """Seconds of one forward + backward pass on a (time_batch, time_length) batch, per model,
    the models timed in ``cfg.time_reps`` interleaved rounds."""
    task = NextToken(cfg.time_length, cfg.alphabet)
    device = pick_device("auto")
    x = task.sample(cfg.time_batch, torch.Generator().manual_seed(0)).x.to(device)  # (B, T)
    passes = {}
    for bi, spec in specs.items():
        torch.manual_seed(cfg.seed)
        passes[bi] = train_pass(build_model(spec, task).to(device), x)
    with one_thread():  # the claim is about work: one thread, process CPU time (a busy neighbour adds none)
        return interleaved(passes, device, cfg.time_reps, clock="cpu")


def ratio_clearly(low: list[float], high: list[float], factor: float) -> bool:
    """``high`` takes clearly more than ``factor`` x ``low`` (the two fastest rounds of each)."""
    return clearly_faster([factor * t for t in low], high, 1.0)


def specs_of(cfg: Config) -> dict[bool, ModelConfig]:
    """bidirectional? -> the LSTM task model's config."""
    return {bi: ModelConfig(arch="lstm", hidden_size=cfg.hidden, embed_dim=16, bidirectional=bi, forget_bias=1.0)
            for bi in (False, True)}


def units(profile: str, done: dict) -> list[Unit]:
    """One training unit per direction (accuracy, parameters), then one timed unit timing both passes."""
    cfg = PROFILES[check_profile(profile)]
    args = {"cfg": to_dict(cfg)}
    per_token = {bi: flops.task_model("lstm", 16, cfg.hidden, cfg.alphabet, cfg.length, directions=1 + bi)
                 for bi in (False, True)}
    train = [Unit("bi" if bi else "uni", "train_direction", {**args, "bi": bi}, seed=cfg.seed,
                  flops=flops.training(per_token[bi], 32 * cfg.length, cfg.steps)) for bi in (False, True)]
    passes = (cfg.time_reps + 1) * cfg.time_batch * cfg.time_length * flops.TRAIN * sum(per_token.values())
    return train + [Unit("time", "time_passes", args, seed=cfg.seed, timed=True, flops=passes)]


def train_direction(cfg: dict, bi: bool) -> dict:
    """The (bidirectional if ``bi``) LSTM trained and scored, on one thread; its accuracy and parameters."""
    cfg = config_of(Config, cfg)
    task = NextToken(cfg.length, cfg.alphabet)
    f = fit(specs_of(cfg)[bi], task, cfg.steps, lr=cfg.lr, seed=cfg.seed, clip_norm=1.0)
    return {"accuracy": score(f.model, task, batches=2)["accuracy"],
            "params": sum(p.numel() for p in f.model.backbone.parameters())}


def time_passes(cfg: dict) -> dict:
    """Seconds of a forward + backward pass per interleaved round, uni and bi (see :func:`seconds_per_batch`)."""
    cfg = config_of(Config, cfg)
    secs = seconds_per_batch(specs_of(cfg), cfg)
    return {"uni": secs[False], "bi": secs[True]}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"LSTM, hidden {cfg.hidden} per direction, task y_t = x_(t+1) over {cfg.alphabet} symbols, length "
        f"{cfg.length} (chance accuracy {1 / cfg.alphabet:.3f}); Adam lr {cfg.lr}, {cfg.steps} batches of 32. "
        f"Cost: forward + backward of a ({cfg.time_batch}, {cfg.time_length}) batch, {cfg.time_reps} interleaved "
        "rounds on one thread, process CPU time (median and min-max)."),
        profile, config(profile), cfg.seed)
    acc = {bi: results["bi" if bi else "uni"]["accuracy"] for bi in (False, True)}
    params = {bi: results["bi" if bi else "uni"]["params"] for bi in (False, True)}
    secs = {False: results["time"]["uni"], True: results["time"]["bi"]}
    timed = ["ms per batch (fwd+bwd)", "ms min-max"]
    result.add_table("uni vs bi", ["model", "accuracy", "recurrent parameters", *timed],
                     [["bidirectional" if bi else "left-to-right", acc[bi], params[bi], median_ms(secs[bi]),
                       range_ms(secs[bi])] for bi in (False, True)], timing=timed)
    return _verdict(result, acc, secs, params, cfg)


def _verdict(result, acc: dict, secs: dict, params: dict, cfg: Config):
    """``secs``: bidirectional? -> seconds of a pass in each interleaved round."""
    chance = 1 / cfg.alphabet
    uni, bi = secs[False], secs[True]
    cost = speed_ratio(uni, bi)  # bi / uni = min(bi) / min(uni): the fastest rounds, which load moves least
    about_twice = ratio_clearly(uni, bi, COST[0]) and ratio_clearly(bi, [COST[1] * t for t in uni], 1.0)
    off = ratio_clearly(bi, [REFUTE_COST[0] * t for t in uni], 1.0) or ratio_clearly(uni, bi, REFUTE_COST[1])
    uses_future = acc[True] >= 0.9 and acc[False] <= chance + 0.1
    confirmed = uses_future and about_twice
    refuted = acc[True] <= chance + 0.1 or off
    verdict = judge(enough=True, confirmed=confirmed, refuted=refuted)
    result.timing = ["decided_by", "headline"]  # both quote the measured time ratio
    return finish(result, verdict,
                  "confirmed when the bidirectional model reaches accuracy >= 0.9 while the left-to-right one stays "
                  f"within 0.1 of chance, and the time ratio bi / uni lies clearly in {COST[0]}..{COST[1]} "
                  "(interleaved rounds: the ratio of the fastest rounds, and of the second fastest, inside both bounds); "
                  "refuted when the bidirectional model also stays at chance, or the time ratio lies clearly below "
                  f"{REFUTE_COST[0]} or above {REFUTE_COST[1]}. A ratio near a bound decides nothing.",
                  f"accuracy bi {acc[True]:.3f}, uni {acc[False]:.3f} (chance {chance:.3f}); time ratio {cost:.2f} "
                  f"(fastest of {len(bi)} interleaved rounds), clearly in {COST[0]}..{COST[1]}: {about_twice}; "
                  f"parameter ratio {params[True] / params[False]:.2f}",
                  f"acc bi {acc[True]:.2f} vs uni {acc[False]:.2f}; time x{cost:.2f}",
                  margins=[Margin("bidirectional accuracy", acc[True], 0.9, "accuracy"),
                           Margin("left-to-right accuracy", acc[False], chance + 0.1, "accuracy"),
                           Margin("time ratio bi / uni", cost, min(COST, key=lambda b: abs(cost - b)),
                                  "x (fastest rounds)", timing=True)])
