"""Words for the embedding comparison: lower-cased letter runs and a word vocabulary.

``words("The LORD’s bank.")`` is ``["the", "lord", "s", "bank"]``: both models see the
same tokens, so "bank" means the same string to each. Word ids follow seqlab's
convention (0 pad, 1 bos, 2 eos = verse end, 3 unk), words from id 4 on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from seqlab.data.tokenize import EOS, UNK

WORD = re.compile(r"[^\W\d_]+")
FIRST_WORD = 4


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


class WordVocab:
    """The words seen at least ``min_count`` times (at most ``max_size``, most frequent)."""

    def __init__(self, vocab: Sequence[str]) -> None:
        self.words = list(vocab)
        self.index = {w: FIRST_WORD + i for i, w in enumerate(self.words)}

    @classmethod
    def build(cls, verses: Iterable[list[str]], min_count: int, max_size: int) -> "WordVocab":
        counts = Counter(w for verse in verses for w in verse)
        ranked = sorted((w for w, n in counts.items() if n >= min_count),
                        key=lambda w: (-counts[w], w))
        return cls(ranked[:max_size])

    def __len__(self) -> int:
        return FIRST_WORD + len(self.words)

    def id(self, word: str) -> int:
        return self.index.get(word, UNK)

    def word(self, i: int) -> str:
        return self.words[i - FIRST_WORD] if i >= FIRST_WORD else ("<pad>", "<s>", "</s>",
                                                                   "<unk>")[i]

    def stream(self, verses: Iterable[list[str]]) -> list[int]:
        """All verses as one id sequence, each verse followed by EOS (the boundary)."""
        out: list[int] = []
        for verse in verses:
            out.extend(self.id(w) for w in verse)
            out.append(EOS)
        return out
