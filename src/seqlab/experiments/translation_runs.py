"""Train and score translation models: the common measuring step of C12-C15.

Each run trains one recipe (``seqlab.translation``) for a fixed training-time budget
in a temporary folder, reloads it, and scores a split with ``evaluate_split``. The
corpus choice sets the headline metric: BLEU on ``nt_el_en``; chrF on ``numbers``,
where German writes a number below a million as one word, so word BLEU says little.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass

import numpy as np

from seqlab.diagnostics.plots import line_plot
from seqlab.metrics import LENGTH_BUCKETS
from seqlab.translation.config import mt_recipe_from_dict
from seqlab.translation.data import load_pairs
from seqlab.translation.evaluate import evaluate_split
from seqlab.translation.loop import load_translator, train_translator

# The data settings the translation claims share (C14 uses a shorter numbers range of its own).
NT = {"corpus": "nt_el_en", "tokenizer": "unigram", "src_vocab": 4000, "tgt_vocab": 4000}
NUMBERS = {"corpus": "numbers", "tokenizer": "unigram", "src_vocab": 500, "tgt_vocab": 500, "max_len": 400,
           "numbers_size": 12000, "numbers_min_words": 1, "numbers_max_words": 40, "numbers_max_digits": 15}


@dataclass(frozen=True)
class Scored:
    """One trained model's measurements."""

    label: str
    parameters: int
    train_seconds: float
    tokens_per_s: float
    curve: list[dict]
    scores: dict

    def headline(self, corpus: str) -> float:
        return self.scores["chrf" if corpus == "numbers" else "bleu"]

    def by_length(self, corpus: str) -> list[dict]:
        return self.scores["chrf_by_length" if corpus == "numbers" else "bleu_by_length"]


def metric_name(corpus: str) -> str:
    return "chrF" if corpus == "numbers" else "BLEU"


def recipe(data: dict, model: dict, minutes: float, seed: int, max_steps: int | None = None,
           eval_sentences: int = 100, max_tokens: int = 4096, lr: float = 1e-3) -> dict:
    """A translation recipe dict (see ``seqlab.translation.config``); dev BLEU every minutes / 4."""
    train = {"minutes": minutes, "max_tokens": max_tokens, "lr": lr, "seed": seed, "eval_sentences": eval_sentences,
             "eval_every_minutes": max(minutes / 4, 0.05)}
    if max_steps is not None:
        train["max_steps"] = max_steps
    return {"data": dict(data), "model": dict(model), "train": train}


def train_and_score(label: str, recipe_dict: dict, limit: int | None = None, beam: int = 1,
                    aer: bool = False, buckets=LENGTH_BUCKETS) -> Scored:
    """Train ``recipe_dict`` within its budget, then score its test split (first ``limit`` pairs)."""
    rec = mt_recipe_from_dict(recipe_dict)
    with tempfile.TemporaryDirectory(prefix="seqlab-mt-") as folder:
        result = train_translator(rec, folder, log=lambda line: None)
        model, src_tok, tgt_tok, _ = load_translator(folder)
        device = next(model.parameters()).device
        scores = evaluate_split(model, load_pairs(rec.data), "test", src_tok, tgt_tok, device, beam=beam,
                                max_len_ratio=rec.train.max_len_ratio, limit=limit, aer=aer, buckets=buckets)
    return Scored(label, result.parameters, result.train_seconds, result.tokens_per_second, result.history, scores)


def learning_curves(runs: list[Scored], corpus: str) -> bytes:
    """Dev BLEU (chrF for numbers) against training minutes, one line per model (PNG bytes)."""
    key = "dev_chrf" if corpus == "numbers" else "dev_bleu"
    curves = {r.label: (np.array([h["minutes"] for h in r.curve]), np.array([h[key] for h in r.curve]))
              for r in runs}
    return line_plot(curves, "learning curves", "training minutes", f"dev {metric_name(corpus)} (greedy)")


def length_rows(runs: list[Scored], corpus: str) -> tuple[list[str], list[list]]:
    """Columns and rows of the score-by-source-length table."""
    buckets = [b["bucket"] for b in runs[0].by_length(corpus)]
    columns = ["model", *(f"{metric_name(corpus)} {b}" for b in buckets), "sentences per bucket"]
    rows = [[r.label, *(b["score"] for b in r.by_length(corpus)), " / ".join(str(b["n"]) for b in r.by_length(corpus))]
            for r in runs]
    return columns, rows
