"""Parallel data for translation: a corpus, its two tokenizers, and encoded splits.

``cfg`` below is a translation task's config (``seqlab.translation.config.MTData``, which
imports this module to read its corpus: hence no import of it here).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from seqlab.data.corpora import PairCorpus, open_corpus
from seqlab.data.corpora.numbers import load_numbers
from seqlab.data.corpora.user import load_pair_files
from seqlab.data.tokenize import load_tokenizer, train_tokenizer
from seqlab.errors import SeqlabError


def load_pairs(cfg) -> PairCorpus:
    """The recipe's corpus with its fixed splits: a built-in one, or the user's files (checked
    line by line; a bad line is one SeqlabError naming the file and line)."""
    if cfg.corpus == "numbers":
        return load_numbers(cfg.numbers_size, cfg.numbers_min_words, cfg.numbers_max_words, cfg.numbers_max_digits,
                            even_width=cfg.numbers_even_width)
    return open_corpus(cfg.corpus, "translation", lambda files: _pair_files(json.dumps(files, sort_keys=True)))


@functools.lru_cache(maxsize=4)
def _pair_files(spec: str) -> PairCorpus:
    """The user's pair files, read once per process (``spec``: the corpus value as JSON)."""
    return load_pair_files(json.loads(spec))


def fit_tokenizers(corpus: PairCorpus, cfg, directory: Path):
    """One tokenizer per language, fitted on the train split only, stored under ``directory``.

    Returns (src_tokenizer, tgt_tokenizer); ``tokenizer_dir(directory, side)`` finds them again.
    """
    src = train_tokenizer(cfg.tokenizer, corpus.texts("train", "src"), cfg.src_vocab, directory / "src")
    tgt = train_tokenizer(cfg.tokenizer, corpus.texts("train", "tgt"), cfg.tgt_vocab, directory / "tgt")
    return src, tgt


def tokenizer_dir(directory: Path, side: str) -> Path:
    """The one tokenizer folder that ``fit_tokenizers`` wrote for ``side``."""
    found = sorted((Path(directory) / side / "tokenizers").glob("*"))
    if len(found) != 1:
        raise SeqlabError(f"expected one tokenizer under {directory / side}, found {len(found)}")
    return found[0]


def load_tokenizers(directory: Path):
    return load_tokenizer(tokenizer_dir(directory, "src")), load_tokenizer(tokenizer_dir(directory, "tgt"))


@dataclass(frozen=True)
class EncodedSplit:
    """Token ids of one split, in corpus order (``keep`` = positions in the split)."""

    src: list[list[int]]
    tgt: list[list[int]]
    keep: list[int]


def encode_split(corpus: PairCorpus, split: str, src_tok, tgt_tok, max_len: int | None = None) -> EncodedSplit:
    """Encode both sides; with ``max_len`` drop pairs longer than it on either side."""
    src = [src_tok.encode(t) for t in corpus.texts(split, "src")]
    tgt = [tgt_tok.encode(t) for t in corpus.texts(split, "tgt")]
    keep = [i for i, (s, t) in enumerate(zip(src, tgt))
            if s and (max_len is None or (len(s) <= max_len and len(t) <= max_len))]
    return EncodedSplit([src[i] for i in keep], [tgt[i] for i in keep], keep)
