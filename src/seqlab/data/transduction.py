"""Synthetic translation with known word links: the attention claims' controlled corpus.

A source sentence is a string of random symbols; its "translation" follows a fixed,
seeded grammar, so every target token has a known source word (the gold link):

- lexicon: each source symbol has its own target symbol (a seeded permutation);
- fertility: a fixed share of source symbols emits two target tokens;
- deletion: a fixed share emits nothing (no link);
- reordering: a symbol of the "modifier" class swaps its unit with the next word's
  (like adjective-noun order between languages), never across a swap already made.

With every share at 0 the task is a lexical copy: the information the decoder must
carry grows with the length while an encoder's final state does not, which is the
bottleneck the length-cliff claim is about.

Batches are packed for the one trainer (``model(x) -> (logits, None)``): ``x`` holds
the source padded to ``max_len`` followed by the decoder input (BOS + target), ``y``
the target followed by EOS, and ``mask`` the real target steps. :class:`PackedSeq2Seq`
unpacks them for any ``EncoderDecoder``.

Token ids: 0 pad, 1 bos, 2 eos, symbols from 3 (source and target alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from seqlab.data.batch import SeqBatch

PAD, BOS, EOS, FIRST = 0, 1, 2, 3


@dataclass(frozen=True)
class Transduction:
    """Seeded random-symbol translation with gold links (see the module docstring).

    Args:
        vocab: number of source symbols (the target has ``2 * vocab`` for the second
            token of fertile words).
        min_len, max_len: source lengths, drawn uniformly.
        fertile, deleted, modifier: shares of the source symbols in each class
            (disjoint classes, chosen by the grammar seed).
        grammar_seed: fixes the lexicon and the classes, independent of the batch seed.
    """

    vocab: int = 32
    min_len: int = 4
    max_len: int = 48
    fertile: float = 0.0
    deleted: float = 0.0
    modifier: float = 0.0
    grammar_seed: int = 0

    loss_kind = "ce"
    input_dim = None

    def __post_init__(self) -> None:
        if not 1 <= self.min_len <= self.max_len:
            raise ValueError(f"need 1 <= min_len <= max_len, got {self.min_len}, {self.max_len}")
        if self.fertile + self.deleted + self.modifier > 1.0:
            raise ValueError("the shares of fertile, deleted and modifier symbols add up to more than 1")

    @property
    def src_vocab(self) -> int:
        return FIRST + self.vocab

    @property
    def tgt_vocab(self) -> int:
        return FIRST + 2 * self.vocab

    @property
    def vocab_size(self) -> int:  # the trainer's name for the output width
        return self.tgt_vocab

    @property
    def output_dim(self) -> int:
        return self.tgt_vocab

    @cached_property
    def _grammar(self) -> tuple[list[int], list[str]]:
        """(lexicon: source symbol -> target symbol, class per source symbol)."""
        g = torch.Generator().manual_seed(self.grammar_seed)
        lexicon = (torch.randperm(self.vocab, generator=g) + FIRST).tolist()
        order = torch.randperm(self.vocab, generator=g).tolist()
        n_fert, n_del, n_mod = (round(share * self.vocab) for share in (self.fertile, self.deleted, self.modifier))
        kinds = ["plain"] * self.vocab
        for rank, sym in enumerate(order):
            if rank < n_fert:
                kinds[sym] = "fertile"
            elif rank < n_fert + n_del:
                kinds[sym] = "deleted"
            elif rank < n_fert + n_del + n_mod:
                kinds[sym] = "modifier"
        return lexicon, kinds

    def translate(self, src: list[int]) -> tuple[list[int], list[tuple[int, int]]]:
        """The target of source ids ``src`` and its gold links [(source index, target index)]."""
        lexicon, kinds = self._grammar
        units = []  # (source index, target tokens) in target order
        for i, tok in enumerate(src):
            sym = tok - FIRST
            out = {"deleted": [], "fertile": [lexicon[sym], lexicon[sym] + self.vocab]}.get(kinds[sym], [lexicon[sym]])
            units.append((i, out))
        i = 0
        while i + 1 < len(units):  # a modifier swaps places with the next word, once
            if kinds[src[units[i][0]] - FIRST] == "modifier":
                units[i], units[i + 1] = units[i + 1], units[i]
                i += 2
            else:
                i += 1
        tgt, links = [], []
        for i, out in units:
            for tok in out:
                links.append((i, len(tgt)))
                tgt.append(tok)
        return tgt, links

    def sources(self, batch_size: int, generator: torch.Generator) -> list[list[int]]:
        lengths = torch.randint(self.min_len, self.max_len + 1, (batch_size,), generator=generator).tolist()
        return [(torch.randint(0, self.vocab, (n,), generator=generator) + FIRST).tolist() for n in lengths]

    def pack(self, sources: list[list[int]]) -> SeqBatch:
        """Pack sources and their targets into one SeqBatch (see the module docstring)."""
        targets = [self.translate(s)[0] for s in sources]
        B, S, T = len(sources), self.max_len, max(len(t) for t in targets) + 1
        x = torch.full((B, S + T), PAD, dtype=torch.long)
        y = torch.full((B, T), PAD, dtype=torch.long)
        for b, (src, tgt) in enumerate(zip(sources, targets)):
            x[b, : len(src)] = torch.tensor(src)
            x[b, S : S + len(tgt) + 1] = torch.tensor([BOS, *tgt])  # decoder input
            y[b, : len(tgt) + 1] = torch.tensor([*tgt, EOS])
        return SeqBatch(x, y, y != PAD)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        return self.pack(self.sources(batch_size, generator))


class PackedSeq2Seq(nn.Module):
    """Wraps an ``EncoderDecoder`` so the trainer can feed it packed Transduction batches.

    ``forward(x)`` splits x (B, S + T) at ``src_len`` into the source (B, S) and the
    decoder input (B, T) and returns (logits (B, T, V), None).
    """

    def __init__(self, model: nn.Module, src_len: int) -> None:
        super().__init__()
        self.model, self.src_len = model, src_len

    def forward(self, x: torch.Tensor, state=None):
        src, tgt_in = x[:, : self.src_len], x[:, self.src_len :]  # (B, S), (B, T)
        logits, _ = self.model(src, src != PAD, tgt_in)  # (B, T, V)
        return logits, None
