"""C39: the truncated-BPTT table's rows on real text: a medium window captures paragraph-level
context, and backpropagating through the full sequence gains little more ("gradients vanish anyway").

A word-level LSTM language model on the BSB English text (``seqlab.data.lm.CorpusLM``,
word tokenizer, the state carried from batch to batch) trains three times on the same
batches (paired seeds), changing only how far gradients flow back: truncated BPTT with
k1 = k2 = ``small`` (the table's small row), k1 = k2 = ``medium`` (its 50-100 row), and
full BPTT through each ``length``-word sequence (its full-sequence row). The budget is
in batches: truncated BPTT makes one update per window, so the small window makes
length / small updates per batch, full BPTT one (the trainer's TBPTT, as in C8).

What each model learned to use is measured with C9's context ablation
(``limitations.context_ablation.context_losses``): the held-out loss of the next word
when only the last c words are visible, for c in a sweep up to ``length``. The context a
model uses beyond d words is U(d) = L(d) - L(length) (nats per word): what cutting the
text at d costs it.

Rule, fixed before the run, over paired seeds:

- *medium captures paragraph-level context* when the medium model uses more context beyond
  the small window than the small model does: U_medium(small) - U_small(small) >= 0.01 nats
  in every seed (refuted: <= 0 in a majority of seeds);
- *full sequence: gradients vanish anyway* when full BPTT adds little use of context beyond
  the medium window: U_full(medium) - U_medium(medium) <= 0.01 nats in every seed (refuted:
  >= 0.03 in a majority).

Confirmed when both rows hold, refuted when either is refuted. Gates: every model competent
(held-out loss with the full context <= 0.75 x the uniform loss ln V) and trained (training
loss gains <= 0.05 nats over its last quarter). Margins to both thresholds are reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.training import fit
from seqlab.experiments.limitations.context_ablation import block_means, context_losses

CLAIM_ID = "C39"
QUOTE = ("Medium (50-100) Moderate Okay - captures paragraph-level context; Full sequence Very High Best (in theory) "
         "- but gradients vanish anyway")
CLAIM = (f"The chapter's truncated-BPTT table (\"{QUOTE}\"): a medium window lets an LSTM use context a small one "
         "cannot, and full BPTT adds little beyond it. Real data: a word-level LM on the BSB English text.")
SMALL, MEDIUM, FULL = "small", "medium", "full"
VARIANTS = (SMALL, MEDIUM, FULL)


@dataclass(frozen=True)
class Config:
    length: int = 100  # words per training sequence (= the full-BPTT window)
    small: int = 10
    medium: int = 50
    contexts: tuple[int, ...] = (5, 10, 25, 50)  # ablation; plus the full length
    vocab: int = 1000  # word tokenizer's vocabulary (260 specials and bytes included)
    hidden: int = 64
    embed_dim: int = 32
    steps: int = 120
    batch_size: int = 8
    lr: float = 1e-2
    windows: int = 200  # scored test words in the ablation
    eval_chars: int = 20_000  # the trainer's end-of-run dev loss reads this much text (not used by the rule)
    gain: float = 0.01  # nats
    no_gain: float = 0.01
    refute_gain: float = 0.03
    competent: float = 0.75  # full-context loss / ln V at most this
    converged: float = 0.05  # nats over the last quarter


PROFILES = {"quick": Config(),
            "full": Config(length=400, small=25, medium=100, contexts=(10, 25, 50, 100, 200), vocab=8000, hidden=512,
                           embed_dim=256, steps=3000, batch_size=32, lr=2e-3, windows=2000)}  # one GPU
TINY = Config(length=16, small=2, medium=4, contexts=(2, 4), vocab=300, hidden=8, embed_dim=8, steps=4,
              batch_size=2, windows=8, eval_chars=1000, competent=10.0, converged=100.0)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def window(cfg: Config, variant: str) -> int:
    return {SMALL: cfg.small, MEDIUM: cfg.medium, FULL: cfg.length}[variant]


def train(cfg: Config, task, variant: str, seed: int, test_ids: torch.Tensor) -> dict:
    k = window(cfg, variant)
    spec = ModelConfig(arch="lstm", hidden_size=cfg.hidden, embed_dim=cfg.embed_dim, forget_bias=1.0)
    f = fit(spec, task, cfg.steps, lr=cfg.lr, seed=seed, batch_size=cfg.batch_size, clip_norm=1.0,
            tbptt=None if k >= cfg.length else (k, k))
    losses = context_losses(f.model, test_ids, cfg.contexts, cfg.length, cfg.windows)
    return {"losses": losses, "curve": block_means(f.curve.loss), "secs": f.wall_time}


def used_beyond(losses: dict[int, float], d: int, full: int) -> float:
    """U(d) = L(d) - L(full): the loss cutting the context at d words costs."""
    return losses[d] - losses[full]


def outcome(medium_gain: list[float], full_gain: list[float], cfg: Config) -> dict:
    """The rule on per-seed differences: U_medium(small) - U_small(small), U_full(medium) - U_medium(medium)."""
    majority = len(medium_gain) // 2 + 1
    rows = {"medium captures more": (all(g >= cfg.gain for g in medium_gain),
                                     rules.count(g <= 0 for g in medium_gain) >= majority),
            "full gains little more": (all(g <= cfg.no_gain for g in full_gain),
                                       rules.count(g >= cfg.refute_gain for g in full_gain) >= majority)}
    return {"rows": rows, "confirmed": all(c for c, _ in rows.values()), "refuted": any(r for _, r in rows.values()),
            "margins": {"medium captures more": min(medium_gain) - cfg.gain,
                        "full gains little more": cfg.no_gain - max(full_gain)}}


def run(profile: str = "quick"):
    from seqlab.data.corpora import load_corpus
    from seqlab.data.lm import CorpusLM

    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    task = CorpusLM(corpus="bsb_en", tokenizer="word", vocab_limit=cfg.vocab, seq_len=cfg.length,
                    eval_chars=cfg.eval_chars)
    text = load_corpus("bsb_en").text("test")
    test_ids = torch.as_tensor(task.tokenizer_obj.encode(text[:200_000]))
    result = new_result(CLAIM_ID, CLAIM, (
        f"bsb_en, word tokenizer ({cfg.vocab} ids), sequences of {cfg.length} words, the state carried across "
        f"batches. LSTM hidden {cfg.hidden}, embeddings {cfg.embed_dim}, Adam lr {cfg.lr}, clip 1.0, {cfg.steps} "
        f"updates of {cfg.batch_size} sequences; truncated BPTT k1 = k2 = {cfg.small} (small), {cfg.medium} "
        f"(medium), full BPTT over {cfg.length} (full); the same batches per seed, seeds {list(seeds)}. Ablation: "
        f"{cfg.windows} test words predicted from the last c words, c in {[*cfg.contexts, cfg.length]}."),
        profile, config(profile), seeds=seeds)
    runs = {(v, s): train(cfg, task, v, s, test_ids) for s in seeds for v in VARIANTS}
    cs = [*cfg.contexts, cfg.length]
    result.add_table("held-out loss (nats per word) with the last c words visible",
                     ["window", "seed", *(f"c={c}" for c in cs), "train s"],
                     [[v, s, *(runs[v, s]["losses"][c] for c in cs), round(runs[v, s]["secs"], 1)]
                      for v in VARIANTS for s in seeds], timing=["train s"])
    return _verdict(result, runs, cfg, seeds, math.log(task.vocab_size))


def _verdict(result, runs: dict, cfg: Config, seeds, uniform: float):
    U = {(v, s, d): used_beyond(runs[v, s]["losses"], d, cfg.length) for v in VARIANTS for s in seeds
         for d in (cfg.small, cfg.medium)}
    medium_gain = [U[MEDIUM, s, cfg.small] - U[SMALL, s, cfg.small] for s in seeds]
    full_gain = [U[FULL, s, cfg.medium] - U[MEDIUM, s, cfg.medium] for s in seeds]
    out = outcome(medium_gain, full_gain, cfg)
    result.add_table("context used beyond d: U(d) = L(d) - L(full), nats per word",
                     ["seed", *(f"{v}: U({d})" for v in VARIANTS for d in (cfg.small, cfg.medium)),
                      "U_medium(small) - U_small(small)", "U_full(medium) - U_medium(medium)"],
                     [[s, *(U[v, s, d] for v in VARIANTS for d in (cfg.small, cfg.medium)), m, f]
                      for s, m, f in zip(seeds, medium_gain, full_gain)])
    thresholds = {"medium captures more": cfg.gain, "full gains little more": cfg.no_gain}
    result.add_table("margin of each deciding number to its threshold (positive: on the claim's side)",
                     ["row", "holds", "refuted", "margin (nats)", "as a fraction"],
                     [[r, *out["rows"][r], m, m / thresholds[r]] for r, m in out["margins"].items()])
    gates = [rules.at_most(f"{v} competent (full-context loss / ln V, max over seeds)",
                           max(runs[v, s]["losses"][cfg.length] for s in seeds) / uniform, cfg.competent)
             for v in VARIANTS]
    gates += [rules.converged(f"{v} seed {s} trained (training loss)", runs[v, s]["curve"], cfg.converged,
                              higher_is_better=False) for v in VARIANTS for s in seeds]
    verdict = judge(enough=rules.gates_pass(gates), confirmed=out["confirmed"], refuted=out["refuted"])
    return finish(
        result, verdict,
        f"per seed U(d) = L(d) - L({cfg.length}). Medium row holds when U_medium({cfg.small}) - U_small({cfg.small}) "
        f">= {cfg.gain} nats in every seed (refuted: <= 0 in a majority); full row holds when U_full({cfg.medium}) - "
        f"U_medium({cfg.medium}) <= {cfg.no_gain} in every seed (refuted: >= {cfg.refute_gain} in a majority). "
        f"Confirmed when both hold, refuted when either is refuted. Gates: full-context loss <= {cfg.competent} x "
        f"ln V; training loss gains <= {cfg.converged} nats over the last quarter.",
        "U_medium(small) - U_small(small): " + ", ".join(f"{g:+.4f}" for g in medium_gain)
        + "; U_full(medium) - U_medium(medium): " + ", ".join(f"{g:+.4f}" for g in full_gain) + "; margins: "
        + ", ".join(f"{r} {m:+.4f} nats ({m / thresholds[r]:+.0%})" for r, m in out["margins"].items()),
        ", ".join(f"{r}: {'holds' if h else 'refuted' if x else 'unclear'}" for r, (h, x) in out["rows"].items()),
        gates=gates)
