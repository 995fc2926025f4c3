"""Tokenizers: character, word and SentencePiece (unigram or BPE), all exact.

One id convention everywhere, shared by every tokenizer and every model:

    0 <pad>   1 <s> (bos)   2 </s> (eos)   3 <unk>   4..259 the bytes 0x00..0xFF

The 256 byte ids are the fallback for anything the vocabulary has not seen (a
character, word or piece missing from the training split is spelled as its UTF-8
bytes), so ``decode(encode(x)) == x`` for every string that is valid Unicode (every
``str`` except one holding a lone surrogate, such as ``"\udcff"``, which is how Python
carries bytes that were not UTF-8: encoding one is a ``SeqlabError``), whatever text the
tokenizer was fitted on. SentencePiece writes a space as the mark U+2581 inside its
pieces; a literal U+2581 in the text, and a space in a tokenizer fitted on text without
spaces, are spelled as bytes so that they come back as they were.
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


def check_text(text: str) -> None:
    """A ``SeqlabError`` if ``text`` cannot be written as UTF-8 (it holds a lone surrogate:
    bytes that were not UTF-8, as Python reads them from argv or a file name)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as err:
        bad = text[err.start]
        what = (f"byte 0x{ord(bad) - 0xDC00:02x}, which is not UTF-8" if 0xDC80 <= ord(bad) <= 0xDCFF
                else f"the lone surrogate U+{ord(bad):04X}")
        raise SeqlabError(f"the text holds {what} (character {err.start + 1}): give UTF-8 text") from None


def _bytes_ids(text: str) -> list[int]:
    """``text`` spelled in byte ids (every tokenizer has them)."""
    return [BYTE_OFFSET + b for b in text.encode("utf-8")]



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
        check_text(text)
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
        file = Path(directory) / "vocab.json"
        try:
            payload = json.loads(file.read_bytes())
            kind, symbols = payload.get("kind"), payload["symbols"]
            if not (isinstance(symbols, list) and all(isinstance(s, str) and s for s in symbols)):
                raise TypeError("its symbols are not a list of texts")
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise SeqlabError(f"{file} is damaged ({err}): the tokenizer cannot be read") from None
        if kind != cls.kind:
            raise SeqlabError(f"{directory} holds a '{kind}' tokenizer, not '{cls.kind}'")
        return cls(symbols)


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


SPACE_MARK = "\u2581"  # how SentencePiece writes a space inside a piece
MARK_BYTE = BYTE_OFFSET + SPACE_MARK.encode("utf-8")[0]  # the byte id that starts the mark spelled in bytes


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
        try:
            self.sp = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        except (RuntimeError, OSError, ValueError) as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            raise SeqlabError(f"{model_file} is damaged ({reason}): the tokenizer cannot be read") from None
        if self.sp.get_piece_size() < FIRST_SYMBOL or self.sp.piece_to_id("<0x00>") != BYTE_OFFSET:
            raise SeqlabError(f"{model_file} is not a seqlab tokenizer (its ids 4..259 are not the 256 bytes)")

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int | None, directory: Path):
        import sentencepiece

        if vocab_size is None or vocab_size <= FIRST_SYMBOL:
            raise SeqlabError(f"sentencepiece needs vocab_size > {FIRST_SYMBOL} "
                              f"(4 specials + 256 bytes), got {vocab_size}")
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(texts), model_prefix=str(Path(directory) / "spm"),
                vocab_size=vocab_size, model_type=cls.model_type,
                pad_id=PAD, bos_id=BOS, eos_id=EOS, unk_id=UNK, byte_fallback=True,
                character_coverage=1.0, normalization_rule_name="identity",
                remove_extra_whitespaces=False, add_dummy_prefix=False,
                hard_vocab_limit=False, minloglevel=2, num_threads=1,
            )
        except (RuntimeError, ValueError) as err:  # e.g. fewer ids than the texts have characters
            reason = " ".join(str(err).split()).split("] ")[-1] or type(err).__name__
            raise SeqlabError(f"cannot fit a {cls.kind} tokenizer of {vocab_size} ids on these texts: {reason}") \
                from None
        return cls(Path(directory) / cls.MODEL)

    def encode(self, text: str, bos: bool = False, eos: bool = False) -> list[int]:
        check_text(text)
        ids = self.sp.encode(text)
        if SPACE_MARK in text or (MARK_BYTE in ids and self.decode(ids) != text):
            ids = self._exact(text)
        return _wrap(ids, bos, eos)

    def _exact(self, text: str) -> list[int]:
        """Ids that decode to ``text`` exactly: a literal U+2581 as its bytes, a space the
        vocabulary lacks as the byte 0x20, the rest as SentencePiece splits it."""
        ids: list[int] = []
        for i, segment in enumerate(text.split(SPACE_MARK)):
            if i:
                ids += _bytes_ids(SPACE_MARK)
            seg_ids = self.sp.encode(segment)
            if self.decode(seg_ids) != segment:  # a space spelled as the mark's bytes
                seg_ids = []
                for part in re.split("( )", segment):
                    part_ids = _bytes_ids(part) if part == " " else self.sp.encode(part)
                    seg_ids += part_ids if self.decode(part_ids) == part else _bytes_ids(part)
            ids += seg_ids
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) for i in ids if BYTE_OFFSET <= int(i) < self.vocab_size])

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
    try:
        kind = json.loads(settings_file.read_bytes())["kind"]
        cls = TOKENIZERS[kind]
    except (ValueError, KeyError, TypeError) as err:
        raise SeqlabError(f"{settings_file} is damaged ({err!r}): the tokenizer cannot be read") from None
    return cls.load(directory)
