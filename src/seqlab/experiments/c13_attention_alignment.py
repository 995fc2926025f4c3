"""C13: attention weights behave as soft word alignments.

Attention models trained on Greek -> English NT read the test references (teacher
forcing); subword attention is summed into words and each English word is linked to
its most attended Greek word. The alignment error rate (AER = 1 - F1, the gold has no
sure/possible split) is compared with a diagonal aligner that knows only the lengths.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlab.config import to_dict
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.translation_runs import NT, learning_curves, recipe, train_and_score

CLAIM_ID = "C13"
CLAIM = "Attention weights line up with word alignments: they can be read as soft alignments."

MODELS = (
    ("bahdanau", {"arch": "bahdanau", "embed_dim": 128, "hidden": 256, "layers": 1, "cell": "gru"}),
    ("luong-general", {"arch": "luong", "embed_dim": 128, "hidden": 256, "layers": 1}),
    ("transformer", {"arch": "transformer", "hidden": 256, "layers": 3, "heads": 4, "ff": 1024}),
)


@dataclass(frozen=True)
class Config:
    data: dict
    models: tuple = MODELS
    minutes: float = 3.0
    max_steps: int | None = None
    eval_sentences: int = 100  # dev sentences decoded for each point of the learning curve
    limit: int | None = 200
    margin: float = 0.05  # AER below the diagonal floor by at least this much
    min_bleu: float = 2.0  # a model that learned nothing has arbitrary attention
    seed: int = 0


PROFILES = {"quick": Config(NT, minutes=0.75, eval_sentences=50), "full": Config(NT, minutes=30.0, limit=None)}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    return run_config(PROFILES[check_profile(profile)], profile)


def run_config(cfg: Config, profile: str = "quick"):
    result = new_result(CLAIM_ID, CLAIM, (
        f"{cfg.data['corpus']}: {', '.join(m for m, _ in cfg.models)}, each trained {cfg.minutes} min of training "
        f"time; AER of attention argmax links on {cfg.limit or 'all'} gold-aligned test verses, against a "
        "diagonal aligner."), profile, to_dict(cfg), cfg.seed)
    runs = [train_and_score(label, recipe(cfg.data, model, cfg.minutes, cfg.seed, cfg.max_steps, cfg.eval_sentences),
                            cfg.limit, aer=True)
            for label, model in cfg.models]
    rows = []
    for r in runs:
        a = r.scores["aer"] or {}
        rows.append([r.label, r.scores["bleu"], a.get("aer"), a.get("precision"), a.get("recall"),
                     a.get("diagonal_aer"), a.get("sentences")])
    result.add_table("alignment error rate (lower is better)",
                     ["model", "test BLEU", "AER", "precision", "recall", "diagonal AER", "verses"], rows)
    result.add_figure("learning_curves", "Dev score against training time.",
                      learning_curves(runs, cfg.data["corpus"]))
    return _verdict(result, runs, cfg)


def _verdict(result, runs, cfg: Config):
    trained = [r for r in runs if r.scores["bleu"] >= cfg.min_bleu and r.scores["aer"]]
    gaps = {r.label: r.scores["aer"]["diagonal_aer"] - r.scores["aer"]["aer"] for r in trained}
    verdict = decide(enough=bool(trained), confirmed=any(g >= cfg.margin for g in gaps.values()),
                     refuted=bool(gaps) and all(g <= 0 for g in gaps.values()))
    best = max(gaps, key=gaps.get) if gaps else None
    return finish(result, verdict,
                  f"needs a model with test BLEU >= {cfg.min_bleu}. Confirmed when some trained model's AER is at "
                  f"least {cfg.margin} below the diagonal aligner's; refuted when none beats the diagonal.",
                  "diagonal AER - attention AER: " + (", ".join(f"{k} {v:+.3f}" for k, v in gaps.items()) or "none"),
                  f"best: {best} beats the diagonal by {gaps[best]:+.3f} AER" if best else "no model trained enough")
