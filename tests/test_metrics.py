"""Metrics against sacrebleu itself and hand-worked alignment examples."""

import math

import numpy as np
import pytest
import sacrebleu

from seqlab.metrics import (
    alignment_error, argmax_links, bits_per_char, bleu, bleu_by_length, chrf, diagonal_links,
    LONG_BUCKETS, exact_match, perplexity, save_attention_heatmap, score_by_length, subword_to_word, word_attention,
)

HYPS = ["The cat sat on the mat.", "He went home, late.", "In the beginning was the Word"]
REFS = ["The cat sat on the mat.", "He went home late.", "In the beginning was the Word."]


def test_bleu_and_chrf_equal_sacrebleu():
    b, c = bleu(HYPS, REFS), chrf(HYPS, REFS)
    assert b.score == pytest.approx(sacrebleu.corpus_bleu(HYPS, [REFS]).score)
    assert c.score == pytest.approx(sacrebleu.corpus_chrf(HYPS, [REFS]).score)
    assert b.signature.startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert "chrF" in str(c) and c.n == 3
    assert bleu(REFS, REFS).score == pytest.approx(100.0)
    assert bleu(["the cat"], ["The cat"]).score < 100.0  # cased
    with pytest.raises(ValueError):
        bleu(HYPS, REFS[:2])


def test_exact_match_and_by_length():
    assert exact_match(["a b", " c"], ["a b", "d"]) == 50.0
    sources = ["one"] * 2 + [" ".join(["w"] * 15)] + [" ".join(["w"] * 40)]
    hyps, refs = ["x", "y", "z", "q"], ["x", "n", "z", "r"]
    rows = score_by_length(sources, hyps, refs, exact_match)
    assert [(r["bucket"], r["n"]) for r in rows] == [("1-10", 2), ("11-20", 1), ("21-30", 0), ("31+", 1)]
    assert rows[0]["score"] == 50.0 and rows[1]["score"] == 100.0 and math.isnan(rows[2]["score"])
    rows = bleu_by_length(["a b c"] * 3, HYPS, REFS)
    assert rows[0]["n"] == 3 and rows[0]["score"] == pytest.approx(bleu(HYPS, REFS).score)


def test_score_by_length_uses_given_lengths():
    # "twenty-one" is one whitespace word but two English number words: the corpus's count wins.
    rows = score_by_length(["twenty-one", "one"], ["a", "b"], ["a", "c"], exact_match, LONG_BUCKETS, lengths=[41, 2])
    assert [(r["bucket"], r["n"]) for r in rows] == [("1-10", 1), ("11-20", 0), ("21-30", 0), ("31-40", 0),
                                                     ("41+", 1)]
    assert rows[0]["score"] == 0.0 and rows[-1]["score"] == 100.0
    with pytest.raises(ValueError, match="lengths"):
        score_by_length(["a"], ["a"], ["a"], exact_match, lengths=[1, 2])


def test_perplexity_and_bits_per_char():
    assert perplexity(math.log(7.0)) == pytest.approx(7.0)
    assert bits_per_char(10 * math.log(2.0), 5) == pytest.approx(2.0)


def test_subword_to_word_by_characters():
    words = ["In", "the", "beginning", "."]
    pieces = ["\u2581In", "\u2581the", "\u2581begin", "ning", "."]
    assert subword_to_word(pieces, words) == [0, 1, 2, 2, 3]
    assert subword_to_word(["\u2581", "a", "bc"], ["a", "bc"]) == [0, 0, 1]


def test_word_attention_sums_subwords():
    weights = np.array([[0.5, 0.25, 0.25], [0.1, 0.1, 0.8], [0.0, 1.0, 0.0]])  # 3 target x 3 source pieces
    out = word_attention(weights, tgt_word=[0, 0, 1], src_word=[0, 1, 1], n_tgt=2, n_src=2)
    assert np.allclose(out, [[0.6, 1.4], [0.0, 1.0]])


def test_aer_hand_worked():
    # English has 3 words, Greek 3. Attention argmax links: (0,0), (2,1), (2,2).
    word_weights = np.array([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6], [0.2, 0.1, 0.7]])
    pred = argmax_links(word_weights)
    assert pred == {(0, 0), (2, 1), (2, 2)}
    gold = {(0, 0), (1, 1), (2, 2), (2, 1)}
    # |A & G| = 3, |A| = 3, |G| = 4 -> P = 1, R = 3/4, F1 = 6/7, AER = 1/7
    scores = alignment_error([pred], [gold])
    assert scores["precision"] == 1.0 and scores["recall"] == 0.75
    assert scores["aer"] == pytest.approx(1 / 7)
    # corpus level pools the counts: a second sentence with 0 of 1 right
    scores = alignment_error([pred, {(0, 0)}], [gold, {(1, 0)}])
    assert scores["aer"] == pytest.approx(1 - 2 * 3 / (4 + 5))


def test_diagonal_aligner():
    assert diagonal_links(3, 3) == {(0, 0), (1, 1), (2, 2)}
    assert diagonal_links(2, 4) == {(0, 0), (0, 1), (1, 2), (1, 3)}
    assert diagonal_links(4, 2) == {(1, 0), (3, 1)}


def test_heatmap_png(tmp_path):
    src, tgt = ["Ἐν", "ἀρχῇ", "<b>"], ["In", "the", "beginning"]
    path = save_attention_heatmap(np.eye(3), src, tgt, tmp_path / "a.png", "t")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        save_attention_heatmap(np.eye(2), ["a"], ["b", "c"], tmp_path / "b.png")
