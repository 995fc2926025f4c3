"""Batching real token data: padded sentence-pair batches and contiguous LM streams.

Sentence pairs (translation): pairs of similar length go together, so little of each
batch is padding, and a batch holds at most ``max_tokens`` padded positions (a token
budget rather than a fixed batch size: many short pairs or few long ones). Sorting by
length with a seeded random tie-break, cutting into batches, then shuffling the batch
order makes every epoch different but reproducible from (seed, epoch).

Language models: the token sequence is cut into B equal parallel streams, read in
chunks of T steps. Chunk k of stream b continues exactly where chunk k - 1 ended, so
the hidden state left by one chunk is the right initial state for the next: the
input truncated backpropagation through time needs.

Ids follow :mod:`seqlab.data.tokenize`: PAD = 0 fills, BOS = 1 starts the decoder
input, EOS = 2 ends the decoder target.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.data.batch import SeqBatch
from seqlab.data.tokenize import BOS, EOS, PAD
from seqlab.errors import SeqlabError


def pad_sequences(seqs: Sequence[Sequence[int]], pad: int = PAD):
    """Right-pad token lists into one tensor.

    Returns:
        tokens (B, T) long, mask (B, T) bool (True = real token), lengths (B,) long.
    """
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)  # (B,)
    T = int(lengths.max()) if len(seqs) else 0
    tokens = torch.full((len(seqs), T), pad, dtype=torch.long)  # (B, T)
    for b, s in enumerate(seqs):
        tokens[b, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T)
    return tokens, mask, lengths


@dataclass
class PairBatch:
    """A padded batch of (source, target) token sequences for an encoder-decoder.

    Attributes:
        src: (B, S) long source ids, right-padded with PAD.
        src_mask: (B, S) bool, True on real source tokens.
        src_lengths: (B,) long true source lengths (kept on the CPU).
        tgt_in: (B, T) long decoder input: BOS + target (teacher forcing).
        tgt_out: (B, T) long decoder target: target + EOS, PAD after.
        tgt_mask: (B, T) bool, True where tgt_out is scored.
        index: (B,) long positions of these pairs in the batcher's data, to look up
            references or gold alignments.
    """

    src: torch.Tensor
    src_mask: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    tgt_mask: torch.Tensor
    index: torch.Tensor

    def to(self, device: torch.device | str) -> "PairBatch":
        return PairBatch(self.src.to(device), self.src_mask.to(device), self.src_lengths,
                         self.tgt_in.to(device), self.tgt_out.to(device),
                         self.tgt_mask.to(device), self.index)

    @property
    def num_target_tokens(self) -> int:
        return int(self.tgt_mask.sum())


def collate_pairs(src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]],
                  index: Sequence[int]) -> PairBatch:
    """Pad a list of pairs; the decoder sees BOS + y and predicts y + EOS."""
    src_tokens, src_mask, src_lengths = pad_sequences(src)
    tgt_in, _, _ = pad_sequences([[BOS, *t] for t in tgt])
    tgt_out, tgt_mask, _ = pad_sequences([[*t, EOS] for t in tgt])
    return PairBatch(src_tokens, src_mask, src_lengths, tgt_in, tgt_out, tgt_mask,
                     torch.as_tensor(list(index), dtype=torch.long))


def bucket_batches(src_lengths: Sequence[int], tgt_lengths: Sequence[int], max_tokens: int,
                   seed: int, epoch: int = 0, shuffle: bool = True) -> list[list[int]]:
    """Group pair indices into batches of similar length within a token budget.

    A batch's cost is its padded size, B * max(S_max, T_max + 1) (the +1 is BOS/EOS).
    Pairs are sorted by (source length, target length, seeded random tie-break) and cut
    greedily so that no batch exceeds ``max_tokens``; a single pair over the budget
    forms a batch of its own. With ``shuffle`` the batch order is permuted too. The
    result depends only on the lengths, ``seed`` and ``epoch``.
    """
    if max_tokens < 1:
        raise SeqlabError(f"max_tokens must be positive, got {max_tokens}")
    rng = np.random.default_rng([seed, epoch])
    src_len = np.asarray(src_lengths, dtype=np.int64)
    tgt_len = np.asarray(tgt_lengths, dtype=np.int64) + 1
    tie = rng.permutation(len(src_len))
    order = np.lexsort((tie, tgt_len, src_len))  # last key sorts first
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order.tolist():
        width = max(longest, int(src_len[i]), int(tgt_len[i]))
        if current and (len(current) + 1) * width > max_tokens:
            batches.append(current)
            current, width = [], max(int(src_len[i]), int(tgt_len[i]))
        current.append(i)
        longest = width
    if current:
        batches.append(current)
    if shuffle:
        batches = [batches[j] for j in rng.permutation(len(batches))]
    return batches


class PairBatcher:
    """Length-bucketed, token-budgeted batches over tokenized pairs, epoch by epoch."""

    def __init__(self, src: Sequence[Sequence[int]], tgt: Sequence[Sequence[int]],
                 max_tokens: int, seed: int = 0, shuffle: bool = True) -> None:
        if len(src) != len(tgt):
            raise SeqlabError(f"{len(src)} sources but {len(tgt)} targets")
        self.src, self.tgt = list(src), list(tgt)
        self.max_tokens, self.seed, self.shuffle = max_tokens, seed, shuffle

    def __len__(self) -> int:
        return len(self.src)

    def epoch(self, epoch: int = 0) -> Iterator[PairBatch]:
        """The batches of one epoch (a fixed function of seed and epoch)."""
        groups = bucket_batches([len(s) for s in self.src], [len(t) for t in self.tgt],
                                self.max_tokens, self.seed, epoch, self.shuffle)
        for g in groups:
            yield collate_pairs([self.src[i] for i in g], [self.tgt[i] for i in g], g)


class TokenStream:
    """A token sequence read as B contiguous parallel streams in chunks of T steps.

    The first N // B * B tokens are laid out as a (B, L) grid, stream b holding tokens
    [b * L, (b + 1) * L). Chunk k covers columns [k T, k T + T) with target the next
    token, so y[:, t] = x[:, t + 1] inside a chunk and chunk k + 1 begins with the
    token chunk k predicted last. The final chunk may be shorter.

    The ids may be a NumPy array of any integer type, such as the ``np.memmap`` of a
    token file (``seqlab.data.tokens``): a batch then reads only its own (B, T + 1)
    slice, so the sequence may be larger than memory.

    ``batch_at(step, batch_size)`` (chunk ``step mod chunks``) and ``stateful = True``
    are what :class:`seqlab.train.Trainer` reads to carry the hidden state from one
    batch to the next.
    """

    stateful = True

    def __init__(self, ids: Sequence[int] | torch.Tensor | np.ndarray, chunk_len: int) -> None:
        if chunk_len < 1:
            raise SeqlabError(f"chunk_len must be positive, got {chunk_len}")
        if not isinstance(ids, np.ndarray):
            ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1).numpy()
        self.ids = ids  # (N,)
        self.chunk_len = chunk_len

    def _grid(self, batch_size: int) -> np.ndarray:
        L = len(self.ids) // batch_size
        if L < 2:
            raise SeqlabError(f"{len(self.ids)} tokens are too few for {batch_size} streams")
        return self.ids[: batch_size * L].reshape(batch_size, L)  # (B, L), a view

    def grid(self, batch_size: int) -> torch.Tensor:
        """(B, L) long: the B streams side by side (a copy; a batch reads only its slice)."""
        return torch.from_numpy(self._grid(batch_size).astype(np.int64))

    def num_chunks(self, batch_size: int) -> int:
        L = len(self.ids) // batch_size
        return -(-(L - 1) // self.chunk_len)  # ceil((L - 1) / T): the last column has no target

    def batch_at(self, step: int, batch_size: int) -> SeqBatch:
        """Chunk ``step mod num_chunks`` of the B streams (x (B, T), y (B, T))."""
        data = self._grid(batch_size)  # (B, L)
        k = step % self.num_chunks(batch_size)
        start = k * self.chunk_len
        stop = min(start + self.chunk_len, data.shape[1] - 1)
        window = torch.from_numpy(data[:, start: stop + 1].astype(np.int64))  # (B, T + 1)
        x, y = window[:, :-1], window[:, 1:]  # (B, T) each: y is the next token
        return SeqBatch(x, y, torch.ones_like(x, dtype=torch.bool))

    def chunks(self, batch_size: int) -> Iterator[SeqBatch]:
        """One pass over the streams, in order (e.g. for held-out evaluation)."""
        for k in range(self.num_chunks(batch_size)):
            yield self.batch_at(k, batch_size)
