"""C25's task: recall one key token across a stated distance of distractor tokens.

    step 0          key k in 0..K-1                      (what must be remembered)
    steps 1..d-1    filler tokens drawn from K..K+F-1    (random distractors, never keys)
    step d          the query marker K+F                 (answer k is scored here only)

Length d + 1, so the dependency spans exactly ``distance`` = d steps and the distance is
the only thing that changes between the versions of the task: one symbol to carry, the
same alphabet, the same answer. Without the key the best guess is uniform over the K
keys (chance accuracy 1 / K, cross-entropy ln K). A recurrent net must carry k through
d - 1 updates of its state by random inputs; a causal Transformer can read step 0 from
step d in one attention step (keys and filler are different tokens, so the match is by
content, at any distance its sinusoidal positions cover: all of them).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.data.batch import SeqBatch


@dataclass(frozen=True)
class KeyRecall:
    """Report at step ``distance`` the key token shown at step 0 (see the module docstring)."""

    distance: int = 256
    keys: int = 8
    filler: int = 8

    input_dim = None
    loss_kind = "ce"

    def __post_init__(self) -> None:
        if self.distance < 1 or self.keys < 2 or self.filler < 1:
            raise ValueError(f"KeyRecall needs distance >= 1, keys >= 2, filler >= 1; got {self}")

    @property
    def vocab_size(self) -> int:
        return self.keys + self.filler + 1

    @property
    def output_dim(self) -> int:
        return self.keys

    @property
    def num_values(self) -> int:
        """Possible answers at the scored step (chance accuracy 1 / this)."""
        return self.keys

    @property
    def length(self) -> int:
        return self.distance + 1

    @property
    def chance_loss(self) -> float:
        return math.log(self.keys)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, d, K = batch_size, self.distance, self.keys
        key = torch.randint(0, K, (B,), generator=generator)  # (B,)
        x = torch.randint(K, K + self.filler, (B, d + 1), generator=generator)  # (B, T) filler
        x[:, 0] = key
        x[:, d] = K + self.filler  # the query marker
        y = torch.zeros(B, d + 1, dtype=torch.long)  # (B, T)
        y[:, d] = key
        mask = torch.zeros(B, d + 1, dtype=torch.bool)  # (B, T): the query step only
        mask[:, d] = True
        return SeqBatch(x, y, mask)
