"""The one batch type every task and corpus yields to the trainer."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class SeqBatch:
    """A batch of sequences with per-step targets and a mask of the steps that count.

    Attributes:
        x: inputs, (B, T) token ids (long) or (B, T, D) features (float).
        y: targets, (B, T) class ids (long) or (B, T, O) values (float).
        mask: (B, T) bool, True where a target is scored.
        lengths: (B,) true lengths for padded batches, or None when all are T.
    """

    x: torch.Tensor
    y: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor | None = None

    def to(self, device: torch.device | str) -> "SeqBatch":
        lengths = self.lengths  # lengths stay on the CPU, as pack_padded_sequence wants
        return SeqBatch(self.x.to(device), self.y.to(device), self.mask.to(device), lengths)

    def time_slice(self, start: int, stop: int) -> "SeqBatch":
        """Steps [start, stop) of every sequence (for truncated BPTT)."""
        return SeqBatch(self.x[:, start:stop], self.y[:, start:stop], self.mask[:, start:stop])

    def shard(self, rank: int, world: int) -> "SeqBatch":
        """This rank's equal share of the global batch (for DDP)."""
        n = self.x.shape[0]
        if n % world:
            raise ValueError(f"global batch {n} does not split evenly over {world} processes")
        k = n // world
        sl = slice(rank * k, (rank + 1) * k)
        lengths = None if self.lengths is None else self.lengths[sl]
        return SeqBatch(self.x[sl], self.y[sl], self.mask[sl], lengths)

    @property
    def num_steps(self) -> int:
        return self.x.shape[1]
