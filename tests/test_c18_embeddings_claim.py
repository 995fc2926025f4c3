"""C18: the hand-labelled senses, the separation measure on constructed vectors, and the verdict rule.

(The embedding models themselves: test_embeddings.py; TINY determinism: test_ledger_determinism.py.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import torch

from seqlab.embeddings.contextual import BiLM
from seqlab.embeddings.words import WordVocab
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import new_result
from seqlab.experiments.problem.c18_contextual_embeddings import (
    CLAIM, PROFILES, Labelled, _verdict, config, context_of, label_problems, measure, read_senses, separation,
    separation_p,
)

CFG = PROFILES["quick"]


# --- the labelled data --------------------------------------------------------------------------------------

def test_senses_file_parses_into_six_words_with_two_balanced_senses():
    labels = read_senses()
    per_word = Counter(lab.word for lab in labels)
    assert len(per_word) == 6
    for word in per_word:
        senses = Counter(lab.sense for lab in labels if lab.word == word)
        assert len(senses) == 2, word
        assert min(senses.values()) >= 8, (word, senses)
    assert len({(lab.verse, lab.position) for lab in labels}) == len(labels)  # no occurrence labelled twice
    for lab in labels:  # the reader's reference names the same chapter and verse as the key
        chapter, verse = lab.ref.split()[-1].split(":")
        assert (int(lab.verse[2:5]), int(lab.verse[5:])) == (int(chapter), int(verse)), lab
        assert f"[{lab.word}]" in lab.context


def test_every_label_points_at_its_word_in_the_corpus():
    from seqlab.data.corpora import SPLITS, load_corpus
    from seqlab.embeddings.words import words

    corpus = load_corpus("bsb_en")
    verses = {k: words(t) for s in SPLITS for k, t in corpus.splits[s]}
    assert label_problems(read_senses(), verses) == []


def _toy():
    verses = {"a": ["she", "drew", "from", "the", "well"], "b": ["it", "went", "well", "for", "him"],
              "c": ["the", "well", "is", "deep"], "d": ["he", "did", "well"]}
    labels = [Labelled("well", "water", "a", "X 1:1", 4, context_of(verses["a"], 4)),
              Labelled("well", "adverb", "b", "X 1:2", 2, context_of(verses["b"], 2)),
              Labelled("well", "water", "c", "X 1:3", 1, context_of(verses["c"], 1)),
              Labelled("well", "adverb", "d", "X 1:4", 2, context_of(verses["d"], 2))]
    return verses, labels


def test_label_problems_name_a_label_that_misses_its_word():
    verses, labels = _toy()
    assert label_problems(labels, verses) == []
    moved = [replace(labels[0], position=3), *labels[1:]]  # "the", not "well"
    assert len(label_problems(moved, verses)) == 1
    wrong_context = [replace(labels[1], context="it went [well] for her"), *labels[2:], labels[0]]
    assert "context" in label_problems(wrong_context, verses)[0]
    assert label_problems(labels, {**verses, "c": ["the", "spring", "is", "deep"]})
    one_sense = [replace(lab, sense="water") for lab in labels]
    assert label_problems(one_sense, verses) == ["'well' needs two senses with >= 2 occurrences each"]


def test_senses_file_reader_skips_comments():
    text = "# a comment\nword\tsense\tverse\tref\tposition\tcontext\nbow\tweapon\t01027003\tGen 27:3\t6\tx [bow] y\n"
    assert read_senses(text) == [Labelled("bow", "weapon", "01027003", "Gen 27:3", 6, "x [bow] y")]


# --- the separation measure on constructed vectors ------------------------------------------------------------

def test_separation_of_two_orthogonal_clusters_is_one():
    e1, e2 = np.eye(2)
    s, d = separation(np.stack([e1, 3 * e1, e2, 0.5 * e2]), ["a", "a", "b", "b"])  # lengths do not matter
    assert s == pytest.approx(1.0) and d == pytest.approx([1, 1, 1, 1])


def test_separation_by_hand():
    e1, e2 = np.eye(2)
    # a: e1, e1; b: e1, e2. i=0,1: within 1, between (1 + 0) / 2 -> +0.5; i=2: within 0, between 1 -> -1;
    # i=3: within 0, between 0 -> 0
    s, d = separation(np.stack([e1, e1, e1, e2]), ["a", "a", "b", "b"])
    assert d == pytest.approx([0.5, 0.5, -1.0, 0.0]) and s == pytest.approx(0.0)
    # a 60-degree pair inside sense a, both orthogonal to b's single direction
    u = np.array([np.cos(np.pi / 3), np.sin(np.pi / 3), 0.0])
    s, d = separation(np.stack([np.array([1.0, 0, 0]), u, np.array([0, 0, 1.0]), np.array([0, 0, 2.0])]),
                      ["a", "a", "b", "b"])
    assert d == pytest.approx([0.5, 0.5, 1.0, 1.0]) and s == pytest.approx(0.75)


def test_one_vector_per_word_separates_nothing():
    v = np.random.default_rng(0).normal(size=16)
    s, d = separation(np.stack([v] * 6), ["a", "b"] * 3)
    assert s == pytest.approx(0.0, abs=1e-12) and np.allclose(d, 0.0)


def test_measure_on_a_tiny_untrained_bilm():
    """Static S is 0 by construction; contextual S is a finite number for states that differ by verse."""
    verses, labels = _toy()
    vocab = WordVocab(sorted({w for ws in verses.values() for w in ws}))
    torch.manual_seed(0)
    out = measure(BiLM(len(vocab), 4, 6).eval(), vocab, labels, verses, draws=19, seed=0)
    static, contextual, p = out["well"]
    assert static == pytest.approx(0.0, abs=1e-12)
    assert np.isfinite(contextual) and 1 / 20 <= p <= 1.0  # p = (1 + hits) / (1 + draws)


def test_permutation_p_of_separation_needs_the_senses_apart():
    """Two tight sense clusters: no shuffle of 6 + 6 labels separates as well (p = 1 / (1 + draws)); identical
    vectors: every shuffle ties (p = 1)."""
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    senses = ["a"] * 6 + ["b"] * 6
    apart = np.stack([e1 + 0.01 * i * e2 for i in range(6)] + [e2 + 0.01 * i * e1 for i in range(6)])
    assert separation_p(apart, senses, 99, seed=0) == pytest.approx(1 / 100)
    assert separation_p(np.stack([e1] * 12), senses, 99, seed=0) == 1.0


# --- the verdict rule ---------------------------------------------------------------------------------------

def _decide(sep, gate_value=0.8):
    result = new_result("C18", CLAIM, "", "quick", config("quick"), seeds=list(sep))
    gates = [rules.at_most("competent LM", gate_value, CFG.competent)]
    return _verdict(result, sep, gates, CFG).verdict


def _sep_from_vectors(make, seeds=(0, 1, 2), n=12):
    """sep[seed][word] from constructed occurrence vectors: make(rng, senses) -> (N, D)."""
    out = {}
    for seed in seeds:
        rng = np.random.default_rng(seed)
        out[seed] = {}
        for w in ("well", "left", "lie", "bow", "rest", "lot"):
            senses = ["x"] * n + ["y"] * n
            vecs = make(rng, senses)
            out[seed][w] = (0.0, separation(vecs, senses)[0], separation_p(vecs, senses, 199, seed))
    return out


def _clustered(rng, senses):
    centres = {"x": rng.normal(size=32), "y": rng.normal(size=32)}
    return np.stack([centres[s] + 0.5 * rng.normal(size=32) for s in senses])


def test_sense_clusters_confirm():
    assert _decide(_sep_from_vectors(_clustered)) == "confirmed"


def test_static_like_vectors_refute():
    """Every occurrence of a word gets the same vector (what a static embedding does): S = 0 everywhere."""
    assert _decide(_sep_from_vectors(lambda rng, senses: np.tile(rng.normal(size=32), (len(senses), 1)))) == "refuted"


def test_sense_blind_context_vectors_refute():
    """Vectors that move with context but not with sense: the permutation test finds nothing."""
    sep = _sep_from_vectors(lambda rng, senses: rng.normal(size=(len(senses), 32)))
    assert all(rules.count(p < CFG.alpha for _, _, p in per.values()) <= CFG.max_words_refuted
               for per in sep.values())
    assert _decide(sep) == "refuted"


def test_a_failed_competence_gate_is_inconclusive():
    assert _decide(_sep_from_vectors(_clustered), gate_value=0.97) == "inconclusive"


def test_half_the_words_separating_is_inconclusive():
    sep = {s: {w: (0.0, 0.1, 0.001) if i < 3 else (0.0, 0.01, 0.3)
               for i, w in enumerate(("well", "left", "lie", "bow", "rest", "lot"))} for s in (0, 1, 2)}
    assert _decide(sep) == "inconclusive"
    sep[1] = {w: (0.0, 0.1, 0.001) for w in sep[1]}  # all six in one seed is not enough: every seed counts
    assert _decide(sep) == "inconclusive"
