"""Language modeling on a real text corpus: predict the next character or subword.

The tokenizer is fitted on the train split only (and cached on disk); the train
split is read as B contiguous streams so the hidden state carries from one chunk to
the next (``stateful``), which is what truncated BPTT over a long text needs.
Held-out loss in nats per token converts to bits per character as
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
    """Next-token prediction on a text corpus (``seqlab data list``: kind "text").

    Args:
        corpus: the corpus name.
        tokenizer: "char", "word", "unigram" or "bpe" (SentencePiece).
        vocab_limit: the subword vocabulary size (None keeps every character/word).
        seq_len: T, the chunk length of one batch.
        eval_chars: score only the first N characters of the held-out split (None: all).
    """

    corpus: str = "bsb_en"
    tokenizer: Literal["char", "word", "unigram", "bpe"] = "char"
    vocab_limit: int | None = ranged(None, 300)
    seq_len: int = ranged(128, 2)
    eval_chars: int | None = ranged(200_000, 1000)

    loss_kind = "ce"
    stateful = True
    input_dim = None

    @cached_property
    def _corpus_tokenizer(self):
        from seqlab.data.corpora import TextCorpus, load_corpus
        from seqlab.data.tokenize import train_tokenizer

        corpus = load_corpus(self.corpus)
        if not isinstance(corpus, TextCorpus):
            raise SeqlabError(f"corpus '{self.corpus}' is not running text; language models need kind 'text'")
        return corpus, train_tokenizer(self.tokenizer, corpus.texts("train"), self.vocab_limit)

    @cached_property
    def _data(self):
        corpus, tok = self._corpus_tokenizer
        streams = {}
        for split in ("train", "dev", "test"):
            text = corpus.text(split)
            if split != "train" and self.eval_chars is not None:
                text = text[: self.eval_chars]
            ids = tok.encode(text)
            streams[split] = (TokenStream(ids, self.seq_len), len(text), len(ids))
        return tok, streams

    @property
    def tokenizer_obj(self):  # without encoding the splits (generate needs only this)
        return self._corpus_tokenizer[1]

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
        return self._data[1]["train"][0].batch_at(step, batch_size)

    def eval_batches(self, batch_size: int, split: str = "dev"):
        """One pass over the held-out text as B streams, in order (state carries)."""
        yield from self._data[1][split][0].chunks(batch_size)

    def bits_per_char(self, loss: float, split: str = "dev") -> float:
        """Convert a held-out loss (nats per token) to bits per character."""
        _, chars, tokens = self._data[1][split]
        return loss * tokens / chars / math.log(2)
