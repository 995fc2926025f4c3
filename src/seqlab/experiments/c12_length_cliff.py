"""C12: without attention, quality falls sharply as sources grow; attention flattens the curve.

Seq2seq (fixed-vector bottleneck), Bahdanau, Luong (general, global) and a Transformer,
each trained for the same training-time budget, scored per source-length bucket
(1-10, 11-20, 21-30, 31+ words; 5-word buckets for numbers). Quick profile: English -> German number words with
lengths spread over all buckets (chrF); full profile: Greek -> English NT (BLEU).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from seqlab.config import to_dict
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.translation_runs import NT, NUMBERS, learning_curves, length_rows, metric_name, recipe, train_and_score
from seqlab.metrics import LENGTH_BUCKETS

CLAIM_ID = "C12"
CLAIM = ("An encoder-decoder that squeezes the source into one vector loses quality quickly as sentences get "
         "longer; attention keeps long sentences close to short ones.")

MODELS = (
    ("seq2seq", {"arch": "seq2seq", "embed_dim": 128, "hidden": 256, "layers": 2}),
    ("bahdanau", {"arch": "bahdanau", "embed_dim": 128, "hidden": 256, "layers": 1, "cell": "gru"}),
    ("luong-general", {"arch": "luong", "embed_dim": 128, "hidden": 256, "layers": 2}),
    ("transformer", {"arch": "transformer", "hidden": 256, "layers": 3, "heads": 4, "ff": 1024}),
)


@dataclass(frozen=True)
class Config:
    data: dict
    models: tuple = MODELS
    minutes: float = 2.0
    max_steps: int | None = None
    eval_sentences: int = 100  # dev sentences decoded for each point of the learning curve
    limit: int | None = 300
    margin: float = 5.0  # score points by which seq2seq must fall further than attention
    min_short: float = 20.0  # seq2seq must reach this on short inputs for the comparison to mean anything
    buckets: tuple = LENGTH_BUCKETS
    seed: int = 0


# At 15 digits number words stop near 30 English words: finer buckets there.
NUMBER_BUCKETS = ((1, 5), (6, 10), (11, 15), (16, 20), (21, None))
PROFILES = {"quick": Config(NUMBERS, minutes=0.6, eval_sentences=50, buckets=NUMBER_BUCKETS), "full": Config(NT, minutes=30.0, limit=None)}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    return run_config(PROFILES[check_profile(profile)], profile)


def run_config(cfg: Config, profile: str = "quick"):
    corpus = cfg.data["corpus"]
    result = new_result(CLAIM_ID, CLAIM, (
        f"{corpus}: {', '.join(m for m, _ in cfg.models)}, each trained {cfg.minutes} min of training time "
        f"on this machine; greedy decoding; {metric_name(corpus)} per source-length bucket on the test split "
        f"({cfg.limit or 'all'} pairs)."), profile, to_dict(cfg), cfg.seed)
    runs = [train_and_score(label, recipe(cfg.data, model, cfg.minutes, cfg.seed, cfg.max_steps, cfg.eval_sentences),
                            cfg.limit, buckets=cfg.buckets)
            for label, model in cfg.models]
    columns, rows = length_rows(runs, corpus)
    result.add_table(f"{metric_name(corpus)} by source length", columns, rows)
    result.add_table("models", ["model", "parameters", "training s", "target tokens/s", metric_name(corpus)],
                     [[r.label, r.parameters, r.train_seconds, r.tokens_per_s, r.headline(corpus)] for r in runs])
    result.add_figure("learning_curves", "Dev score against training time.",
                      learning_curves(runs, cfg.data["corpus"]))
    return _verdict(result, runs, cfg, corpus)


def drop(scores: list[dict]) -> tuple[float, float, float]:
    """(first, last, first - last) over the non-empty buckets."""
    vals = [b["score"] for b in scores if b["n"] > 0 and not math.isnan(b["score"])]
    if len(vals) < 2:
        return math.nan, math.nan, math.nan
    return vals[0], vals[-1], vals[0] - vals[-1]


def _verdict(result, runs, cfg: Config, corpus: str):
    drops = {r.label: drop(r.by_length(corpus)) for r in runs}
    base = drops[cfg.models[0][0]]
    attn = {k: v for k, v in drops.items() if k != cfg.models[0][0]}
    worst_attn = max((v[2] for v in attn.values()), default=math.nan)
    best_attn = min((v[2] for v in attn.values()), default=math.nan)
    enough = base[0] >= cfg.min_short and not math.isnan(worst_attn)
    verdict = decide(enough=enough, confirmed=base[2] > worst_attn + cfg.margin, refuted=base[2] <= best_attn)
    return finish(result, verdict,
                  f"needs seq2seq to score >= {cfg.min_short} on the shortest bucket. Confirmed when its drop from the "
                  f"shortest to the longest bucket exceeds every attention model's drop by > {cfg.margin} points; "
                  "refuted when some attention model drops at least as much.",
                  "drop (shortest - longest bucket): " + ", ".join(f"{k} {v[2]:.1f}" for k, v in drops.items()),
                  f"seq2seq falls {base[2]:.1f} points from short to long inputs; attention models "
                  f"{best_attn:.1f}..{worst_attn:.1f}")
