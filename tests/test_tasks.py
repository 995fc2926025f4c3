"""Synthetic tasks: determinism, structure, and the documented chance levels."""

from __future__ import annotations

import math

import pytest
import torch

from seqlab.data.tasks import TASKS, AddingProblem, AssociativeRecall, CopyMemory
from seqlab.train.losses import masked_loss


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("task", [AddingProblem(37), CopyMemory(13, 4, 5), AssociativeRecall(5, 8, 6)])
def test_same_seed_same_batch_and_different_seed_different_batch(task):
    a, b, c = task.sample(8, _gen(1)), task.sample(8, _gen(1)), task.sample(8, _gen(2))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.mask, b.mask)
    assert not torch.equal(a.x, c.x)
    assert a.x.shape[:2] == (8, task.length) and a.mask.shape == (8, task.length)


def test_adding_targets_are_the_sum_of_the_two_marked_values():
    batch = AddingProblem(50).sample(16, _gen())
    marks = batch.x[..., 1]
    assert torch.all(marks.sum(dim=1) == 2)
    assert torch.all(marks[:, :25].sum(dim=1) == 1)  # one mark in each half
    expected = (batch.x[..., 0] * marks).sum(dim=1)
    torch.testing.assert_close(batch.y[:, -1, 0], expected)
    assert batch.mask.sum().item() == 16 and batch.mask[:, -1].all()


def test_adding_chance_is_the_mse_of_always_predicting_one():
    task = AddingProblem(20)
    batch = task.sample(20000, _gen())
    loss, _ = masked_loss(torch.ones_like(batch.y), batch, "mse")
    assert loss.item() == pytest.approx(task.chance_loss, rel=0.03)
    assert task.chance_loss == pytest.approx(1 / 6)


def test_copy_recalls_the_first_symbols_after_the_delay():
    task = CopyMemory(delay=7, num_symbols=3, alphabet=4)
    batch = task.sample(5, _gen())
    k, T = 3, task.length
    assert T == 7 + 6
    assert torch.equal(batch.y[:, T - k :], batch.x[:, :k])
    assert torch.all(batch.x[:, T - k - 1] == 5)  # the "go" marker
    assert torch.all(batch.x[:, k : T - k - 1] == 0)
    assert batch.mask.sum().item() == 5 * k


def test_copy_chance_is_the_uniform_guess_cross_entropy():
    task = CopyMemory(delay=3, num_symbols=4, alphabet=6)
    batch = task.sample(2000, _gen())
    logits = torch.full((2000, task.length, task.output_dim), -1e9)
    logits[..., 1 : task.alphabet + 1] = 0.0  # uniform over the symbols
    loss, metrics = masked_loss(logits, batch, "ce")
    assert loss.item() == pytest.approx(math.log(6), rel=1e-6) == task.chance_loss


def test_recall_answer_is_the_value_stored_with_the_query_key():
    task = AssociativeRecall(num_pairs=4, num_keys=6, num_values=5)
    batch = task.sample(32, _gen())
    for x, y in zip(batch.x, batch.y):
        keys, values = x[0:8:2].tolist(), x[1:8:2].tolist()
        assert len(set(keys)) == 4 and x[8].item() == task.num_keys + task.num_values
        assert y[-1].item() == values[keys.index(x[-1].item())]


def test_registry_builds_every_task_with_defaults():
    for cls in TASKS.values():
        task = cls()
        assert task.chance_loss > 0 and task.loss_kind in ("mse", "ce")
