"""Synthetic tasks for the context claims (C9 memory span, C30 the failure table).

Same protocol as :mod:`seqlab.data.tasks`: ``sample(batch_size, generator) -> SeqBatch``,
``loss_kind``, ``chance_loss``, ``vocab_size``/``input_dim``, ``output_dim``, ``length``.
Each task also has ``sample_detailed``, which returns the batch together with the
label of every scored step (a distance, a variant), so a claim can break accuracy
down by that label from one forward pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.data.batch import SeqBatch


@dataclass(frozen=True)
class DistanceRecall:
    """Key-value recall with one stored pair per distance, all distances in one sequence.

    A pair is one token, "key k holds value v" (``keys * values`` such tokens), so the
    task measures how far back a stored value survives, not how quickly a model learns
    to bind a key token to the token after it. Layout (length T = max(distances) + 1 +
    n, n = len(distances)): random filler words everywhere except one pair token exactly
    ``d`` steps before the query marker for each distance d; then the marker and the n
    keys as query tokens in a random order. At each query the model outputs that key's
    value; every query is scored, so one sequence measures every distance. The keys of
    a sequence are distinct and randomly assigned to distances; values are uniform.

    Tokens: 0 unused, 1..fillers filler, then the pair tokens (key k, value v) at
    ``fillers + 1 + k * values + v``, then the ``keys`` query tokens, then the marker.
    Targets are value indices 0..values-1. Without the pair in memory the best guess is
    uniform: chance loss ln(values), chance accuracy 1 / values.
    """

    distances: tuple[int, ...] = (20, 50, 100, 200, 300, 600)
    fillers: int = 8
    keys: int = 6
    values: int = 8

    input_dim = None
    loss_kind = "ce"

    def __post_init__(self) -> None:
        d = self.distances
        if len(set(d)) != len(d) or min(d) < 1:
            raise ValueError(f"distances must be distinct and >= 1, got {d}")
        if len(d) > self.keys:
            raise ValueError(f"{len(d)} distances need at least that many keys, got {self.keys}")

    @property
    def vocab_size(self) -> int:
        return self.fillers + self.keys * self.values + self.keys + 2

    @property
    def output_dim(self) -> int:
        return self.values

    @property
    def length(self) -> int:
        return max(self.distances) + 1 + len(self.distances)

    @property
    def chance_loss(self) -> float:
        return math.log(self.values)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        return self.sample_detailed(batch_size, generator)[0]

    def sample_detailed(self, batch_size: int, generator: torch.Generator) -> tuple[SeqBatch, torch.Tensor]:
        """The batch and, per step, the distance its query spans (-1 on unscored steps)."""
        dist = torch.as_tensor(self.distances, dtype=torch.long).expand(batch_size, -1)  # (B, n)
        return recall_batch(dist, self.length, self.fillers, self.keys, self.values, generator)


@dataclass(frozen=True)
class MixedRecall(DistanceRecall):
    """The training version of :class:`DistanceRecall`: ``pairs`` pairs per sequence at distinct
    random distances, distance d drawn with weight 1/d (short ones often, so learning can start).

    A batch is long (distances up to ``span``, length span + 1 + pairs) with probability
    ``long_share``, else short (distances up to ``short``): the long batches show the model
    the full stretch of fillers it is tested on, the short ones make most updates cheap. A
    long batch holds ``long_rows`` x the batch size sequences (still ~3x the tokens of a
    short batch at the defaults). ``length`` is the long length.
    """

    distances: tuple[int, ...] = ()
    pairs: int = 6
    span: int = 600
    short: int = 48
    long_share: float = 0.25
    long_rows: float = 0.25  # a long batch holds this fraction of batch_size sequences (at least 1)
    uniform: bool = False  # distances uniform over 1..span instead of ~ 1/d

    def __post_init__(self) -> None:
        if self.pairs > min(self.keys, self.span, self.short):
            raise ValueError(f"{self.pairs} pairs need as many keys and spans >= {self.pairs}")

    @property
    def length(self) -> int:
        return self.span + 1 + self.pairs

    def sample_detailed(self, batch_size: int, generator: torch.Generator) -> tuple[SeqBatch, torch.Tensor]:
        long = torch.rand((), generator=generator).item() < self.long_share
        span = self.span if long else self.short
        batch_size = max(1, round(batch_size * self.long_rows)) if long else batch_size
        weight = torch.ones(span) if self.uniform else 1.0 / torch.arange(1, span + 1, dtype=torch.float)  # (span,)
        dist = torch.multinomial(weight.expand(batch_size, -1), self.pairs, generator=generator) + 1  # (B, pairs)
        return recall_batch(dist, span + 1 + self.pairs, self.fillers, self.keys, self.values, generator)


def recall_batch(dist: torch.Tensor, length: int, fillers: int, keys: int, values: int,
                 generator: torch.Generator) -> tuple[SeqBatch, torch.Tensor]:
    """Fillers holding one pair token per entry of ``dist`` (B, n), d steps before the query
    marker; then the marker and the n query keys in a random order, each scored on its value.
    Returns the batch and the distance of each scored step (-1 elsewhere)."""
    (B, n), T = dist.shape, length
    marker = T - n - 1
    x = torch.randint(1, fillers + 1, (B, T), generator=generator)  # (B, T) fillers
    key = torch.argsort(torch.rand(B, keys, generator=generator), dim=1)[:, :n]  # (B, n) distinct keys
    val = torch.randint(0, values, (B, n), generator=generator)  # (B, n)
    rows = torch.arange(B)[:, None]  # (B, 1)
    x[rows, marker - dist] = fillers + 1 + key * values + val  # the pair tokens
    x[:, marker] = fillers + keys * values + keys + 1
    order = torch.argsort(torch.rand(B, n, generator=generator), dim=1)  # (B, n): which pair each query asks
    x[:, marker + 1:] = fillers + keys * values + 1 + key.gather(1, order)  # query tokens
    y = torch.zeros(B, T, dtype=torch.long)
    y[:, marker + 1:] = val.gather(1, order)
    mask = torch.zeros(B, T, dtype=torch.bool)
    mask[:, marker + 1:] = True
    span = torch.full((B, T), -1, dtype=torch.long)
    span[:, marker + 1:] = dist.gather(1, order)
    return SeqBatch(x, y, mask), span


@dataclass(frozen=True)
class Coreference:
    """Which of two nouns does a later pronoun refer to? (the failure table's coreference row)

    "The trophy doesn't fit in the suitcase because it is too big": two different nouns,
    filler words, then the pronoun, whose predicate decides the referent. Tokens: 0
    unused, 1..fillers filler, then ``nouns`` nouns, then two pronoun tokens, "it (first)"
    (the predicate fits the first noun, like "too big") and "it (second)" ("too small").
    The first noun sits at a random position before the second; the second sits at least
    ``gap`` steps before the pronoun, which is the last token. The target at the pronoun
    is the referent noun (classes 0..nouns-1): chance ln(nouns) without the nouns, and a
    reader that keeps only the most recent noun is right half the time.
    """

    length: int = 24
    gap: int = 10
    nouns: int = 8
    fillers: int = 8

    input_dim = None
    loss_kind = "ce"

    def __post_init__(self) -> None:
        if self.length < self.gap + 3 or self.nouns < 2:
            raise ValueError(f"length {self.length} leaves no room for two nouns {self.gap} steps before the end")

    @property
    def vocab_size(self) -> int:
        return self.fillers + self.nouns + 3

    @property
    def output_dim(self) -> int:
        return self.nouns

    @property
    def chance_loss(self) -> float:
        return math.log(self.nouns)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, T, F = batch_size, self.length, self.fillers
        x = torch.randint(1, F + 1, (B, T), generator=generator)  # (B, T)
        last = T - 1 - self.gap  # the latest position of the second noun
        second = torch.randint(1, last + 1, (B,), generator=generator)  # (B,)
        first = (torch.rand(B, generator=generator) * second).long()  # (B,) uniform in [0, second)
        pick = torch.argsort(torch.rand(B, self.nouns, generator=generator), dim=1)[:, :2]  # (B, 2) distinct nouns
        rows = torch.arange(B)
        x[rows, first] = F + 1 + pick[:, 0]
        x[rows, second] = F + 1 + pick[:, 1]
        which = torch.randint(0, 2, (B,), generator=generator)  # 0: the first noun, 1: the second
        x[:, -1] = F + self.nouns + 1 + which
        y = torch.zeros(B, T, dtype=torch.long)
        y[:, -1] = pick[rows, which]
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, -1] = True
        return SeqBatch(x, y, mask)


@dataclass(frozen=True)
class ClauseSentiment:
    """First clause against last clause (the failure table's sentiment row).

    A sentence of two clauses joined by "but": each clause holds filler words and one
    polarity word ("good" / "bad", independent between the clauses); a full stop ends
    it. The label, read at the full stop, is the polarity of the *first* clause, so the
    last clause is a distractor of the same words. Tokens: 0 unused, 1..fillers filler,
    fillers+1 good, fillers+2 bad, fillers+3 "but", fillers+4 the full stop. The first
    clause has ``length // 2`` tokens. Chance 0.5; a reader that follows the most recent
    polarity word is right half the time.
    """

    length: int = 24
    fillers: int = 8

    input_dim = None
    loss_kind = "ce"
    output_dim = 2

    def __post_init__(self) -> None:
        if self.length < 5:
            raise ValueError(f"length {self.length} < 5 leaves no room for two clauses")

    @property
    def vocab_size(self) -> int:
        return self.fillers + 5

    @property
    def chance_loss(self) -> float:
        return math.log(2)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, T, F = batch_size, self.length, self.fillers
        m = T // 2  # "but" sits at m: clause 1 = [0, m), clause 2 = (m, T - 1)
        x = torch.randint(1, F + 1, (B, T), generator=generator)  # (B, T)
        rows = torch.arange(B)
        w1 = torch.randint(0, m, (B,), generator=generator)
        w2 = torch.randint(m + 1, T - 1, (B,), generator=generator)
        pol = torch.randint(0, 2, (B, 2), generator=generator)  # 1 = good
        x[rows, w1] = F + 2 - pol[:, 0]
        x[rows, w2] = F + 2 - pol[:, 1]
        x[:, m] = F + 3
        x[:, -1] = F + 4
        y = torch.zeros(B, T, dtype=torch.long)
        y[:, -1] = pol[:, 0]
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, -1] = True
        return SeqBatch(x, y, mask)
