"""Language modeling on running text: predict the next character, word or subword.

The text is a built-in corpus (``bsb_en``) or the user's own UTF-8 files (``corpus =
"my.txt"``, or ``{train = ..., dev = ..., test = ...}``; a single file is split by lines, the
last 5% test and the 5% before them dev, see :mod:`seqlab.data.corpora.files`). Both take
one road: the tokenizer is fitted on the train split (cached by its content), each split is
tokenized once, streaming, into a token file beside the tokenizer (:mod:`seqlab.data.tokens`),
and batches read that file through a memory map, so the corpus may be larger than memory.

The train split is read as B contiguous streams so the hidden state carries from one chunk
to the next (``stateful``), which is what truncated BPTT over a long text needs. Held-out
loss in nats per token converts to bits per character as
``loss * tokens / characters / ln 2`` (for a character tokenizer, tokens = characters).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from seqlab.config import ranged
from seqlab.data.batch import SeqBatch
from seqlab.data.batching import TokenStream
from seqlab.errors import SeqlabError


@dataclass(frozen=True)
class CorpusLM:
    """Next-token prediction on running text (``seqlab data list``: kind "text", or files).

    Args:
        corpus: a built-in corpus name, a text file, or {train, dev, test} files.
        tokenizer: "char", "word", "unigram" or "bpe" (SentencePiece).
        vocab_limit: the subword vocabulary size (None keeps every character/word).
        seq_len: T, the chunk length of one batch.
        eval_chars: score only the first N characters of a held-out split (None: all).
    """

    corpus: str | dict = "bsb_en"
    tokenizer: Literal["char", "word", "unigram", "bpe"] = "char"
    vocab_limit: int | None = ranged(None, 300)
    seq_len: int = ranged(128, 2)
    eval_chars: int | None = ranged(200_000, 1000)

    loss_kind = "ce"
    stateful = True
    input_dim = None

    def __post_init__(self) -> None:
        from seqlab.data.corpora import corpus_value

        object.__setattr__(self, "corpus", corpus_value(self.corpus, "text"))

    @cached_property
    def source(self):
        """The text, split: ``TextFiles`` (the user's files) or ``BuiltinText``."""
        from seqlab.data.corpora import open_corpus
        from seqlab.data.corpora.user import BuiltinText, TextFiles

        corpus = open_corpus(self.corpus, "text", TextFiles)
        return corpus if isinstance(corpus, TextFiles) else BuiltinText(corpus)

    @cached_property
    def tokenizer_obj(self):
        """The tokenizer fitted on the train split (without encoding the splits: generate needs only this)."""
        from seqlab.data.tokenize import train_tokenizer

        src = self.source
        return train_tokenizer(self.tokenizer, src.fit_texts, self.vocab_limit, content_key=src.fit_key)

    @cached_property
    def _files(self) -> dict:
        return {}

    def token_file(self, split: str):
        """The split's token file (made on first use); held-out splits stop at ``eval_chars``."""
        from seqlab.data.tokens import token_file

        if split not in self._files:
            limit = None if split == "train" else self.eval_chars
            src = self.source
            self._files[split] = token_file(self.tokenizer_obj, src.split_key(split), src.units(split), limit,
                                            src.split_bytes(split), desc=f"tokenizing {split}")
        return self._files[split]

    def stream(self, split: str, batch_size: int) -> TokenStream:
        """The split as ``batch_size`` streams; too little text is one line naming where it is."""
        ids = self.token_file(split).ids
        if len(ids) // batch_size < 2:
            raise SeqlabError(f"{self.source.where(split)} holds {len(ids):,} tokens, too few for a batch of "
                              f"{batch_size} streams (2 tokens each at least): give more text or lower the batch size")
        return TokenStream(ids, self.seq_len)

    def prepare(self, batch_size: int) -> None:
        """Read and check everything training reads (files, tokenizer, train and dev tokens)."""
        for split in ("train", "dev"):
            self.stream(split, batch_size)

    def data_record(self) -> dict:
        return self.source.record

    @property
    def vocab_size(self) -> int:
        return self.tokenizer_obj.vocab_size

    @property
    def output_dim(self) -> int:
        return self.vocab_size

    @property
    def chance_loss(self) -> float:
        return math.log(self.vocab_size)

    def batch_at(self, step: int, batch_size: int) -> SeqBatch:
        return self.stream("train", batch_size).batch_at(step, batch_size)

    def eval_batches(self, batch_size: int, split: str = "dev"):
        """One pass over the held-out text as B streams, in order (state carries)."""
        yield from self.stream(split, batch_size).chunks(batch_size)

    def bits_per_char(self, loss: float, split: str = "dev") -> float:
        """Convert a held-out loss (nats per token) to bits per character."""
        file = self.token_file(split)
        return loss * file.tokens / file.chars / math.log(2)
