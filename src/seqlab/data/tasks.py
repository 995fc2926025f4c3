"""Synthetic long-range tasks: seeded, any length, with a documented chance level.

Every task yields :class:`SeqBatch` with per-step targets and a mask, so one trainer
(and one truncated-BPTT loop) serves them all. ``chance_loss`` is what a model that
ignores the long-range input achieves; beating it is what "learned the task" means.

Every field has the range in which the task is what its docstring says (``ranged``,
checked when a recipe is read), and a value outside it is one ``ConfigError`` naming
the key: two numbers to add need two steps, a copy needs a symbol, a pause and at least
two symbols to tell apart, recall needs as many keys as pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.config import ranged
from seqlab.data.batch import SeqBatch
from seqlab.errors import ConfigError


@dataclass(frozen=True)
class AddingProblem:
    """Hochreiter & Schmidhuber's adding problem.

    Input (B, T, 2): channel 0 holds uniform [0, 1) numbers, channel 1 marks two
    positions (one in each half). The target, scored at the last step only, is the
    sum of the two marked numbers. Predicting the mean sum 1 gives MSE = Var(u1 + u2)
    = 2/12 ~ 0.167: that is chance. ``length`` >= 2: one marked number in each half.
    """

    length: int = ranged(100, 2)

    input_dim = 2
    output_dim = 1
    vocab_size = None
    loss_kind = "mse"

    @property
    def chance_loss(self) -> float:
        return 2.0 / 12.0

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, T = batch_size, self.length
        values = torch.rand(B, T, generator=generator)
        half = max(T // 2, 1)
        first = torch.randint(0, half, (B,), generator=generator)
        second = torch.randint(half, T, (B,), generator=generator) if T > 1 else first
        marks = torch.zeros(B, T)
        rows = torch.arange(B)
        marks[rows, first] = 1.0
        marks[rows, second] = 1.0
        x = torch.stack([values, marks], dim=-1)  # (B, T, 2)
        y = torch.zeros(B, T, 1)
        y[:, -1, 0] = (values * marks).sum(dim=1)
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, -1] = True
        return SeqBatch(x, y, mask)


@dataclass(frozen=True)
class CopyMemory:
    """Copy memory: read ``num_symbols`` symbols, wait ``delay`` steps, write them back.

    Tokens: 0 = blank, 1..alphabet = symbols, alphabet + 1 = the "go" marker placed
    at the last blank before recall. Sequence length = delay + 2 * num_symbols. Only
    the final ``num_symbols`` steps are scored; a model that forgot the symbols can do
    no better than a uniform guess: cross-entropy ln(alphabet) per symbol.

    ``delay`` >= 1 (the "go" marker sits on the last blank; without a blank it would
    overwrite the last symbol), ``num_symbols`` >= 1, ``alphabet`` >= 2 (with one symbol
    there is nothing to remember: chance loss ln 1 = 0).
    """

    delay: int = ranged(100, 1)
    num_symbols: int = ranged(10, 1)
    alphabet: int = ranged(8, 2)

    input_dim = None
    loss_kind = "ce"

    @property
    def vocab_size(self) -> int:
        return self.alphabet + 2

    @property
    def output_dim(self) -> int:
        return self.alphabet + 2

    @property
    def length(self) -> int:
        return self.delay + 2 * self.num_symbols

    @property
    def chance_loss(self) -> float:
        return math.log(self.alphabet)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, k, T = batch_size, self.num_symbols, self.length
        symbols = torch.randint(1, self.alphabet + 1, (B, k), generator=generator)
        x = torch.zeros(B, T, dtype=torch.long)
        x[:, :k] = symbols
        x[:, T - k - 1] = self.alphabet + 1  # "go": start writing on the next step
        y = torch.zeros(B, T, dtype=torch.long)
        y[:, T - k :] = symbols
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, T - k :] = True
        return SeqBatch(x, y, mask)


@dataclass(frozen=True)
class AssociativeRecall:
    """Associative recall: ``num_pairs`` key-value pairs, a query marker, then a key.

    Tokens: keys 0..K-1, values K..K+V-1, the query marker K+V. The answer (the value
    stored with the queried key) is scored at the last step. Without memory of the
    pairs the best guess is uniform over values: cross-entropy ln(V).

    The pairs' keys are distinct: ``num_pairs`` <= ``num_keys``; ``num_values`` >= 2
    (a single value would be known without memory: chance loss ln 1 = 0).
    """

    num_pairs: int = ranged(8, 1)
    num_keys: int = ranged(16, 1)
    num_values: int = ranged(16, 2)

    def __post_init__(self) -> None:
        if self.num_pairs > self.num_keys:
            raise ConfigError(f"'task.num_pairs' is {self.num_pairs}, more than 'task.num_keys' ({self.num_keys}): "
                              f"each pair needs its own key")

    input_dim = None
    loss_kind = "ce"

    @property
    def vocab_size(self) -> int:
        return self.num_keys + self.num_values + 1

    @property
    def output_dim(self) -> int:
        return self.vocab_size

    @property
    def length(self) -> int:
        return 2 * self.num_pairs + 2

    @property
    def chance_loss(self) -> float:
        return math.log(self.num_values)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, n, T = batch_size, self.num_pairs, self.length
        keys = torch.argsort(torch.rand(B, self.num_keys, generator=generator), dim=1)[:, :n]
        values = torch.randint(0, self.num_values, (B, n), generator=generator) + self.num_keys
        x = torch.zeros(B, T, dtype=torch.long)
        x[:, 0 : 2 * n : 2] = keys
        x[:, 1 : 2 * n : 2] = values
        x[:, 2 * n] = self.num_keys + self.num_values  # query marker
        which = torch.randint(0, n, (B,), generator=generator)
        rows = torch.arange(B)
        x[:, -1] = keys[rows, which]
        y = torch.zeros(B, T, dtype=torch.long)
        y[:, -1] = values[rows, which]
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, -1] = True
        return SeqBatch(x, y, mask)


# The CLI's name -> task class map (the only one).
TASKS = {
    "adding": AddingProblem,
    "copy": CopyMemory,
    "recall": AssociativeRecall,
}
