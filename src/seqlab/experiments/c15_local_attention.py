"""C15: local attention cuts the O(n m) cost of global attention.

The same Luong model (general score, input feeding) with global, local-m (window
around p_t = t) and local-p (predicted p_t, Gaussian weighting) attention of
half-width D. Cost is counted as source positions scored per target token (global: the
whole source, local: at most 2D + 1; seqlab's local attention gathers just those
positions) next to the measured training throughput, in which the recurrent layers
dominate; quality is measured on the test split.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlab.config import to_dict
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.translation_runs import NT, NUMBERS, learning_curves, metric_name, recipe, train_and_score
from seqlab.translation.config import mt_recipe_from_dict
from seqlab.translation.data import load_pairs

CLAIM_ID = "C15"
CLAIM = "Local attention, restricted to a window, cuts the O(n x m) cost of attending to the whole source."

LUONG = {"arch": "luong", "embed_dim": 128, "hidden": 256, "layers": 1, "score": "general"}


@dataclass(frozen=True)
class Config:
    data: dict
    half_width: int = 5
    minutes: float = 2.0
    max_steps: int | None = None
    eval_sentences: int = 100  # dev sentences decoded for each point of the learning curve
    limit: int | None = 300
    tolerance: float = 3.0  # local keeps quality within this many points of global
    min_score: float = 10.0
    seed: int = 0


PROFILES = {"quick": Config(NUMBERS, minutes=0.5, eval_sentences=50), "full": Config(NT, half_width=10, minutes=30.0, limit=None)}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    return run_config(PROFILES[check_profile(profile)], profile)


def positions_scored(cfg: Config) -> tuple[float, float]:
    """Mean source tokens per test sentence (global cost per target token) and the local one, min(2D + 1, S)."""
    rec = mt_recipe_from_dict(recipe(cfg.data, LUONG, cfg.minutes, cfg.seed))
    words = [len(p.src.split()) for p in load_pairs(rec.data).splits["test"][: cfg.limit]]
    return sum(words) / len(words), sum(min(2 * cfg.half_width + 1, n) for n in words) / len(words)


def run_config(cfg: Config, profile: str = "quick"):
    corpus = cfg.data["corpus"]
    result = new_result(CLAIM_ID, CLAIM, (
        f"{corpus}: Luong general attention, global vs local-m vs local-p with D = {cfg.half_width}, each "
        f"{cfg.minutes} min of training time; {metric_name(corpus)} on {cfg.limit or 'all'} test pairs."),
        profile, to_dict(cfg), cfg.seed)
    runs = [train_and_score(mode, recipe(cfg.data, {**LUONG, "attention": mode, "half_width": cfg.half_width},
                                         cfg.minutes, cfg.seed, cfg.max_steps, cfg.eval_sentences), cfg.limit)
            for mode in ("global", "local-m", "local-p")]
    full, window = positions_scored(cfg)  # in source words, as a proxy for tokens
    cost = {"global": full, "local-m": window, "local-p": window}
    result.add_table("global vs local attention",
                     ["attention", metric_name(corpus), "source words scored per target token", "target tokens/s"],
                     [[r.label, r.headline(corpus), cost[r.label], r.tokens_per_s] for r in runs])
    result.add_figure("learning_curves", "Dev score against training time.",
                      learning_curves(runs, cfg.data["corpus"]))
    q = {r.label: r.headline(corpus) for r in runs}
    best_local = max(q["local-m"], q["local-p"])
    enough = q["global"] >= cfg.min_score and full > 2 * cfg.half_width + 1
    verdict = decide(enough=enough, confirmed=window < 0.75 * full and best_local >= q["global"] - cfg.tolerance,
                     refuted=best_local < q["global"] - 2 * cfg.tolerance)
    return finish(result, verdict,
                  f"needs global attention to reach {cfg.min_score} and sources longer than the window. Confirmed when "
                  f"a local variant scores within {cfg.tolerance} points of global while scoring < 75% of the "
                  f"positions; refuted when the best local variant loses more than {2 * cfg.tolerance} points.",
                  f"{metric_name(corpus)}: " + ", ".join(f"{k} {v:.1f}" for k, v in q.items())
                  + f"; positions scored {full:.1f} (global) vs {window:.1f} (local)",
                  f"local attention scores {window / full:.0%} of the positions at "
                  f"{best_local - q['global']:+.1f} {metric_name(corpus)}")
