"""The corpus types every loader returns, and the two ways a loader finds its data.

Four shapes of data, one small interface (``split_sizes``, ``content_hash``,
``summary``, ``examples``) so that ``seqlab data info|show`` and the tokenizers
treat them alike:

- :class:`PairCorpus`: sentence pairs (translation), with per-side token lists.
- :class:`TextCorpus`: running text split into units (verses) for language modeling.
- :class:`SeriesCorpus`: one univariate time series cut chronologically.
- :class:`ClassificationCorpus`: labelled multivariate sequences of any length.

Nothing here downloads: data comes from installed packages, and a missing package
raises :class:`MissingDependencyError` with the pip command that installs it.
"""

from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import ModuleType

import numpy as np

from seqlab.errors import MissingDependencyError

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Source:
    """Where a corpus comes from and under which terms it may be used."""

    package: str  # the installed distribution that ships the data
    origin: str  # the original work, in words
    license: str
    attribution: str
    split_rule: str  # how train/dev/test were fixed, in words


def package_file(distribution: str, relpath: str, install: str) -> Path:
    """The path of a data file shipped inside an installed distribution.

    Args:
        distribution: the distribution name, e.g. ``bible-alignments``.
        relpath: the file inside the distribution, e.g. ``data/sources/SBLGNT.tsv``.
        install: the pip command line that installs it (quoted in the error).
    """
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise MissingDependencyError(
            f"the '{distribution}' package is not installed: run `{install}`"
        ) from None
    path = Path(str(dist.locate_file(relpath)))
    if not path.is_file():
        raise MissingDependencyError(
            f"'{relpath}' is missing from the installed '{distribution}': run `{install}`"
        )
    return path


def require_module(module: str, install: str) -> ModuleType:
    """Import an optional module, or fail with one line naming the pip command."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(
            f"the '{module}' module is not installed: run `{install}`"
        ) from None


def split_by_position(keys: list[str]) -> dict[str, list[str]]:
    """The fixed 90/5/5 split used by the text corpora.

    Sort the keys; position i with i % 20 == 0 goes to test, i % 20 == 1 to dev,
    every other position to train. Deterministic and independent of any seed.
    """
    out: dict[str, list[str]] = {s: [] for s in SPLITS}
    for i, key in enumerate(sorted(keys)):
        out["test" if i % 20 == 0 else "dev" if i % 20 == 1 else "train"].append(key)
    return out


def data_record(corpus) -> dict:
    """What a run folder's ``data.json`` says of its corpus: for the user's files, the files,
    their SHA-256 and the lines of each split; for a built-in corpus, its name, content hash
    and split rule. Two runs read the same examples in the same splits when these are equal."""
    if getattr(corpus, "record", None) is not None:
        return corpus.record
    return {"corpus": corpus.name, "content_hash": corpus.content_hash(), "split_rule": corpus.source.split_rule}


def _digest(parts: list[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Pair:
    """One aligned sentence pair.

    ``src``/``tgt`` are the plain strings; ``src_tokens``/``tgt_tokens`` the token
    lists they were built from, so that word-alignment indices refer to them.
    """

    key: str
    src: str
    tgt: str
    src_tokens: tuple[str, ...]
    tgt_tokens: tuple[str, ...]


@dataclass(frozen=True)
class PairCorpus:
    """Sentence pairs in fixed splits, with optional gold word alignments.

    ``alignments`` maps a pair key to a frozenset of (source token index, target
    token index) links; pairs without annotation are absent.
    """

    name: str
    source: Source
    src_lang: str
    tgt_lang: str
    splits: dict[str, list[Pair]]
    alignments: dict[str, frozenset[tuple[int, int]]] = field(default_factory=dict)
    record: dict | None = None  # files only: what data.json says (seqlab.data.corpora.user)

    def texts(self, split: str, side: str) -> list[str]:
        """The strings of one side ("src" or "tgt") of one split."""
        return [p.src if side == "src" else p.tgt for p in self.splits[split]]

    def split_sizes(self) -> dict[str, int]:
        return {s: len(v) for s, v in self.splits.items()}

    def content_hash(self) -> str:
        return _digest([
            f"{s}\t{p.key}\t{p.src}\t{p.tgt}".encode() for s in SPLITS for p in self.splits[s]
        ])

    def summary(self) -> dict[str, int]:
        pairs = [p for s in SPLITS for p in self.splits[s]]
        return {
            "pairs": len(pairs),
            f"{self.src_lang} tokens": sum(len(p.src_tokens) for p in pairs),
            f"{self.tgt_lang} tokens": sum(len(p.tgt_tokens) for p in pairs),
            f"{self.src_lang} characters": sum(len(p.src) for p in pairs),
            f"{self.tgt_lang} characters": sum(len(p.tgt) for p in pairs),
            "aligned pairs": len(self.alignments),
            "alignment links": sum(len(a) for a in self.alignments.values()),
        }

    def examples(self, split: str, n: int) -> list[str]:
        return [f"{p.key}\n  {self.src_lang}: {p.src}\n  {self.tgt_lang}: {p.tgt}"
                for p in self.splits[split][:n]]


@dataclass(frozen=True)
class TextCorpus:
    """Running text as ordered units (e.g. verses) in fixed splits.

    ``text(split)`` joins a split's units with newlines: the character stream a
    language model reads.
    """

    name: str
    source: Source
    splits: dict[str, list[tuple[str, str]]]  # split -> [(unit key, unit text)]

    def texts(self, split: str, side: str = "text") -> list[str]:
        return [t for _, t in self.splits[split]]

    def text(self, split: str) -> str:
        return "\n".join(self.texts(split))

    def split_sizes(self) -> dict[str, int]:
        return {s: len(v) for s, v in self.splits.items()}

    def content_hash(self) -> str:
        return _digest([f"{s}\t{k}\t{t}".encode() for s in SPLITS for k, t in self.splits[s]])

    def summary(self) -> dict[str, int]:
        out = {}
        for s in SPLITS:
            out[f"{s} characters"] = len(self.text(s))
            out[f"{s} words"] = sum(len(t.split()) for t in self.texts(s))
        out["characters"] = sum(out[f"{s} characters"] for s in SPLITS)
        return out

    def examples(self, split: str, n: int) -> list[str]:
        return [f"{k}  {t}" for k, t in self.splits[split][:n]]


@dataclass(frozen=True)
class SeriesCorpus:
    """A univariate time series with a chronological train/dev/test cut.

    ``values`` is float64 (N,); ``times`` labels each step; ``bounds`` are the
    [start, stop) ranges of each split in ``values``; ``period`` is the seasonal
    period used by seasonal-naive forecasts and MASE.
    """

    name: str
    source: Source
    values: np.ndarray
    times: tuple[str, ...]
    bounds: dict[str, tuple[int, int]]
    period: int
    frequency: str
    record: dict | None = None  # files only: what data.json says (seqlab.data.corpora.user)

    def split(self, name: str) -> np.ndarray:
        lo, hi = self.bounds[name]
        return self.values[lo:hi]

    def split_sizes(self) -> dict[str, int]:
        return {s: hi - lo for s, (lo, hi) in self.bounds.items()}

    def content_hash(self) -> str:
        return _digest([self.values.astype("<f8").tobytes(), "|".join(self.times).encode()])

    def summary(self) -> dict[str, int | str]:
        return {"steps": len(self.values), "frequency": self.frequency,
                "seasonal period": self.period,
                "span": f"{self.times[0]} .. {self.times[-1]}"}

    def examples(self, split: str, n: int) -> list[str]:
        lo, _ = self.bounds[split]
        return [f"{self.times[lo + i]}  {v:g}" for i, v in enumerate(self.split(split)[:n])]


@dataclass(frozen=True)
class ClassificationCorpus:
    """Labelled sequences: each item is float32 (T_i, C) with its own length T_i.

    ``labels`` are ints 0..K-1 indexing ``classes`` (the original label strings).
    """

    name: str
    source: Source
    splits: dict[str, tuple[list[np.ndarray], np.ndarray]]
    classes: tuple[str, ...]

    @property
    def num_channels(self) -> int:
        return int(self.splits["train"][0][0].shape[1])

    def split_sizes(self) -> dict[str, int]:
        return {s: len(v[1]) for s, v in self.splits.items()}

    def content_hash(self) -> str:
        parts = []
        for s in sorted(self.splits):
            xs, ys = self.splits[s]
            parts += [x.astype("<f4").tobytes() for x in xs] + [ys.astype("<i8").tobytes()]
        return _digest(parts)

    def summary(self) -> dict[str, int | str]:
        lengths = [len(x) for xs, _ in self.splits.values() for x in xs]
        return {"channels": self.num_channels, "classes": len(self.classes),
                "length": f"{min(lengths)}..{max(lengths)}"}

    def examples(self, split: str, n: int) -> list[str]:
        xs, ys = self.splits[split]
        return [f"class {self.classes[y]}  length {len(x)}  first step "
                + " ".join(f"{v:.3g}" for v in x[0]) for x, y in zip(xs[:n], ys[:n])]


@dataclass(frozen=True)
class LabelledTextCorpus:
    """Texts with one label each (text classification), in fixed splits.

    ``splits[s]`` is (keys, texts, labels): keys say where each item came from
    ("reviews.csv:12"), labels are ints 0..K-1 indexing ``classes``.
    """

    name: str
    source: Source
    splits: dict[str, tuple[list[str], list[str], np.ndarray]]
    classes: tuple[str, ...]
    record: dict | None = None  # files only: what data.json says (seqlab.data.corpora.user)

    def texts(self, split: str, side: str = "text") -> list[str]:
        return self.splits[split][1]

    def split_sizes(self) -> dict[str, int]:
        return {s: len(v[1]) for s, v in self.splits.items()}

    def content_hash(self) -> str:
        return _digest([f"{s}\t{k}\t{self.classes[y]}\t{t}".encode()
                        for s in SPLITS for k, t, y in zip(*self.splits[s])])

    def summary(self) -> dict[str, int | str]:
        labels = np.concatenate([v[2] for v in self.splits.values()])
        counts = np.bincount(labels, minlength=len(self.classes))
        return {"items": len(labels), "classes": len(self.classes),
                "items per class": ", ".join(f"{c} {n:,}" for c, n in zip(self.classes, counts))}

    def examples(self, split: str, n: int) -> list[str]:
        keys, texts, labels = self.splits[split]
        return [f"{k}  [{self.classes[y]}]  {t}" for k, t, y in zip(keys[:n], texts[:n], labels[:n])]
