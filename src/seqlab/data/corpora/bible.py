"""The Greek New Testament and the Berean Standard Bible, from ``bible-alignments``.

Files (inside the installed distribution, under ``data/``):

- ``sources/SBLGNT.tsv``: one Greek word per row; id ``n`` + BBCCCVVVWWW (book,
  chapter, verse, word), so the verse key is ``id[1:9]``.
- ``eng/targets/BSB/{ot,nt}_BSB.tsv``: one English token (word or punctuation) per
  row; ``source_verse`` is the verse in the *Greek* numbering the token belongs to,
  ``skip_space_after`` = "y" when no space follows the token.
- ``eng/alignments/BSB/SBLGNT-BSB-manual.json``: manual alignment records, each a
  group of Greek token ids linked to a group of English token ids.

A Greek verse is its words joined by single spaces; an English verse is its tokens in
file order, joined with a space except after ``skip_space_after`` tokens. Both sides
keep their token lists, so alignment indices point into them.

``bsb_en`` groups by BSB's own verse ids (``id[:8]``) in canonical order; the Psalm
titles are their own verse 0 (e.g. 19005000), 116 of them, kept as text.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

from seqlab.data.corpora.base import (
    Pair, PairCorpus, Source, TextCorpus, package_file, split_by_position,
)

DISTRIBUTION = "bible-alignments"
INSTALL = "pip install --no-deps --ignore-requires-python bible-alignments==0.4.2"
GREEK = "data/sources/SBLGNT.tsv"
ENGLISH_NT = "data/eng/targets/BSB/nt_BSB.tsv"
ENGLISH_OT = "data/eng/targets/BSB/ot_BSB.tsv"
ALIGNMENTS = "data/eng/alignments/BSB/SBLGNT-BSB-manual.json"

NT_SOURCE = Source(
    package=f"{DISTRIBUTION}==0.4.2 (PyPI)",
    origin="SBL Greek New Testament (SBLGNT) and the Berean Standard Bible (BSB), "
    "with the manual SBLGNT-BSB word alignments by Biblica",
    license="SBLGNT text and alignments: CC-BY-4.0; BSB text: public domain",
    attribution="SBLGNT copyright 2010 by the Society of Biblical Literature and Logos "
    "Bible Software; alignments: Biblica / BiblioNexus (CC-BY-4.0); BSB: Berean Bible",
    split_rule="verse keys (BBCCCVVV, Greek numbering) sorted; position i % 20 == 0 -> test, "
    "== 1 -> dev, else train",
)

BSB_SOURCE = Source(
    package=f"{DISTRIBUTION}==0.4.2 (PyPI)",
    origin="Berean Standard Bible (BSB), Old and New Testament, English",
    license="public domain",
    attribution="Berean Standard Bible, Bible Hub / Berean Bible",
    split_rule="chapters (BBCCC, BSB numbering) sorted; position i % 20 == 0 -> test, "
    "== 1 -> dev, else train; every verse goes with its chapter",
)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE))


def detokenize(tokens: list[str], skip_space: list[bool]) -> str:
    """Join tokens with one space, except after a token flagged skip_space_after."""
    out: list[str] = []
    for i, (tok, skip) in enumerate(zip(tokens, skip_space)):
        out.append(tok)
        if not skip and i + 1 < len(tokens):
            out.append(" ")
    return "".join(out)


class _Verses:
    """Tokens grouped by verse key, with each token id's (verse, index) position."""

    def __init__(self) -> None:
        self.tokens: dict[str, list[str]] = defaultdict(list)
        self.skip: dict[str, list[bool]] = defaultdict(list)
        self.position: dict[str, tuple[str, int]] = {}

    def add(self, token_id: str, verse: str, text: str, skip: bool) -> None:
        self.position[token_id] = (verse, len(self.tokens[verse]))
        self.tokens[verse].append(text)
        self.skip[verse].append(skip)

    def text(self, verse: str) -> str:
        return detokenize(self.tokens[verse], self.skip[verse])


def read_greek() -> _Verses:
    verses = _Verses()
    for row in _rows(package_file(DISTRIBUTION, GREEK, INSTALL)):
        verses.add(row["id"], row["id"][1:9], row["text"], False)
    return verses


def greek_tagged() -> dict[str, list[tuple[str, str]]]:
    """The SBLGNT's words with their part of speech (the file's ``pos`` column: noun, verb,
    det, conj, pron, prep, adj, adv, ptcl, num, intj), grouped by verse key BBCCCVVV in file order."""
    verses: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for row in _rows(package_file(DISTRIBUTION, GREEK, INSTALL)):
        verses[row["id"][1:9]].append((row["text"], row["pos"]))
    return dict(verses)


def read_english(relpath: str, by_source_verse: bool) -> _Verses:
    """English tokens grouped by the Greek-numbered ``source_verse`` or by BSB's own verse."""
    verses = _Verses()
    for row in _rows(package_file(DISTRIBUTION, relpath, INSTALL)):
        verse = row["source_verse"] if by_source_verse else row["id"][:8]
        verses.add(row["id"], verse, row["text"], row["skip_space_after"] == "y")
    return verses


def read_alignments(greek: _Verses, english: _Verses) -> dict[str, frozenset[tuple[int, int]]]:
    """Per verse, the set of (Greek word index, English token index) gold links.

    A record links every one of its Greek tokens to every one of its English tokens.
    The few records that straddle a verse boundary (80 in 0.4.2) keep only the links
    whose two tokens fall in the same verse.
    """
    with package_file(DISTRIBUTION, ALIGNMENTS, INSTALL).open(encoding="utf-8") as fh:
        records = json.load(fh)["records"]
    links: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for rec in records:
        for s in rec["source"]:
            gv, gi = greek.position[s]
            for t in rec["target"]:
                ev, ei = english.position[t]
                if gv == ev:
                    links[gv].add((gi, ei))
    return {v: frozenset(a) for v, a in links.items()}


def load_nt_el_en() -> PairCorpus:
    """Greek -> English New Testament verse pairs (7,936 in bible-alignments 0.4.2)."""
    greek = read_greek()
    english = read_english(ENGLISH_NT, by_source_verse=True)
    keys = sorted(set(greek.tokens) & set(english.tokens))
    pairs = {
        k: Pair(k, greek.text(k), english.text(k),
                tuple(greek.tokens[k]), tuple(english.tokens[k]))
        for k in keys
    }
    alignments = {k: a for k, a in read_alignments(greek, english).items() if k in pairs}
    splits = {s: [pairs[k] for k in ks] for s, ks in split_by_position(keys).items()}
    return PairCorpus("nt_el_en", NT_SOURCE, "el", "en", splits, alignments)


def load_bsb_en() -> TextCorpus:
    """The English BSB, Old and New Testament, as verses in canonical order."""
    verses: dict[str, str] = {}
    for relpath in (ENGLISH_OT, ENGLISH_NT):
        english = read_english(relpath, by_source_verse=False)
        verses.update((k, english.text(k)) for k in english.tokens)
    by_chapter: dict[str, list[str]] = defaultdict(list)
    for key in sorted(verses):
        by_chapter[key[:5]].append(key)
    chapter_split = split_by_position(list(by_chapter))
    splits = {
        s: [(k, verses[k]) for ch in chapters for k in by_chapter[ch]]
        for s, chapters in chapter_split.items()
    }
    return TextCorpus("bsb_en", BSB_SOURCE, splits)
