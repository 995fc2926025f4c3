"""Small synthetic tasks built for single claims of the ledger.

Same protocol as ``seqlab.data.tasks``: ``sample(batch_size, generator) -> SeqBatch``,
``loss_kind``, ``chance_loss``, ``vocab_size``/``input_dim``, ``output_dim``, ``length``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.data.batch import SeqBatch


class _UniformTokens:
    """Shared by the tasks whose inputs and answers are uniform over ``alphabet`` symbols:
    without the information the answer needs, the best guess costs ln(alphabet)."""

    alphabet: int
    input_dim = None
    loss_kind = "ce"

    @property
    def vocab_size(self) -> int:
        return self.alphabet

    @property
    def output_dim(self) -> int:
        return self.alphabet

    @property
    def chance_loss(self) -> float:
        return math.log(self.alphabet)


@dataclass(frozen=True)
class DelayedEcho(_UniformTokens):
    """Emit the token seen ``delay`` steps ago: y_t = x_(t - delay), scored for t >= delay.

    Every step carries a fresh random token, so the dependency distance is exactly
    ``delay``: a model whose gradient never spans that distance (truncated BPTT
    with k2 <= delay) has no signal to learn it. Chance: ln(alphabet).
    """

    delay: int = 10
    length: int = 40
    alphabet: int = 4

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        x = torch.randint(0, self.alphabet, (batch_size, self.length), generator=generator)
        y = torch.zeros_like(x)
        y[:, self.delay :] = x[:, : self.length - self.delay]
        mask = torch.zeros(batch_size, self.length, dtype=torch.bool)
        mask[:, self.delay :] = True
        return SeqBatch(x, y, mask)


@dataclass(frozen=True)
class NextToken(_UniformTokens):
    """Label each token with its right neighbour: y_t = x_(t+1), scored for t < T.

    The answer lies strictly in the future, so a left-to-right model can do no
    better than chance (1/alphabet), while a bidirectional one can read it off.
    """

    length: int = 20
    alphabet: int = 8

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        x = torch.randint(0, self.alphabet, (batch_size, self.length), generator=generator)
        y = torch.zeros_like(x)
        y[:, :-1] = x[:, 1:]
        mask = torch.ones(batch_size, self.length, dtype=torch.bool)
        mask[:, -1] = False
        return SeqBatch(x, y, mask)


@dataclass(frozen=True)
class DecisiveToken:
    """A toy sentiment task: filler words plus decisive words; the label is a polarity.

    Tokens: 0 = unused, 1..fillers = neutral words, fillers+1 = "good",
    fillers+2 = "bad"; the label (0 = bad, 1 = good) is scored at the last step.
    ``rule="only"``: one decisive word at a position drawn from [lo, hi) (fractions
    of the length), so evaluation can place it early or late. ``rule="first"`` /
    ``"last"``: two decisive words of independent polarity at random positions
    ("bad ... but amazing"), and the label follows the first or the last of them.
    """

    length: int = 50
    fillers: int = 8
    lo: float = 0.0
    hi: float = 1.0
    rule: str = "only"

    input_dim = None
    loss_kind = "ce"
    output_dim = 2

    @property
    def vocab_size(self) -> int:
        return self.fillers + 3

    @property
    def chance_loss(self) -> float:
        return math.log(2)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, T = batch_size, self.length
        x = torch.randint(1, self.fillers + 1, (B, T), generator=generator)
        rows = torch.arange(B)
        if self.rule == "only":
            first, last = int(self.lo * T), max(int(self.hi * T), int(self.lo * T) + 1)
            where = torch.randint(first, min(last, T), (B,), generator=generator)
            label = torch.randint(0, 2, (B,), generator=generator)
            x[rows, where] = self.fillers + 2 - label  # good = fillers+1 (label 1), bad = fillers+2
        else:
            pos = torch.argsort(torch.rand(B, T - 1, generator=generator), dim=1)[:, :2].sort(dim=1).values  # (B, 2)
            pol = torch.randint(0, 2, (B, 2), generator=generator)
            x[rows, pos[:, 0]] = self.fillers + 2 - pol[:, 0]
            x[rows, pos[:, 1]] = self.fillers + 2 - pol[:, 1]
            label = pol[:, 0] if self.rule == "first" else pol[:, 1]
        y = torch.zeros(B, T, dtype=torch.long)
        y[:, -1] = label
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, -1] = True
        return SeqBatch(x, y, mask)
