"""Embeddings (claim C18): word splitting by hand, the BiLM's two halves read only their
own side of the context, the stream LM learns, static vectors cache, output format."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.data.tokenize import EOS, UNK
from seqlab.embeddings import BiLM, StreamLM, WordVocab, train_static, words
from seqlab.embeddings.compare import (
    Comparison, Occurrence, format_comparison, occurrences_of, random_pair_cosine,
)


def test_words_by_hand():
    assert words("The LORD’s bank, 12 cubits.") == ["the", "lord", "s", "bank", "cubits"]


def test_vocab_ids_and_stream():
    vocab = WordVocab.build([["a", "b", "a"], ["c", "a", "b"]], min_count=2, max_size=10)
    assert vocab.words == ["a", "b"] and len(vocab) == 6
    assert vocab.stream([["a", "c"], ["b"]]) == [4, UNK, EOS, 5, EOS]
    assert vocab.word(5) == "b" and vocab.word(EOS) == "</s>"


def test_contextual_halves_see_only_their_side():
    torch.manual_seed(0)
    bilm = BiLM(vocab_size=20, embed_dim=6, hidden=5).eval()
    H = 5
    base = bilm.encode([[4, 5, 6, 7]])[0]  # (4, 10)
    later = bilm.encode([[4, 5, 6, 9]])[0]  # the last word changed
    earlier = bilm.encode([[8, 5, 6, 7]])[0]  # the first word changed
    torch.testing.assert_close(base[:3, :H], later[:3, :H])  # forward half: left context only
    torch.testing.assert_close(base[1:, H:], earlier[1:, H:])  # backward half: right only
    assert not torch.allclose(base[1], later[1])  # word 5 in another context: another vector
    padded = bilm.encode([[4, 5, 6, 7], [5]])  # padding a batch changes nothing
    torch.testing.assert_close(padded[0], base)
    torch.testing.assert_close(padded[1], bilm.encode([[5]])[0])


def test_stream_lm_learns_a_cycle(one_thread):
    from seqlab.embeddings.contextual import make_lm
    from seqlab.train import TrainConfig, Trainer

    ids = [4, 5, 6, 7, EOS] * 200
    task = StreamLM(ids, ids[:200], vocab_size=8, chunk_len=10)
    torch.manual_seed(0)
    cfg = TrainConfig(steps=60, batch_size=4, lr=1e-2, eval_every=60, progress=False,
                      device="cpu")
    result = Trainer(make_lm(8, 8, 16), task, cfg).fit()
    assert result.final["loss"] < 0.2 * task.chance_loss


def test_static_vectors_train_and_cache(tmp_path):
    # the static vectors are gensim's Word2Vec, an optional extra: skip (with the reason) without it
    pytest.importorskip("gensim.models", reason="gensim is not installed (pip install gensim)")
    verses = [["the", "river", "bank"], ["the", "money", "bank"], ["the", "river", "flows"]] * 30
    a = train_static(verses, dim=8, epochs=2, min_count=1, cache_dir=tmp_path)
    b = train_static(verses, dim=8, epochs=2, min_count=1, cache_dir=tmp_path)
    assert set(a.words) == {"the", "river", "bank", "money", "flows"}
    np.testing.assert_allclose(np.linalg.norm(a.vectors, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(a.vectors, b.vectors)  # the second came from the cache
    assert [w for w, _ in a.neighbours(a.vector("bank"), 2, exclude={"bank"})] != ["bank"]


def test_occurrences_and_random_pairs():
    by_split = {"train": [("k1", ["a", "bank", "b", "bank"])], "dev": [], "test": [("k2", ["bank"])]}
    assert [(s, k, i) for s, k, _, i in occurrences_of("bank", by_split)] == [
        ("train", "k1", 1), ("train", "k1", 3), ("test", "k2", 0)]
    same = torch.ones(10, 3)
    assert random_pair_cosine(same) == pytest.approx(1.0)


def test_format_comparison():
    occ = [Occurrence("02007015", "train", "wait on the [bank] of the nile", 0.9,
                      [("shore", 0.5)])]
    text = format_comparison(Comparison("bank", [("river", 0.7)], occ, 0.6, 0.4, 0.2, 0.3, 100, 256))
    assert '"bank": 1 occurrences' in text and "self-similarity 1.000" in text
    assert "self-similarity 0.600" in text and "[bank] of the nile" in text
    assert "shore 0.50" in text and "random word pairs 0.200" in text
    assert "self-similarity 0.300 (random pairs ~0)" in text
