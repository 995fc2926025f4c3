"""Translation quality by source-length band on a real corpus: one model, one seed, its scores per band.

The measuring step of the claims that read a curve of quality against source length
(C32, C33, C36): a model trains one recipe for exactly ``steps`` updates
(``nt_runs.recipe``) and is scored by greedy decoding on the test split, BLEU, chrF
and exact match per band (``seqlab.metrics`` buckets), and over the whole split.
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlab.experiments.core.nt_runs import recipe, train_and_score


@dataclass
class Banded:
    """One trained model's test scores per source band (bands without sentences dropped)."""

    label: str
    seed: int
    bands: list[str]
    n: list[int]
    bleu: list[float]
    chrf: list[float]
    exact: list[float]
    overall: dict  # whole test split: bleu, chrf, exact
    curve: list[float]  # dev chrF (numbers) or BLEU (NT) at even points, for the convergence gate
    seconds: float
    parameters: int

    def metric(self, name: str) -> list[float]:
        return {"bleu": self.bleu, "chrf": self.chrf, "exact": self.exact}[name]


def band_scores(label: str, data: dict, model: dict, steps: int, seed: int, buckets, *, eval_sentences: int,
                max_tokens: int, lr: float, limit: int | None) -> Banded:
    """Train ``model`` on ``data`` for ``steps`` updates (seed ``seed``) and score it per band."""
    r = train_and_score(label, recipe(data, model, steps, seed, eval_sentences, max_tokens, lr), limit, buckets)
    s = r.scores
    keep = [i for i, b in enumerate(s["accuracy_by_length"]) if b["n"]]
    pick = lambda key: [s[key][i]["score"] for i in keep]  # noqa: E731
    overall = {"bleu": s["bleu"], "chrf": s["chrf"], "exact": s["accuracy"]}
    return Banded(label, seed, [s["accuracy_by_length"][i]["bucket"] for i in keep],
                  [s["accuracy_by_length"][i]["n"] for i in keep], pick("bleu_by_length"), pick("chrf_by_length"),
                  pick("accuracy_by_length"), overall, r.curve, r.train_seconds, r.parameters)
