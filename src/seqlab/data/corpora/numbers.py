"""A controlled translation task: English number words -> German number words.

German says the units before the tens ("einundzwanzig", one-and-twenty) and writes
everything below a million as one word, so the model must reorder and re-segment.
The source length is controlled in English words (``one hundred and twenty-one`` is
five words: one, hundred, and, twenty, one).

Up to 24 digits (sextillions) the English side reaches about 48 words, so the
length buckets run past 40 words. ``Pair.src_tokens`` holds those English words
(hyphens split), so scoring by source length counts what the generator counts.

Generation: for each draw pick a number of digits uniformly in [1, max_digits], then a
number uniformly among those with that many digits (so short and long numbers are
equally common); keep it if its English word count lies in [min_words, max_words].
Distinct numbers only. Each number's split depends on the number alone (a hash of its
decimal string, modulo 20: 0 -> test, 1 -> dev, else train), so splits are disjoint
and stay fixed when the sample size or the seed changes.
"""

from __future__ import annotations

import functools

import hashlib
import re

import numpy as np

from seqlab.data.corpora.base import SPLITS, Pair, PairCorpus, Source, require_module
from seqlab.errors import SeqlabError

INSTALL = "pip install num2words"
WORD = re.compile(r"[a-z]+")
MAX_DIGITS = 24  # num2words spells English and German to the sextillions


def number_source(min_words: int, max_words: int, max_digits: int, seed: int, even_width: int = 0) -> Source:
    return Source(
        package="num2words (PyPI)",
        origin=f"integers of 1..{max_digits} digits spelled in English and German by "
        f"num2words; {min_words}..{max_words} English words"
        f"{f', equal shares per {even_width}-word band' if even_width else ''}; seed {seed}",
        license="generated data (num2words itself is LGPL-2.1)",
        attribution="num2words by Savoir-faire Linux and contributors",
        split_rule="sha256 of the number's decimal string, first 8 bytes, modulo 20: "
        "0 -> test, 1 -> dev, else train",
    )


def english_words(text: str) -> int:
    """Words in an English number ("twenty-one" is two, commas do not count)."""
    return len(WORD.findall(text))


def split_of(number: int) -> str:
    """The fixed split of a number, from a hash of its decimal string."""
    h = int.from_bytes(hashlib.sha256(str(number).encode()).digest()[:8], "little") % 20
    return "test" if h == 0 else "dev" if h == 1 else "train"


def _check(size: int, min_words: int, max_words: int, max_digits: int) -> None:
    if not 1 <= max_digits <= MAX_DIGITS:
        raise SeqlabError(f"numbers: max_digits must be in 1..{MAX_DIGITS}, got {max_digits}")
    if not 1 <= min_words <= max_words:
        raise SeqlabError(f"numbers: need 1 <= min_words <= max_words, got "
                          f"{min_words}..{max_words}")
    if size < 1:
        raise SeqlabError(f"numbers: size must be positive, got {size}")


def draw_number(rng: np.random.Generator, digits: int) -> int:
    """A number drawn uniformly among those with exactly ``digits`` digits."""
    if digits <= 18:  # within int64
        lo = 1 if digits == 1 else 10 ** (digits - 1)
        return int(rng.integers(lo, 10 ** digits))
    head, tail = int(rng.integers(1, 10)), rng.integers(0, 10, size=digits - 1)  # leading digit, then any
    return int(str(head) + "".join(map(str, tail)))


def sample_numbers(size: int, min_words: int, max_words: int, max_digits: int,
                   seed: int, even_width: int = 0) -> list[tuple[int, str]]:
    """Up to ``size`` distinct (number, English words) draws, in draw order.

    even_width > 0 caps each band of that many word counts (from min_words up) at an
    equal share of ``size``, so every source-length bucket is equally represented.
    """
    num2words = require_module("num2words", INSTALL).num2words
    rng = np.random.default_rng(seed)
    bands = -(-(max_words - min_words + 1) // even_width) if even_width else 1
    cap, per_band = -(-size // bands), [0] * bands
    chosen: dict[int, str] = {}
    attempts = 0
    while len(chosen) < size and attempts < 50 * size:
        attempts += 1
        n = draw_number(rng, int(rng.integers(1, max_digits + 1)))
        if n in chosen:
            continue
        words = num2words(n, lang="en")
        count = english_words(words)
        band = (count - min_words) // even_width if even_width else 0
        if min_words <= count <= max_words and per_band[band] < cap:
            chosen[n], per_band[band] = words, per_band[band] + 1
    return list(chosen.items())


@functools.lru_cache(maxsize=8)  # num2words is slow: parse once per process and setting
def load_numbers(size: int = 20000, min_words: int = 1, max_words: int = 12,
                 max_digits: int = 6, seed: int = 0, even_width: int = 0) -> PairCorpus:
    """English -> German number-word pairs, deterministic for the given arguments.

    even_width > 0: equally many numbers in each band of that many English words
    (10 gives the 1-10, 11-20, ... buckets the scores are reported in). Fewer than ``size`` pairs come back when the length window allows fewer distinct
    numbers (e.g. one-word numbers: there are only a few dozen).
    """
    _check(size, min_words, max_words, max_digits)
    if even_width < 0:
        raise SeqlabError(f"numbers: even_width must be >= 0, got {even_width}")
    num2words = require_module("num2words", INSTALL).num2words
    splits: dict[str, list[Pair]] = {s: [] for s in SPLITS}
    for n, en in sample_numbers(size, min_words, max_words, max_digits, seed, even_width):
        de = num2words(n, lang="de")
        splits[split_of(n)].append(Pair(str(n), en, de, tuple(WORD.findall(en)), tuple(de.split())))
    source = number_source(min_words, max_words, max_digits, seed, even_width)
    return PairCorpus("numbers", source, "en", "de", splits)
