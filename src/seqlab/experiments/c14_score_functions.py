"""C14: Luong's dot score works nearly as well as the additive score, and is faster.

The same Luong model (global attention, input feeding) with three score functions:
dot h_t^T h_s, general h_t^T W h_s, and concat v^T tanh(W [h_t; h_s]) (the additive
form); Bahdanau's model is a reference row. Quality on the test split and training
throughput on this machine, for the same training-time budget.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlab.config import to_dict
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.translation_runs import NT, learning_curves, metric_name, recipe, train_and_score

CLAIM_ID = "C14"
CLAIM = "Dot-product attention scores translate nearly as well as additive ones and cost less."

NUMBERS = {"corpus": "numbers", "tokenizer": "unigram", "src_vocab": 500, "tgt_vocab": 500, "max_len": 400,
           "numbers_size": 12000, "numbers_max_words": 20, "numbers_max_digits": 9}
LUONG = {"arch": "luong", "embed_dim": 128, "hidden": 256, "layers": 1}
DOT, ADDITIVE = "luong-dot", "luong-concat (additive)"
MODELS = (
    (DOT, {**LUONG, "score": "dot"}),
    ("luong-general", {**LUONG, "score": "general"}),
    (ADDITIVE, {**LUONG, "score": "concat"}),
    ("bahdanau (additive)", {"arch": "bahdanau", "embed_dim": 128, "hidden": 256, "layers": 1, "cell": "gru"}),
)


@dataclass(frozen=True)
class Config:
    """``models`` must include the DOT and ADDITIVE labels, which the verdict compares."""

    data: dict
    models: tuple = MODELS
    minutes: float = 2.0
    max_steps: int | None = None
    eval_sentences: int = 100  # dev sentences decoded for each point of the learning curve
    limit: int | None = 300
    tolerance: float = 2.0  # "nearly as well": within this many points of additive
    min_score: float = 10.0
    seed: int = 0


PROFILES = {"quick": Config(NUMBERS, minutes=0.5, eval_sentences=50), "full": Config(NT, minutes=30.0, limit=None)}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    return run_config(PROFILES[check_profile(profile)], profile)


def run_config(cfg: Config, profile: str = "quick"):
    corpus = cfg.data["corpus"]
    result = new_result(CLAIM_ID, CLAIM, (
        f"{corpus}: {', '.join(m for m, _ in cfg.models)}, each {cfg.minutes} min of training time; greedy "
        f"decoding; {metric_name(corpus)} on {cfg.limit or 'all'} test pairs; throughput = target tokens per "
        "training second."), profile, to_dict(cfg), cfg.seed)
    runs = {label: train_and_score(label, recipe(cfg.data, model, cfg.minutes, cfg.seed, cfg.max_steps,
                                                 cfg.eval_sentences), cfg.limit)
            for label, model in cfg.models}
    result.add_table("score functions", ["model", "parameters", metric_name(corpus), "target tokens/s", "steps"],
                     [[r.label, r.parameters, r.headline(corpus), r.tokens_per_s, r.curve[-1]["step"]]
                      for r in runs.values()])
    result.add_figure("learning_curves", "Dev score against training time.",
                      learning_curves(list(runs.values()), corpus))
    dot, add = runs[DOT], runs[ADDITIVE]
    q_dot, q_add = dot.headline(corpus), add.headline(corpus)
    enough = max(q_dot, q_add) >= cfg.min_score
    close, faster = q_dot >= q_add - cfg.tolerance, dot.tokens_per_s > add.tokens_per_s
    verdict = decide(enough=enough, confirmed=close and faster, refuted=not close)
    return finish(result, verdict,
                  f"needs dot or concat to reach {metric_name(corpus)} {cfg.min_score}. Confirmed when dot scores "
                  f"within {cfg.tolerance} points of concat (additive) and trains faster; refuted when it falls "
                  "further behind.",
                  f"dot {q_dot:.1f} vs concat {q_add:.1f} {metric_name(corpus)}; {dot.tokens_per_s:,.0f} vs "
                  f"{add.tokens_per_s:,.0f} target tokens/s",
                  f"dot - additive = {q_dot - q_add:+.1f} {metric_name(corpus)}, "
                  f"throughput x{dot.tokens_per_s / max(add.tokens_per_s, 1e-9):.2f}")
