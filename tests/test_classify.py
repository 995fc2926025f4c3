"""Sequence classification: pooling by hand, padding invariance for every pooling,
the dev carve-out, and a short training run that beats chance on Japanese Vowels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqlab.classify import (
    ClassificationTask, SequenceClassifier, pad_features, pool_mean, train_classifier,
)
from seqlab.data.corpora import load_corpus


def test_mean_pool_by_hand():
    out = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])  # (1, 3, 2)
    assert pool_mean(out, None, torch.tensor([2]), 1).tolist() == [[2.0, 3.0]]


@pytest.mark.parametrize("arch, pooling, bidirectional", [
    ("lstm", "last", False), ("lstm", "last", True), ("gru", "mean", True), ("gru", "last", False),
])
def test_padding_does_not_change_the_prediction(arch, pooling, bidirectional):
    torch.manual_seed(0)
    model = SequenceClassifier(3, 5, 4, arch, num_layers=2, bidirectional=bidirectional,
                               pooling=pooling).eval()
    short, long = np.random.default_rng(0).normal(size=(2, 9, 3)).astype(np.float32)
    x, lengths = pad_features([short[:4], long])  # (2, 9, 3): the first item padded
    batched, _ = model(x, None, lengths=lengths)  # (2, 1, 4)
    alone, _ = model(torch.from_numpy(short[None, :4]), None)  # (1, 1, 4)
    torch.testing.assert_close(batched[:1], alone)


def needs_sktime():
    """The Japanese Vowels set ships inside sktime, an optional extra: skip (with the reason) without it."""
    pytest.importorskip("sktime.datasets", reason="sktime is not installed (pip install sktime)")


def test_task_splits_and_standardizes():
    needs_sktime()
    task = ClassificationTask(load_corpus("japanese_vowels"))
    assert (len(task.train), len(task.dev), len(task.test)) == (243, 27, 370)
    stacked = np.concatenate([x for x, _ in task.train])
    np.testing.assert_allclose(stacked.mean(axis=0), 0.0, atol=1e-4)
    batch = task.batch(task.test[:3])
    assert batch.x.shape[0] == 3 and batch.y.shape == (3, 1) and batch.mask.all()
    assert batch.lengths.tolist() == [len(x) for x, _ in task.test[:3]]
    assert task.chance_loss == pytest.approx(np.log(9))


def test_short_training_beats_chance(one_thread):
    needs_sktime()
    r = train_classifier("japanese_vowels", hidden=16, steps=60, lr=1e-2, device="cpu")
    assert r["test_accuracy"] > 0.5  # chance is 1/9
    assert r["test_items"] == 370
