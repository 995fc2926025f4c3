"""C18's verdict rule on hand-made measurements (the models themselves: test_embeddings.py)."""

from __future__ import annotations

from seqlab.embeddings.compare import Comparison, Occurrence
from seqlab.experiments.base import new_result
from seqlab.experiments.c18_contextual_embeddings import CLAIM, PROFILES, _verdict, config


def _comparison(word: str, centered: float, n: int) -> Comparison:
    occ = [Occurrence(f"k{i}", "train", "a [w] b", 0.9, [("x", 0.5)]) for i in range(n)]
    return Comparison(word, [("y", 0.4)], occ, 0.95, 0.9, 0.55, centered, 100, 128)


def _decide(**words):
    cfg = PROFILES["quick"]
    result = new_result("C18", CLAIM, "", "quick", config("quick"))
    return _verdict(result, {w: _comparison(w, c, n) for w, (c, n) in words.items()}, cfg).verdict


def test_moving_contextual_vectors_confirm():
    assert _decide(bank=(0.88, 14)) == "confirmed"


def test_frozen_contextual_vectors_refute():
    assert _decide(bank=(0.9995, 14)) == "refuted"


def test_vectors_that_lost_the_word_do_not_confirm():
    assert _decide(bank=(0.02, 14)) == "inconclusive"


def test_too_few_occurrences_is_inconclusive():
    assert _decide(bank=(0.5, 2)) == "inconclusive"
