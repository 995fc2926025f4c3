"""C9: gated RNNs use only the last ~100-300 tokens; information from further back is lost.

Two readings of "effective context", both measured:

**Memory span (both profiles).** Key-value recall across distractors
(``seqlab.data.context_tasks``): one test sequence holds a (key, value) pair token at
each distance d in {20, 50, 100, 200, 300, 600} before a query block that asks every
key once, with random filler words everywhere else. The span of a trained model is the
largest tested d whose recall accuracy is >= 0.9 (chance 1/values). A measured span is a
*lower bound* that no budget can fake: a model that recalls a value 600 tokens back
carries information that far. Failing at d is only an upper bound when the model has
stopped improving, so the branches that rest on a failure (confirmed, "too short") need
a convergence gate. Training (``MixedRecall``): six pairs per sequence at random
distances drawn ~ 1/d (short ones teach the mechanism early); one batch in ten is a long
one (distances up to 600, a quarter of the rows) so the model sees the test's stretch of
fillers, while most updates stay cheap.

**LM usage (full profile).** A context ablation of an LSTM language model on bsb_en
(``seqlab.experiments.limitations.context_ablation``): the shortest context whose held-out loss is
within 1% of the full 1000-token context's.

Rule (fixed before the run; claimed range 100-300, "far" = 600 = twice its top):
refuted when, for some architecture, the span is >= 600 in a majority of seeds (or, full
profile, the LM needs >= 600 tokens); confirmed when, for every architecture, the span
lies in 100-300 in a majority of seeds (and, full, the LM's effective context is in
100-300), with gates: competent (accuracy >= 0.9 at the shortest distance) and converged
(the accuracy at the distances it fails gained <= 0.03 over the last quarter; the LM's
training loss <= 1%); also refuted, under the same gates, when every span is <= 20
(failing at half the claimed bottom).

Quick: LSTM only (torch's CPU GRU kernel is ~3x slower), hidden 32, 400 updates, three
seeds. Full (sized for one GPU, a few minutes; hours on a CPU): LSTM and GRU, hidden 128,
distances up to 2000, 2000 updates, five seeds, plus the LM ablation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.data.context_tasks import DistanceRecall, MixedRecall
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.training import fit
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.experiments.limitations.context_ablation import LMConfig, LMContext, lm_effective_context

CLAIM_ID = "C9"
CLAIM = ("Even gated RNNs (LSTM, GRU) use only about the last 100-300 tokens of their input; information "
         "from further back is lost.")
LOW, HIGH, FAR = 100, 300, 600  # the claimed range, and twice its top
DEV_SEED, TEST_SEED = 4242, 777


@dataclass(frozen=True)
class Config:
    archs: tuple[str, ...] = ("lstm",)
    distances: tuple[int, ...] = (20, 50, 100, 200, 300, 600)
    short: int = 48  # distances of a short training batch
    long_share: float = 0.1  # share of long training batches (distances up to max(distances))
    long_rows: float = 0.25
    fillers: int = 8
    values: int = 4
    hidden: int = 32
    embed_dim: int = 32
    forget_bias: float = 2.0  # LSTM only
    steps: int = 400
    batch_size: int = 32
    lr: float = 0.01
    evals: int = 5  # dev evaluations along training (the convergence curve)
    dev_sequences: int = 64
    test_sequences: int = 256
    solid: float = 0.9  # accuracy that counts as recalled
    converged: float = 0.03
    lm: LMConfig | None = None  # the LM context ablation (full profile)


PROFILES = {
    "quick": Config(),
    # one GPU: 2 archs x 5 seeds x 2000 updates at hidden 128 (long batches of 2000 steps) + one LM
    "full": Config(archs=("lstm", "gru"), distances=(20, 50, 100, 200, 300, 600, 1000, 2000), short=64,
                   values=8, hidden=128, steps=2000, lr=3e-3, dev_sequences=128, test_sequences=512,
                   lm=LMConfig()),
}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(distances=(3, 8), short=4, long_share=0.5, hidden=8, embed_dim=8, steps=8, evals=4,
              dev_sequences=4, test_sequences=8)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def tasks(cfg: Config) -> tuple[MixedRecall, DistanceRecall]:
    """The training task and the test layout (one pair per distance, all in one sequence)."""
    n = len(cfg.distances)
    train = MixedRecall(pairs=n, span=max(cfg.distances), short=cfg.short, long_share=cfg.long_share,
                        long_rows=cfg.long_rows, fillers=cfg.fillers, keys=n, values=cfg.values)
    return train, DistanceRecall(cfg.distances, fillers=cfg.fillers, keys=n, values=cfg.values)


@torch.no_grad()
def recall_by_distance(model: torch.nn.Module, task: DistanceRecall, sequences: int, seed: int) -> dict[int, float]:
    """Accuracy of the queries at each distance, on ``sequences`` seeded test sequences."""
    model.eval()
    batch, span = task.sample_detailed(sequences, torch.Generator().manual_seed(seed))
    out, _ = model(batch.x.to(next(model.parameters()).device))  # (B, T, values)
    hit = out.argmax(-1).cpu() == batch.y  # (B, T)
    return {d: hit[span == d].float().mean().item() for d in task.distances}


class DevCurve:
    """Callback: recall by distance on fixed dev sequences every ``every`` updates."""

    def __init__(self, task: DistanceRecall, every: int, sequences: int) -> None:
        self.task, self.every, self.sequences = task, every, sequences
        self.points: list[dict[int, float]] = []

    def on_step(self, trainer, step: int, metrics: dict) -> None:
        if step % self.every == 0:
            self.points.append(recall_by_distance(trainer.raw_model, self.task, self.sequences, DEV_SEED))
            trainer.raw_model.train()


def span(accs: dict[int, float], solid: float) -> int:
    """The largest distance recalled with accuracy >= ``solid`` (0 when none): a lower bound."""
    return max([d for d, a in accs.items() if a >= solid], default=0)


def spec(cfg: Config, arch: str) -> ModelConfig:
    return ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=cfg.embed_dim,
                       forget_bias=cfg.forget_bias if arch == "lstm" else None)


RULE = ("archs", "solid", "converged", "lm")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (architecture, seed): a model trained and tested on every distance; the LM ablation
    (full profile) is one more."""
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    T = max(cfg.distances) * cfg.long_share + cfg.short * (1 - cfg.long_share)  # mean training length
    out = [Unit(f"{arch}-s{seed}", "train_seed", {"cfg": settings(cfg, RULE), "arch": arch, "seed": seed}, seed=seed,
                flops=flops.training(flops.task_model(arch, cfg.embed_dim, cfg.hidden, cfg.values, int(T)),
                                     cfg.batch_size * T, cfg.steps))
           for arch in cfg.archs for seed in seeds]
    if cfg.lm is not None:
        lm = cfg.lm
        per_token = flops.task_model(lm.arch, lm.embed_dim, lm.hidden, lm.vocab_limit or 4000, lm.seq_len, lm.layers)
        ablation = lm.windows * (len(lm.contexts) + 1) * lm.full * per_token
        out.append(Unit("lm", "train_lm", {"lm": to_dict(lm), "seed": seeds[0]}, seed=seeds[0],
                        flops=flops.training(per_token, lm.batch_size * lm.seq_len, lm.steps) + ablation))
    return out


def train_seed(cfg: dict, arch: str, seed: int) -> dict:
    """Recall by distance (test) and the dev curve of ``arch`` trained with ``seed``; lists follow ``distances``."""
    cfg = config_of(Config, cfg)
    train_task, test_task = tasks(cfg)
    dev = DevCurve(test_task, max(cfg.steps // cfg.evals, 1), cfg.dev_sequences)
    f = fit(spec(cfg, arch), train_task, cfg.steps, lr=cfg.lr, seed=seed, batch_size=cfg.batch_size,
            clip_norm=1.0, callbacks=(dev,))
    acc = recall_by_distance(f.model, test_task, cfg.test_sequences, TEST_SEED)
    return {"accuracy": [acc[d] for d in cfg.distances], "dev": [[p[d] for d in cfg.distances] for p in dev.points],
            "wall_time": f.wall_time}


def train_lm(lm: dict, seed: int) -> dict:
    """The LM context ablation (``context_ablation.lm_effective_context``)."""
    out = lm_effective_context(config_of(LMConfig, lm), seed=seed)
    return {"losses": [[c, v] for c, v in out.losses.items()], "effective": out.effective, "curve": out.curve,
            "train_seconds": out.train_seconds}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Key-value recall across filler words: {len(cfg.distances)} pair tokens ({len(cfg.distances)} keys x "
        f"{cfg.values} values) at distances {list(cfg.distances)} before a query block, one test sequence "
        f"holding all distances. Training: pairs at random distances ~ 1/d, {cfg.long_share:.0%} of batches long "
        f"(up to {max(cfg.distances)}), else up to {cfg.short}. {', '.join(cfg.archs)}, hidden {cfg.hidden}"
        f"{f', LSTM forget bias {cfg.forget_bias:g}' if 'lstm' in cfg.archs else ''}, Adam lr {cfg.lr}, clip 1.0, "
        f"{cfg.steps} updates of {cfg.batch_size}, seeds {list(seeds)}; accuracy on {cfg.test_sequences} test "
        "sequences (chance 1/values)." + (f" LM context ablation: {cfg.lm.arch} {cfg.lm.layers}x{cfg.lm.hidden} on "
                                          f"{cfg.lm.corpus} ({cfg.lm.tokenizer} tokens), {cfg.lm.steps} updates."
                                          if cfg.lm else "")), profile, config(profile), seeds=seeds)
    accs, curves, rows = {}, {}, []
    for arch in cfg.archs:
        for seed in seeds:
            r = results[f"{arch}-s{seed}"]
            accs[arch, seed] = dict(zip(cfg.distances, r["accuracy"]))
            curves[arch, seed] = [dict(zip(cfg.distances, p)) for p in r["dev"]]
            rows.append([arch, seed, *accs[arch, seed].values(), span(accs[arch, seed], cfg.solid),
                         round(r["wall_time"], 1)])
    result.add_table(f"recall accuracy by distance, and the span (largest d with accuracy >= {cfg.solid})",
                     ["arch", "seed", *(f"d={d}" for d in cfg.distances), "span", "train s"], rows,
                     timing=["train s"])
    lm = None
    if cfg.lm is not None:
        r = results["lm"]
        lm = LMContext({c: v for c, v in r["losses"]}, r["effective"], r["curve"], r["train_seconds"])
        result.add_table(f"LM context ablation ({cfg.lm.arch} on {cfg.lm.corpus}): test loss with only the last c "
                         "tokens", ["context c (tokens)", "loss (nats/token)", "/ full"],
                         [[c, v, v / lm.losses[cfg.lm.full]] for c, v in lm.losses.items()])
    result.add_figure("recall_by_distance", "Recall accuracy against distance, per model and seed.",
                      line_plot({f"{a} seed {s}": (np.asarray(cfg.distances), list(accs[a, s].values()))
                                 for a, s in accs}, "recall vs distance", "distance d", "accuracy", logx=True))
    return _verdict(result, accs, curves, lm, cfg, seeds)


def _majority(flags) -> bool:
    flags = list(flags)
    return rules.count(flags) * 2 > len(flags)


def _verdict(result, accs: dict, curves: dict, lm, cfg: Config, seeds):
    spans = {k: span(a, cfg.solid) for k, a in accs.items()}
    far = [d for d in cfg.distances if d >= FAR]
    long_arch = [a for a in cfg.archs if _majority(spans[a, s] >= FAR for s in seeds)]
    in_range = all(_majority(LOW <= spans[a, s] <= HIGH for s in seeds) for a in cfg.archs)
    too_short = all(_majority(spans[a, s] <= min(cfg.distances) for s in seeds) for a in cfg.archs)
    lm_far = lm is not None and lm.effective >= FAR
    lm_in_range = lm is None or LOW <= lm.effective <= HIGH
    lower_bound = bool(long_arch) or lm_far  # decided by what a model did: no gate applies
    gates = [] if lower_bound else _gates(accs, curves, spans, lm, cfg, seeds)
    verdict = judge(enough=lower_bound or rules.gates_pass(gates),
                     confirmed=in_range and lm_in_range and bool(far), refuted=lower_bound or too_short)
    med = {a: float(np.median([spans[a, s] for s in seeds])) for a in cfg.archs}
    lm_text = ("" if lm is None else
               f"; LM effective context {lm.effective} tokens (losses within {cfg.lm.tolerance:.0%})")
    return finish(result, verdict,
                  f"span = the largest tested distance recalled with accuracy >= {cfg.solid}, per model and seed. "
                  f"Refuted when for some architecture the span is >= {FAR} in a majority of seeds"
                  + (f", or the LM's effective context is >= {FAR} tokens" if cfg.lm else "")
                  + " (a lower bound: no gate). "
                  f"Confirmed when for every architecture the span lies in {LOW}-{HIGH} in a majority of seeds"
                  + (f" and the LM's effective context is in {LOW}-{HIGH}" if cfg.lm else "")
                  + f"; also refuted when every span is <= {min(cfg.distances)}. These two branches rest on a failure, "
                  f"so they need the gates: accuracy >= {cfg.solid} at the shortest distance, and the accuracy at the "
                  f"failed distances gaining <= {cfg.converged} over the last quarter of the updates"
                  + (f" (the LM's training loss <= {cfg.lm.converged:.0%})" if cfg.lm else "") + ".",
                  "spans: " + "; ".join(f"{a} seed {s}: {spans[a, s]}" for a, s in spans) + lm_text,
                  "median span " + ", ".join(f"{a} {med[a]:g}" for a in cfg.archs)
                  + f" tokens (tested up to {max(cfg.distances)})" + lm_text, gates=gates)


def _gates(accs, curves, spans, lm, cfg: Config, seeds) -> list:
    """Competence and convergence, for the branches that rest on a failure."""
    first = min(cfg.distances)
    gates = [rules.at_least(f"{a} competent at d={first} (min over seeds)", min(accs[a, s][first] for s in seeds),
                            cfg.solid) for a in cfg.archs]
    for (a, s), points in curves.items():
        failed = [d for d in cfg.distances if d > spans[a, s]]
        if failed:
            curve = [float(np.mean([p[d] for d in failed])) for p in points]
            gates.append(rules.converged(f"{a} seed {s} trained (dev accuracy at d > {spans[a, s]})", curve,
                                         cfg.converged))
    if lm is not None:
        gates.append(rules.converged("LM trained (training loss, block means)", lm.curve,
                                     cfg.lm.converged * lm.curve[-1], higher_is_better=False))
    return gates
