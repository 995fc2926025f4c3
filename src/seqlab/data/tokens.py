"""Token files: a split tokenized once, streaming, into a flat array of ids on disk.

The road of nanoGPT's ``train.bin``: the text is read a line at a time, encoded in pieces
of about a million characters cut at line ends, and appended to ``tokens-<key>.bin``
(uint16 ids while the vocabulary has at most 65,536 entries, else uint32), with a small
JSON of counts beside it. Cutting at line ends changes no token boundary: a text's lines
are joined by newlines, and no tokenizer here makes a token that runs across a newline it
was not fitted on (char and word tokens never hold one; SentencePiece is fitted on lines).
The ids equal those of encoding the whole text at once for char, word and BPE; unigram's
Viterbi search sums float scores along the text, so where two segmentations tie to
rounding it may pick the other (56 of 1.0M pieces of ``bsb_en``'s train split, 2,000 pieces).

The files live in the tokenizer's own cache folder (``train_tokenizer``), so a tokenizer
and the token files made with it are found, and deleted, together. ``np.memmap`` reads a
file back: a corpus larger than memory trains, each batch reading only its own slice.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

TOKENS_VERSION = 1  # bump when the layout of a token file changes
PIECE_CHARS = 1 << 20  # characters encoded at a time


@dataclass(frozen=True)
class TokenFile:
    """A split's ids (a read-only (N,) memmap) and the characters they spell."""

    ids: np.ndarray
    chars: int

    @property
    def tokens(self) -> int:
        return int(self.ids.shape[0])


def token_file(tokenizer, key: str, units: Iterable[str], limit_chars: int | None = None,
               total_chars: int | None = None, desc: str = "tokenizing") -> TokenFile:
    """The ids of ``"\\n".join(units)`` (its first ``limit_chars`` characters), from the
    tokenizer's cache folder, written there first (with a progress bar) if not there yet.

    ``key`` names the text's content (a hash of the file and its line range); the file is
    found again from it, the limit and the tokenizer folder.
    """
    directory = Path(tokenizer.directory)
    name = "tokens-" + hashlib.sha256(f"{TOKENS_VERSION}|{key}|{limit_chars}".encode()).hexdigest()[:20]
    data, meta = directory / f"{name}.bin", directory / f"{name}.json"
    if not (data.is_file() and meta.is_file()):
        _write(tokenizer, data, meta, pieces(units, limit_chars), total_chars, desc)
    info = json.loads(meta.read_text())
    dtype = np.dtype(info["dtype"])
    ids = np.memmap(data, dtype=dtype, mode="r") if info["tokens"] else np.zeros(0, dtype)
    return TokenFile(ids, info["chars"])


def pieces(units: Iterable[str], limit_chars: int | None = None) -> Iterator[str]:
    """``"\\n".join(units)``, cut after ``limit_chars`` characters, in pieces of about
    PIECE_CHARS characters that end where a line ends (a newline starts the next piece)."""
    buf: list[str] = []
    size, left = 0, limit_chars
    for i, unit in enumerate(units):
        text = unit if i == 0 else "\n" + unit
        if left is not None and len(text) >= left:
            buf.append(text[:left])
            break
        if left is not None:
            left -= len(text)
        buf.append(text)
        size += len(text)
        if size >= PIECE_CHARS:
            yield "".join(buf)
            buf, size = [], 0
    if buf:
        yield "".join(buf)


def char_encoder(tokenizer):
    """``text -> ids`` for a character tokenizer by one table lookup over the code points (the
    ids ``encode`` gives, ~10x faster): a known character's id, an unknown ASCII one's byte id
    (the newline between lines, which no tokenizer is fitted on, is one); a text with an
    unknown character of several UTF-8 bytes goes through ``encode``. None for other tokenizers."""
    from seqlab.data.tokenize import BYTE_OFFSET, FIRST_SYMBOL, CharTokenizer

    if not isinstance(tokenizer, CharTokenizer):
        return None
    codes = np.array([ord(c) for c in tokenizer.symbols], dtype=np.int64)
    table = np.full(max(int(codes.max(initial=0)) + 1, 128), -1, dtype=np.int64)
    table[:128] = BYTE_OFFSET + np.arange(128)  # ASCII outside the vocabulary: one byte id each
    table[codes] = FIRST_SYMBOL + np.arange(len(codes))

    def encode(text: str) -> np.ndarray:
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)  # (n,) code points
        if len(points) and int(points.max()) < len(table):
            ids = table[points]
            if ids.min() >= 0:
                return ids
        return np.asarray(tokenizer.encode(text), dtype=np.int64)

    return encode


def _write(tokenizer, data: Path, meta: Path, texts: Iterator[str], total_chars: int | None, desc: str) -> None:
    """Encode and append piece by piece (atomic: a reader finds a whole file or none)."""
    from tqdm.auto import tqdm

    encode = char_encoder(tokenizer) or tokenizer.encode
    dtype = np.uint16 if tokenizer.vocab_size <= 1 << 16 else np.uint32
    tmp = data.with_name(f".{data.name}.{os.getpid()}.tmp")
    tokens = chars = 0
    try:
        with open(tmp, "wb") as fh, tqdm(total=total_chars, unit="char", unit_scale=True, desc=desc,
                                         disable=None, leave=False) as bar:
            for text in texts:
                ids = np.asarray(encode(text), dtype=dtype)  # (n,)
                ids.tofile(fh)
                tokens, chars = tokens + len(ids), chars + len(text)
                bar.update(len(text))
        os.replace(tmp, data)
    finally:
        tmp.unlink(missing_ok=True)
    info = {"tokens": tokens, "chars": chars, "dtype": np.dtype(dtype).name, "version": TOKENS_VERSION}
    tmp_meta = meta.with_name(f".{meta.name}.{os.getpid()}.tmp")
    tmp_meta.write_text(json.dumps(info))
    os.replace(tmp_meta, meta)
