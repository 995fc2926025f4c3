"""Template tasks for the failure table's remaining rows (claim C37), over real BSB words.

Each task writes short "documents" from templates: filler words, and a few content words
in slots (names, places, nouns, verbs, polarity words), all words of the Berean Standard
Bible (``WORDS``; ``tests/test_remaining_claims.py`` checks each occurs in ``bsb_en``).
The question is the last token and the answer is read there (one class per sequence,
``sample`` -> ``SeqBatch`` as in :mod:`seqlab.data.context_tasks`). The deciding words sit
at the start, at least ``gap`` tokens before the question:

- ``garden path``: "the old man the boats": an ambiguous word (noun or verb) and the next
  word, which decides its reading (a determiner after it: a verb, "man the boats"; a verb
  after it: a noun, "the old man left"); the question asks for the reading (2 classes).
- ``first paragraph``: the first paragraph's topic word, later paragraphs hold another
  topic word; the summary must name the first paragraph's topic (``topics`` classes).
- ``long-context qa``: the first sentence says "NAME went to PLACE", a later sentence
  another name and place; the question "where did NAME go?" names the first name; the
  answer is its place (``places`` classes).
- ``sentiment as printed``: "I thought the movie would be bad, but it was actually
  amazing": a polarity word in the first clause, "but", a polarity word in the last; the
  label is the last clause's polarity, as in the chapter's example (2 classes).
- ``word order``: "NAME1 gave NAME2 ...": two different names around a verb; "who gave?"
  asks for the first (``names`` classes); swapping the two inverts the answer.

Tokens: 0 unused, then ``WORDS`` in order (fillers, then each slot list).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from seqlab.data.batch import SeqBatch

FILLERS = ("and", "the", "of", "to", "that", "in", "he", "for", "they", "his", "with", "was")
NAMES = ("peter", "john", "james", "andrew", "philip", "thomas", "martha", "mary")
PLACES = ("jerusalem", "galilee", "bethany", "capernaum", "nazareth", "samaria", "jericho", "egypt")
TOPICS = ("bread", "water", "sheep", "gold", "temple", "field", "house", "fire")
AMBIGUOUS = ("man", "judge", "cross", "watch")  # noun or verb
VERBS = ("left", "wept", "slept", "rose")
POLARITY = ("good", "evil")
MARKS = ("but", "gave", "?")
WORDS = FILLERS + NAMES + PLACES + TOPICS + AMBIGUOUS + VERBS + POLARITY + MARKS
ROWS = ("garden path", "first paragraph", "long-context qa", "sentiment as printed", "word order")


def token(word: str) -> int:
    return WORDS.index(word) + 1


def ids(words: tuple[str, ...]) -> torch.Tensor:
    return torch.tensor([token(w) for w in words])


@dataclass(frozen=True)
class FailureRow:
    """One row's task: ``length`` tokens, the deciding words >= ``gap`` tokens before the question."""

    row: str
    length: int = 16
    gap: int = 10

    input_dim = None
    loss_kind = "ce"

    def __post_init__(self) -> None:
        if self.row not in ROWS:
            raise ValueError(f"unknown row {self.row!r}; choose one of {ROWS}")
        if self.length < self.gap + 4 and self.length < 8:
            raise ValueError(f"length {self.length} leaves no room for the template")

    @property
    def vocab_size(self) -> int:
        return len(WORDS) + 1

    @property
    def output_dim(self) -> int:
        return {"garden path": 2, "first paragraph": len(TOPICS), "long-context qa": len(PLACES),
                "sentiment as printed": 2, "word order": len(NAMES)}[self.row]

    @property
    def chance_loss(self) -> float:
        return math.log(self.output_dim)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        B, T = batch_size, self.length
        fill = ids(FILLERS)
        x = fill[torch.randint(0, len(FILLERS), (B, T), generator=generator)]  # (B, T) filler words
        x[:, -1] = token("?")
        early = max(T - 1 - self.gap, 3)  # the deciding words sit in [0, early)
        y = _WRITERS[self.row](x, early, generator)  # (B,) writes its slots into x
        target = torch.zeros(B, T, dtype=torch.long)
        target[:, -1] = y
        mask = torch.zeros(B, T, dtype=torch.bool)
        mask[:, -1] = True
        return SeqBatch(x, target, mask)


def _pick(words: tuple[str, ...], n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.randint(0, len(words), (n,), generator=generator)


def _distinct_pair(k: int, n: int, generator: torch.Generator) -> torch.Tensor:
    return torch.argsort(torch.rand(n, k, generator=generator), dim=1)[:, :2]  # (n, 2)


def _garden_path(x: torch.Tensor, early: int, g: torch.Generator) -> torch.Tensor:
    B = x.shape[0]
    rows, at = torch.arange(B), torch.randint(0, early - 1, (B,), generator=g)
    x[rows, at] = ids(AMBIGUOUS)[_pick(AMBIGUOUS, B, g)]
    verb = torch.randint(0, 2, (B,), generator=g)  # 1: the ambiguous word is a verb ("man the boats")
    x[rows, at + 1] = torch.where(verb == 1, token("the"), ids(VERBS)[_pick(VERBS, B, g)])
    return verb


def _first_paragraph(x: torch.Tensor, early: int, g: torch.Generator) -> torch.Tensor:
    B, T = x.shape
    rows, pair = torch.arange(B), _distinct_pair(len(TOPICS), B, g)
    x[rows, torch.randint(0, early, (B,), generator=g)] = ids(TOPICS)[pair[:, 0]]
    x[rows, torch.randint(early, T - 1, (B,), generator=g)] = ids(TOPICS)[pair[:, 1]]  # a later paragraph's topic
    return pair[:, 0]


def _long_qa(x: torch.Tensor, early: int, g: torch.Generator) -> torch.Tensor:
    B, T = x.shape
    rows, names, places = torch.arange(B), _distinct_pair(len(NAMES), B, g), _distinct_pair(len(PLACES), B, g)
    at = (torch.rand(B, generator=g) * min(early - 1, T - 5)).long()  # (B,) in [0, min(early - 1, T - 5))
    x[rows, at], x[rows, at + 1] = ids(NAMES)[names[:, 0]], ids(PLACES)[places[:, 0]]  # "NAME went to PLACE"
    later = at + 2 + (torch.rand(B, generator=g) * (T - 4 - (at + 2) + 1)).long()  # in [at + 2, T - 4]
    x[rows, later], x[rows, later + 1] = ids(NAMES)[names[:, 1]], ids(PLACES)[places[:, 1]]  # before T - 2
    x[:, -2] = ids(NAMES)[names[:, 0]]  # "where did NAME go ?"
    return places[:, 0]


def _sentiment(x: torch.Tensor, early: int, g: torch.Generator) -> torch.Tensor:
    B, T = x.shape
    rows, m = torch.arange(B), T // 2
    pol = torch.randint(0, 2, (B, 2), generator=g)  # 0 good, 1 evil; first and last clause
    x[rows, torch.randint(0, m, (B,), generator=g)] = ids(POLARITY)[pol[:, 0]]
    x[:, m] = token("but")
    x[rows, torch.randint(m + 1, T - 1, (B,), generator=g)] = ids(POLARITY)[pol[:, 1]]
    return pol[:, 1]


def _word_order(x: torch.Tensor, early: int, g: torch.Generator) -> torch.Tensor:
    B = x.shape[0]
    rows, names = torch.arange(B), _distinct_pair(len(NAMES), B, g)
    at = torch.randint(0, early - 2, (B,), generator=g)
    x[rows, at], x[rows, at + 1], x[rows, at + 2] = ids(NAMES)[names[:, 0]], token("gave"), ids(NAMES)[names[:, 1]]
    return names[:, 0]


_WRITERS = {"garden path": _garden_path, "first paragraph": _first_paragraph, "long-context qa": _long_qa,
            "sentiment as printed": _sentiment, "word order": _word_order}


def show(batch: SeqBatch, i: int = 0) -> str:
    """Sequence ``i`` of a batch as words (for the report's examples)."""
    return " ".join(WORDS[t - 1] for t in batch.x[i].tolist())
