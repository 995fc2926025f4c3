"""Memory tasks beyond ``seqlab.data.tasks``, for the long-dependency claims (C25).

Same protocol as ``seqlab.data.tasks``: ``sample(batch_size, generator) -> SeqBatch``,
``loss_kind``, ``chance_loss``, ``vocab_size`` / ``input_dim``, ``output_dim``, ``length``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.data.batch import SeqBatch


@dataclass(frozen=True)
class PairedRecall:
    """Associative recall with each key-value pair shown in one step.

    Steps 0..n-1 each show one pair as a two-hot vector [one_hot(key) | one_hot(value) | 0]
    (n distinct keys of ``num_keys``, values drawn from ``num_values``); the last step
    shows a query [one_hot(key) | 0 | 1] for one of the stored keys, and the answer (that
    key's value, 0..num_values-1) is scored there. Length n + 1; the queried pair lies
    1..n steps back. A model must keep all n pairs (a recurrent net in its state) or
    look them up (attention: the query's key matches the stored key in one step).
    Without the pairs the best guess is uniform: cross-entropy ln(num_values).

    Unlike ``AssociativeRecall`` (key and value in consecutive tokens, which needs two
    attention layers: one to pair each value with its key, one to look it up), one
    attention layer suffices here, so the task measures reach, not depth.
    """

    num_pairs: int = 12
    num_keys: int = 16
    num_values: int = 16

    vocab_size = None
    loss_kind = "ce"

    @property
    def input_dim(self) -> int:
        return self.num_keys + self.num_values + 1

    @property
    def output_dim(self) -> int:
        return self.num_values

    @property
    def length(self) -> int:
        return self.num_pairs + 1

    @property
    def chance_loss(self) -> float:
        return math.log(self.num_values)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        if self.num_pairs > self.num_keys:
            raise ValueError(f"num_pairs={self.num_pairs} needs at least that many keys (num_keys={self.num_keys})")
        B, n, K, V = batch_size, self.num_pairs, self.num_keys, self.num_values
        keys = torch.argsort(torch.rand(B, K, generator=generator), dim=1)[:, :n]  # (B, n) distinct
        values = torch.randint(0, V, (B, n), generator=generator)  # (B, n)
        which = torch.randint(0, n, (B,), generator=generator)  # (B,) the queried pair
        rows = torch.arange(B)
        x = torch.zeros(B, n + 1, self.input_dim)  # (B, T, K + V + 1)
        steps = torch.arange(n)
        x[rows[:, None], steps[None, :], keys] = 1.0
        x[rows[:, None], steps[None, :], K + values] = 1.0
        x[rows, n, keys[rows, which]] = 1.0
        x[:, n, K + V] = 1.0  # query flag
        y = torch.zeros(B, n + 1, dtype=torch.long)
        y[:, n] = values[rows, which]
        mask = torch.zeros(B, n + 1, dtype=torch.bool)
        mask[:, n] = True
        return SeqBatch(x, y, mask)
