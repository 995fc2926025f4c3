"""C9: gated RNNs use only the last ~100-300 tokens of their input.

Two readings of "effective context", both measured; the second decides.

**Memory span (capacity, reported).** Key-value recall across distractors
(``seqlab.data.context_tasks``): one test sequence holds a (key, value) pair token at
each distance d in {20, 50, 100, 200, 300, 600} before a query block that asks every
key once, with random filler words everywhere else. The span of a trained model is the
largest tested d whose recall accuracy is >= 0.9 (chance 1/values). Training
(``MixedRecall``): six pairs per sequence at random distances drawn ~ 1/d; one batch in
ten is a long one (distances up to 600). A span says what an LSTM *can* carry when
trained to (the chapter's own "Can maintain information over hundreds of time steps"),
not how much context it *uses* on text, so it is reported beside the verdict, not judged.

**LM usage (decides).** A context ablation of an LSTM language model on the BSB English
text (``seqlab.experiments.limitations.context_ablation``): the shortest context whose
held-out loss is within 1% of the full 1000-token context's. Quick: a small LM (one
layer of 96, 1,000 BPE tokens, 250 updates annealed by a cosine schedule); full: two
layers of 512, 4,000 BPE tokens, 4,000 updates.

Rule (fixed before the run; claimed range 100-300, "far" = 600 = twice its top), on the
LM's effective context E:
- refuted when E >= 600: the model used that much context, a lower bound that a larger
  or longer-trained model would only raise, so no gate applies;
- confirmed when 100 <= E <= 300, with gates: the LM is trained (training loss gained
  <= ``lm.converged`` over the last quarter) and competent (full-context test loss <=
  ``competent_loss`` nats per token);
- inconclusive otherwise, in particular when E < 100: a small model uses less context
  than a large one, so a short E from a quick-sized LM says nothing of LSTMs in general.

Quick: LSTM, hidden 32, 400 recall updates, three seeds, plus the small LM. Full (sized
for one GPU, a few minutes; hours on a CPU): LSTM and GRU spans, hidden 128, distances up
to 2000, 2000 updates, five seeds, plus the large LM.
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
CLAIM = ('The chapter, of LSTMs and GRUs: "Effective context window is limited (typically 100-300 tokens)" and '
         '"Information gets diluted over distance" (it also says an LSTM "Can maintain information over hundreds '
         'of time steps"). Tested: gated RNNs use about the last 100-300 tokens of their input, little beyond.')
LOW, HIGH, FAR = 100, 300, 600  # the claimed range, and twice its top
TEST_SEED = 777


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
    test_sequences: int = 256
    solid: float = 0.9  # accuracy that counts as recalled
    lm: LMConfig | None = None  # the LM context ablation, which decides
    competent_loss: float = 4.0  # nats per token the LM must reach with the full context (confirm branch)


# a small LM the quick profile can afford (~20 CPU-seconds); its cosine schedule settles the end of a short budget
QUICK_LM = LMConfig(hidden=96, layers=1, embed_dim=64, seq_len=128, steps=250, batch_size=16, vocab_limit=1000,
                    lr=1e-2, schedule="cosine", windows=400, eval_chars=80_000)

PROFILES = {
    "quick": Config(lm=QUICK_LM),
    # one GPU: 2 archs x 5 seeds x 2000 updates at hidden 128 (long batches of 2000 steps) + one LM
    "full": Config(archs=("lstm", "gru"), distances=(20, 50, 100, 200, 300, 600, 1000, 2000), short=64,
                   values=8, hidden=128, steps=2000, lr=3e-3, test_sequences=512,
                   lm=LMConfig(), competent_loss=4.5),
}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(distances=(3, 8), short=4, long_share=0.5, hidden=8, embed_dim=8, steps=8,
              test_sequences=8,
              lm=LMConfig(tokenizer="char", vocab_limit=None, hidden=8, layers=1, embed_dim=8, seq_len=16, steps=4,
                          batch_size=4, contexts=(2, 4), full=8, windows=6, chunk=4, eval_chars=5000))


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


def span(accs: dict[int, float], solid: float) -> int:
    """The largest distance recalled with accuracy >= ``solid`` (0 when none): a lower bound."""
    return max([d for d, a in accs.items() if a >= solid], default=0)


def spec(cfg: Config, arch: str) -> ModelConfig:
    return ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=cfg.embed_dim,
                       forget_bias=cfg.forget_bias if arch == "lstm" else None)


RULE = ("archs", "solid", "lm", "competent_loss")


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
    """Recall by distance on the test sequences of ``arch`` trained with ``seed`` (lists follow ``distances``)."""
    cfg = config_of(Config, cfg)
    train_task, test_task = tasks(cfg)
    f = fit(spec(cfg, arch), train_task, cfg.steps, lr=cfg.lr, seed=seed, batch_size=cfg.batch_size,
            clip_norm=1.0)
    acc = recall_by_distance(f.model, test_task, cfg.test_sequences, TEST_SEED)
    return {"accuracy": [acc[d] for d in cfg.distances], "wall_time": f.wall_time}


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
    accs, rows = {}, []
    for arch in cfg.archs:
        for seed in seeds:
            r = results[f"{arch}-s{seed}"]
            accs[arch, seed] = dict(zip(cfg.distances, r["accuracy"]))
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
    return _verdict(result, accs, lm, cfg, seeds)


def _verdict(result, accs: dict, lm, cfg: Config, seeds):
    """The verdict read from the LM's effective context; the recall spans are reported beside it."""
    spans = {k: span(a, cfg.solid) for k, a in accs.items()}
    result.notes.append("recall span (capacity, reported, not judged): " + "; ".join(
        f"{a} seed {s}: {spans[a, s]} tokens" for a, s in spans)
        + f" (largest tested distance recalled with accuracy >= {cfg.solid}; tested up to {max(cfg.distances)})")
    med = {a: float(np.median([spans[a, s] for s in seeds])) for a in cfg.archs}
    span_text = "median recall span " + ", ".join(f"{a} {med[a]:g}" for a in cfg.archs)
    criterion = (f"E = the LM's effective context (the shortest context whose test loss is within the ablation's "
                 f"tolerance of the full context's). Refuted when E >= {FAR} (a lower bound: no gate); confirmed "
                 f"when {LOW} <= E <= {HIGH}, with the gates: the LM trained (training loss gained <= its converged "
                 f"share over the last quarter) and competent (full-context test loss <= {cfg.competent_loss} nats "
                 f"per token); inconclusive otherwise (E < {LOW} from a small model says nothing of LSTMs in "
                 "general). The recall spans are reported, not judged.")
    if lm is None:  # no LM in this profile: nothing decides
        return finish(result, "inconclusive", criterion, "no LM context ablation in this profile; " + span_text,
                      span_text, gates=[])
    far = lm.effective >= FAR
    gates = [] if far else _gates(lm, cfg)
    verdict = judge(enough=far or rules.gates_pass(gates), confirmed=LOW <= lm.effective <= HIGH, refuted=far)
    full_loss = lm.losses[cfg.lm.full]
    text = f"LM effective context {lm.effective} tokens (losses within {cfg.lm.tolerance:.0%} of the full context's)"
    if not far and lm.effective < LOW:
        text += f": below {LOW}, which a model this size cannot decide"
    return finish(result, verdict, criterion, f"{text}; full-context test loss {full_loss:.3f} nats; {span_text}",
                  f"{text}; {span_text} (tested up to {max(cfg.distances)})", gates=gates,
                  margins=[rules.Margin(f"LM effective context against {(HIGH + FAR) // 2} (midway between the range's top "
                                        f"and the far line; E takes the tested contexts' values)", lm.effective,
                                        (HIGH + FAR) // 2, "tokens")])


def _gates(lm, cfg: Config) -> list:
    """Training and competence of the LM, for the confirm branch."""
    return [rules.converged("LM trained (training loss, block means)", lm.curve, cfg.lm.converged * lm.curve[-1],
                            higher_is_better=False),
            rules.at_most("LM competent (full-context test loss, nats per token)", lm.losses[cfg.lm.full],
                          cfg.competent_loss)]
