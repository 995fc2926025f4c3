"""Tokenizers: character, word and SentencePiece (unigram or BPE), all exact.

One id convention everywhere, shared by every tokenizer and every model:

    0 <pad>   1 <s> (bos)   2 </s> (eos)   3 <unk>   4..259 the bytes 0x00..0xFF

The 256 byte ids are the fallback for anything the vocabulary has not seen (a
character, word or piece missing from the training split is spelled as its UTF-8
bytes), so ``decode(encode(x)) == x`` for every string, not only the training data.
<unk> is never produced by encoding; it exists so that all models agree on the ids.

Tokenizers are trained on a training split only and cached on disk under
``$SEQLAB_CACHE`` (default ``~/.cache/seqlab``) in ``tokenizers/<kind>-<key>/``, where
the key hashes the training texts and the settings; the same texts and settings load
the same tokenizer instead of training again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from seqlab.errors import SeqlabError

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<s>", "</s>", "<unk>")
BYTE_OFFSET = len(SPECIALS)  # id of byte 0x00
FIRST_SYMBOL = BYTE_OFFSET + 256  # first id a tokenizer learns
CACHE_VERSION = 1  # bump when a tokenizer's on-disk format or training changes


def cache_root() -> Path:
    """``$SEQLAB_CACHE`` if set, else ``~/.cache/seqlab``."""
    return Path(os.environ.get("SEQLAB_CACHE") or "~/.cache/seqlab").expanduser()


def texts_hash(texts: Iterable[str]) -> str:
    """A hash of an ordered collection of texts (length-prefixed, so joins cannot collide)."""
    h = hashlib.sha256()
    for t in texts:
        b = t.encode("utf-8")
        h.update(len(b).to_bytes(8, "little"))
        h.update(b)
    return h.hexdigest()


def _wrap(ids: list[int], bos: bool, eos: bool) -> list[int]:
    return ([BOS] if bos else []) + ids + ([EOS] if eos else [])



BYTE_PIECE = re.compile(r"<0x([0-9A-Fa-f]{2})>")


def piece_surface(piece: str) -> str:
    """A piece as it reads in text: a byte-fallback piece ``<0x2C>`` becomes its character
    (a control byte, or one byte of a multi-byte UTF-8 sequence, becomes one replacement
    character), so character counts and plot labels match the text."""
    match = BYTE_PIECE.fullmatch(piece)
    if match is None:
        return piece
    byte = int(match.group(1), 16)
    return chr(byte) if 0x20 <= byte < 0x7F else "\ufffd"


class SymbolTokenizer:
    """A vocabulary of string symbols after the specials and bytes, with byte fallback.

    Subclasses say how text splits into symbols (``split``): the pieces must
    concatenate back to the text exactly.
    """

    kind = "symbol"

    def __init__(self, symbols: Sequence[str]) -> None:
        self.symbols = list(symbols)
        self.index = {s: FIRST_SYMBOL + i for i, s in enumerate(self.symbols)}

    @staticmethod
    def split(text: str) -> list[str]:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        return FIRST_SYMBOL + len(self.symbols)

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int | None, directory: Path):
        """Keep the most frequent symbols (ties: alphabetical) up to ``vocab_size`` ids
        in all (None: every symbol seen), save to ``directory`` and return the tokenizer."""
        counts = Counter(piece for text in texts for piece in cls.split(text))
        keep = None if vocab_size is None else max(vocab_size - FIRST_SYMBOL, 0)
        ranked = sorted(counts, key=lambda s: (-counts[s], s))[:keep]
        tok = cls(sorted(ranked))
        tok.save(directory)
        return tok

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        ids: list[int] = []
        for piece in self.split(text):
            i = self.index.get(piece)
            if i is None:
                ids.extend(BYTE_OFFSET + b for b in piece.encode("utf-8"))
            else:
                ids.append(i)
        return _wrap(ids, bos, eos)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of ``ids``; specials are dropped, invalid byte runs become U+FFFD."""
        out = bytearray()
        for i in ids:
            i = int(i)
            if BYTE_OFFSET <= i < FIRST_SYMBOL:
                out.append(i - BYTE_OFFSET)
            elif FIRST_SYMBOL <= i < self.vocab_size:
                out.extend(self.symbols[i - FIRST_SYMBOL].encode("utf-8"))
        return out.decode("utf-8", errors="replace")

    def id_to_piece(self, i: int) -> str:
        if i < BYTE_OFFSET:
            return SPECIALS[i]
        if i < FIRST_SYMBOL:
            return f"<0x{i - BYTE_OFFSET:02X}>"
        return self.symbols[i - FIRST_SYMBOL]

    def save(self, directory: Path) -> None:
        payload = {"kind": self.kind, "symbols": self.symbols}
        (Path(directory) / "vocab.json").write_text(json.dumps(payload, ensure_ascii=False),
                                                     encoding="utf-8")

    @classmethod
    def load(cls, directory: Path):
        payload = json.loads((Path(directory) / "vocab.json").read_text(encoding="utf-8"))
        if payload.get("kind") != cls.kind:
            raise SeqlabError(f"{directory} holds a '{payload.get('kind')}' tokenizer, "
                              f"not '{cls.kind}'")
        return cls(payload["symbols"])


class CharTokenizer(SymbolTokenizer):
    """One id per Unicode character (code point)."""

    kind = "char"

    @staticmethod
    def split(text: str) -> list[str]:
        return list(text)


# A word keeps the single space before it (" the"), as GPT-2's pre-tokenizer does, so
# spacing is part of the pieces: a run of word characters, one punctuation mark, or a
# lone whitespace character. Every character matches one branch, so the pieces
# concatenate back to the text.
WORD_PIECE = re.compile(r" ?\w+| ?[^\w\s]|\s")


class WordTokenizer(SymbolTokenizer):
    """One id per word (with its leading space) or punctuation mark."""

    kind = "word"

    @staticmethod
    def split(text: str) -> list[str]:
        return WORD_PIECE.findall(text)


class SentencePieceTokenizer:
    """A SentencePiece model trained with the shared ids and byte fallback.

    Exactness: identity normalization, whitespace kept as is, no dummy prefix, byte
    fallback for unseen characters.
    """

    kind = "sentencepiece"
    model_type = "unigram"
    MODEL = "spm.model"

    def __init__(self, model_file: Path) -> None:
        import sentencepiece

        self.model_file = Path(model_file)
        self.sp = sentencepiece.SentencePieceProcessor(model_file=str(model_file))

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int | None, directory: Path):
        import sentencepiece

        if vocab_size is None or vocab_size <= FIRST_SYMBOL:
            raise SeqlabError(f"sentencepiece needs vocab_size > {FIRST_SYMBOL} "
                              f"(4 specials + 256 bytes), got {vocab_size}")
        sentencepiece.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_prefix=str(Path(directory) / "spm"),
            vocab_size=vocab_size, model_type=cls.model_type,
            pad_id=PAD, bos_id=BOS, eos_id=EOS, unk_id=UNK, byte_fallback=True,
            character_coverage=1.0, normalization_rule_name="identity",
            remove_extra_whitespaces=False, add_dummy_prefix=False,
            hard_vocab_limit=False, minloglevel=2, num_threads=1,
        )
        return cls(Path(directory) / cls.MODEL)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        return _wrap(self.sp.encode(text), bos, eos)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) for i in ids if int(i) >= BYTE_OFFSET])

    def id_to_piece(self, i: int) -> str:
        return self.sp.id_to_piece(int(i))

    @classmethod
    def load(cls, directory: Path):
        path = Path(directory) / cls.MODEL
        if not path.is_file():
            raise SeqlabError(f"no sentencepiece model at {path}")
        return cls(path)


class UnigramTokenizer(SentencePieceTokenizer):
    kind = "unigram"
    model_type = "unigram"


class BPETokenizer(SentencePieceTokenizer):
    kind = "bpe"
    model_type = "bpe"


Tokenizer = CharTokenizer | WordTokenizer | UnigramTokenizer | BPETokenizer

TOKENIZERS: dict[str, type] = {
    "char": CharTokenizer, "word": WordTokenizer, "unigram": UnigramTokenizer,
    "bpe": BPETokenizer,
}


def train_tokenizer(kind: str, texts: Sequence[str] | Callable[[], Sequence[str]], vocab_size: int | None = None,
                    cache_dir: Path | None = None, content_key: str | None = None) -> Tokenizer:
    """A tokenizer of ``kind`` fitted to ``texts`` (a training split), cached on disk.

    Args:
        kind: one of :data:`TOKENIZERS` (char, word, unigram, bpe).
        texts: the training texts, one sentence or unit each; or a function returning
            them, called only when the tokenizer is not in the cache yet.
        vocab_size: total ids including the 260 specials and bytes; None keeps every
            symbol seen (char and word only).
        cache_dir: overrides :func:`cache_root`.
        content_key: names the texts' content (a file's SHA-256 and line range) in the
            cache key instead of a hash of the texts, so a large file's tokenizer is found
            without reading the file.
    """
    if kind not in TOKENIZERS:
        raise SeqlabError(f"unknown tokenizer '{kind}'; choose one of: {', '.join(TOKENIZERS)}")
    cls = TOKENIZERS[kind]
    settings = {"kind": kind, "vocab_size": vocab_size, "version": CACHE_VERSION}
    if content_key is None:
        texts = texts() if callable(texts) else texts
    key = hashlib.sha256(((content_key or texts_hash(texts)) + json.dumps(settings, sort_keys=True))
                         .encode()).hexdigest()[:16]
    directory = Path(cache_dir or cache_root()) / "tokenizers" / f"{kind}-{key}"
    if not directory.is_dir():
        _fit_into(cls, texts() if callable(texts) else texts, vocab_size, settings, directory)
    tok = cls.load(directory)
    tok.directory = directory  # its cache folder, where token files of texts it encoded go too
    return tok


def _fit_into(cls, texts: Sequence[str], vocab_size: int | None, settings: dict, directory: Path) -> None:
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{cls.kind}-", dir=directory.parent))
    try:
        cls.fit(texts, vocab_size, tmp)
        (tmp / "settings.json").write_text(json.dumps(settings, sort_keys=True))
        os.replace(tmp, directory)  # atomic: a reader sees a whole tokenizer or none
    except OSError:
        if not directory.is_dir():  # lost nothing but a race with another process
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_tokenizer(directory: Path) -> Tokenizer:
    """A tokenizer saved by :func:`train_tokenizer` (its folder in the cache)."""
    settings_file = Path(directory) / "settings.json"
    if not settings_file.is_file():
        raise SeqlabError(f"{directory} is not a seqlab tokenizer folder (no settings.json)")
    kind = json.loads(settings_file.read_text())["kind"]
    return TOKENIZERS[kind].load(directory)
