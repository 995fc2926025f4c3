"""Corpora from the user's own files: the same corpus types the built-in loaders return.

| task          | file                                             | ``corpus`` forms                       |
|---------------|--------------------------------------------------|----------------------------------------|
| lm            | UTF-8 text, one unit a line                      | "a.txt", {train, dev, test}            |
| translation   | TSV ``source<TAB>target``, or parallel files     | "a.tsv", {src, tgt}, {train, dev, test} of either |
| classify      | CSV with a text and a label column (header row)  | "a.csv", {train, dev, test}            |
| forecast      | CSV with a value column, optional time column    | "a.csv"                                |

Files are checked (:mod:`.files`) before a line is used; a bad line is one ``SeqlabError``
naming the file and line. Splits follow :mod:`.files` (running text and series in order,
items by a seeded permutation), and each loader's result carries a ``record``: the files,
their SHA-256, the rule and the lines of each split, which training writes into the run
folder (``data.json``) so that a later ``seqlab evaluate`` scores the same lines.
A CSV file whose name ends in ``.tsv`` is read with tabs between fields.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from seqlab.data.corpora.base import (
    SPLITS, LabelledTextCorpus, Pair, PairCorpus, SeriesCorpus, Source, data_record,
)
from seqlab.data.corpora.files import (
    FileInfo, check_file, contiguous_split, line_ranges, read_lines, shuffled_split, split_tables,
)
from seqlab.errors import SeqlabError

CONTIGUOUS_RULE = "files given per split are read whole; a missing dev or test split is carved from the end of " \
                  "train in order: the last 5% of its lines test, the 5% before them dev (at least one line each)"
SHUFFLED_RULE = "files given per split are read whole; a missing dev or test split is carved from train by a " \
                "seed-0 permutation of its items: the first 5% test, the next 5% dev (at least one each), file " \
                "order kept within each split"
FIT_BYTES = 32 << 20  # a tokenizer is fitted on about this much of the train split, lines spread evenly


def user_source(paths: list[str], rule: str) -> Source:
    return Source(package="the user's files", origin=", ".join(paths), license="the user's own",
                  attribution="the user's own", split_rule=rule)


def _carved(tables: dict) -> tuple[str, ...]:
    return tuple(s for s in ("dev", "test") if s not in tables)


def _record(spec, infos: list[FileInfo], rule: str, splits: dict[str, dict]) -> dict:
    """What ``data.json`` says: the corpus as the recipe named it, each file's SHA-256, the rule
    and, per split, its file(s) and 1-based lines."""
    return {"corpus": spec, "files": {i.path: i.sha256 for i in infos}, "split_rule": rule, "splits": splits}


# ----------------------------------------------------------------------------- running text
class TextFiles:
    """Running text (language models) from one file or a file per split, read line by line.

    A line is a unit; a split's text is its lines joined by newlines. Nothing is held in
    memory but a split's line range: ``units`` streams the lines.
    """

    def __init__(self, spec) -> None:
        self.spec = spec
        tables = split_tables(spec, "task.corpus")
        infos = {split: check_file(path) for split, path in tables.items()}
        train = infos["train"]
        carved = _carved(tables)
        ranges = contiguous_split(train.lines, train.path, "lines", carved) if carved else {}
        self.segments: dict[str, tuple[FileInfo, range]] = {
            split: (train, ranges[split]) if split in ranges else (infos[split], range(infos[split].lines))
            for split in SPLITS}
        self.name = Path(train.path).name
        self.record = _record(spec, list({i.path: i for i in infos.values()}.values()), CONTIGUOUS_RULE, {
            s: {"file": info.path, "lines": f"{r.start + 1}-{r.stop}"} for s, (info, r) in self.segments.items()})

    def units(self, split: str) -> Iterator[str]:
        info, lines = self.segments[split]
        return (text for _, text in read_lines(info.path, lines.start, lines.stop))

    def split_bytes(self, split: str) -> int:
        """About how many bytes the split holds (for progress bars and sampling)."""
        info, lines = self.segments[split]
        return info.size * len(lines) // max(info.lines, 1)

    def split_lines(self, split: str) -> int:
        return len(self.segments[split][1])

    def split_key(self, split: str) -> str:
        info, lines = self.segments[split]
        return f"{info.sha256[:24]}-{lines.start}-{lines.stop}"

    def where(self, split: str) -> str:
        info, lines = self.segments[split]
        return f"{info.path} (lines {lines.start + 1}-{lines.stop}, the {split} split)"

    @property
    def fit_key(self) -> str:
        """Names what ``fit_texts`` returns (the train split's content), without reading it."""
        return f"file {self.split_key('train')} fit {FIT_BYTES}"

    def fit_texts(self) -> list[str]:
        """The train lines a tokenizer is fitted on: all of them up to FIT_BYTES, else every k-th."""
        info, lines = self.segments["train"]
        stride = max(1, math.ceil(self.split_bytes("train") / FIT_BYTES))
        return [t for _, t in read_lines(info.path, lines.start, lines.stop, every=stride)]


class BuiltinText:
    """A built-in :class:`TextCorpus` behind the same interface as :class:`TextFiles`."""

    def __init__(self, corpus) -> None:
        self.corpus, self.name = corpus, corpus.name

    @property
    def record(self) -> dict:
        return data_record(self.corpus)

    def units(self, split: str) -> Iterator[str]:
        return iter(self.corpus.texts(split))

    def split_bytes(self, split: str) -> int:
        return sum(len(t) + 1 for t in self.corpus.texts(split))

    def split_lines(self, split: str) -> int:
        return len(self.corpus.texts(split))

    def split_key(self, split: str) -> str:
        from seqlab.data.tokenize import texts_hash

        return texts_hash(self.corpus.texts(split))[:24]

    def where(self, split: str) -> str:
        return f"corpus {self.name} (the {split} split)"

    fit_key = None  # the tokenizer's cache key hashes the texts

    def fit_texts(self) -> list[str]:
        return self.corpus.texts("train")


# ----------------------------------------------------------------------------- sentence pairs
def _tsv_pairs(info: FileInfo) -> list[tuple[int, str, str]]:
    out = []
    for n, line in read_lines(info.path):
        tabs = line.count("\t")
        if tabs != 1:
            what = "no tab" if tabs == 0 else f"{tabs} tabs"
            raise SeqlabError(f"{info.path}:{n}: {what}; a TSV line is source<TAB>target")
        src, tgt = line.split("\t")
        for side, text in (("source", src), ("target", tgt)):
            if not text.strip():
                raise SeqlabError(f"{info.path}:{n}: empty {side} side; a TSV line is source<TAB>target")
        out.append((n, src, tgt))
    return out


def _parallel_pairs(src: FileInfo, tgt: FileInfo) -> list[tuple[int, str, str]]:
    if src.lines != tgt.lines:
        longer, shorter = (src, tgt) if src.lines > tgt.lines else (tgt, src)
        raise SeqlabError(f"{longer.path}:{shorter.lines + 1}: no partner line in {shorter.path} (parallel files "
                          f"must have equal line counts: {src.lines:,} vs {tgt.lines:,})")
    out = []
    for (n, s), (_, t) in zip(read_lines(src.path), read_lines(tgt.path)):
        for info, text in ((src, s), (tgt, t)):
            if not text.strip():
                raise SeqlabError(f"{info.path}:{n}: empty line; each line of a parallel file is one sentence")
        out.append((n, s, t))
    return out


def _read_pairs(spec) -> tuple[list[FileInfo], list[tuple[int, str, str]], str | dict]:
    if isinstance(spec, dict):
        src, tgt = check_file(spec["src"]), check_file(spec["tgt"])
        return [src, tgt], _parallel_pairs(src, tgt), {"src": src.path, "tgt": tgt.path}
    info = check_file(spec)
    return [info], _tsv_pairs(info), info.path


def load_pair_files(spec) -> PairCorpus:
    """Sentence pairs from a TSV file or parallel files (per split, or carved from train)."""
    tables = split_tables(spec, "task.corpus", ("src", "tgt"))
    read = {split: _read_pairs(table) for split, table in tables.items()}
    infos, train, where = read["train"]
    picked = {s: list(range(len(r[1]))) for s, r in read.items()}
    if _carved(tables):
        label = where if isinstance(where, str) else where["src"]
        picked.update(shuffled_split(len(train), label, "sentence pairs", _carved(tables)))
    splits, lines, files = {}, {}, []
    for split in SPLITS:
        file_infos, pairs, file = read[split] if split in read else read["train"]
        files += [i for i in file_infos if i not in files]
        chosen = [pairs[i] for i in picked[split]]
        name = Path(file if isinstance(file, str) else file["src"]).name
        splits[split] = [Pair(f"{name}:{n}", s, t, tuple(s.split()), tuple(t.split())) for n, s, t in chosen]
        lines[split] = {"file": file, "lines": line_ranges(n for n, _, _ in chosen)}
    return PairCorpus(Path(files[0].path).name, user_source([i.path for i in files], SHUFFLED_RULE), "src", "tgt",
                      splits, record=_record(spec, files, SHUFFLED_RULE, lines))


# ----------------------------------------------------------------------------- CSV
def csv_rows(path: str, columns: dict[str, str]) -> tuple[FileInfo, list[tuple[int, dict[str, str]]]]:
    """(file info, [(line, {recipe key: value})]) of a CSV file with a header row.

    ``columns`` maps a recipe key (``task.text_column``) to the column's name; a missing
    column, a row with another number of fields, an empty value or broken quoting is one
    line naming the file and line. Blank lines are skipped.
    """
    info = check_file(path)
    delimiter = "\t" if info.path.lower().endswith(".tsv") else ","
    with open(info.path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        try:
            header = next(reader, [])
            index = {}
            for key, name in columns.items():
                if name not in header:
                    raise SeqlabError(f"{info.path}:1: no column '{name}' (the header has: "
                                      f"{', '.join(map(repr, header))}); set {key}")
                index[key] = header.index(name)
            rows, start = [], reader.line_num + 1
            for row in reader:
                if row:
                    rows.append((start, _fields(info.path, start, row, header, index, columns)))
                start = reader.line_num + 1
        except csv.Error as err:
            raise SeqlabError(f"{info.path}:{reader.line_num}: not valid CSV: {err}") from None
    return info, rows


def _fields(path: str, line: int, row: list[str], header: list[str], index: dict[str, int],
            columns: dict[str, str]) -> dict[str, str]:
    if len(row) != len(header):
        raise SeqlabError(f"{path}:{line}: {len(row)} fields, but the header has {len(header)}")
    out = {key: row[i] for key, i in index.items()}
    for key, value in out.items():
        if not value.strip():
            raise SeqlabError(f"{path}:{line}: empty value in column '{columns[key]}'")
    return out


def load_text_csv(spec, text_column: str, label_column: str) -> LabelledTextCorpus:
    """Texts and labels from CSV files (per split, or carved from train by the shuffled rule)."""
    from seqlab.data.corpora.classification import label_order

    tables = split_tables(spec, "task.corpus")
    columns = {"task.text_column": text_column, "task.label_column": label_column}
    read = {split: csv_rows(path, columns) for split, path in tables.items()}
    train_info, train = read["train"]
    if not train:
        raise SeqlabError(f"{train_info.path}: a header but no rows")
    picked = {s: list(range(len(rows))) for s, (_, rows) in read.items()}
    if _carved(tables):
        picked.update(shuffled_split(len(train), train_info.path, "rows", _carved(tables)))
    train_classes = {row["task.label_column"] for _, row in train}
    if len(train_classes) < 2:
        raise SeqlabError(f"{train_info.path}: the label column '{label_column}' holds one class "
                          f"({next(iter(train_classes))!r}); a classifier needs two or more")
    classes = tuple(sorted({row["task.label_column"] for _, rows in read.values() for _, row in rows},
                           key=label_order))
    ids = {c: i for i, c in enumerate(classes)}
    splits, lines = {}, {}
    for split in SPLITS:
        info, rows = read.get(split, read["train"])
        chosen = [rows[i] for i in picked[split]]
        name = Path(info.path).name
        splits[split] = ([f"{name}:{n}" for n, _ in chosen], [r["task.text_column"] for _, r in chosen],
                         np.array([ids[r["task.label_column"]] for _, r in chosen], dtype=np.int64))
        lines[split] = {"file": info.path, "lines": line_ranges(n for n, _ in chosen)}
    infos = list({i.path: i for i, _ in read.values()}.values())
    return LabelledTextCorpus(Path(train_info.path).name, user_source([i.path for i in infos], SHUFFLED_RULE),
                              splits, classes, record=_record(spec, infos, SHUFFLED_RULE, lines))


def load_series_csv(path: str, value_column: str, time_column: str | None) -> SeriesCorpus:
    """One series from a CSV column, in file order, split chronologically as the built-in
    series are (``chronological_bounds``: the last 20% test, the 10% before it dev)."""
    from seqlab.data.corpora.timeseries import SPLIT_RULE, chronological_bounds

    columns = {"task.value_column": value_column}
    if time_column is not None:
        columns["task.time_column"] = time_column
    info, rows = csv_rows(path, columns)
    values = np.array([_number(info.path, n, row["task.value_column"], value_column) for n, row in rows])
    if len(values) < 3:
        raise SeqlabError(f"{info.path}: {len(values)} values are too few to split into train/dev/test")
    times = tuple(row.get("task.time_column", str(n)) for n, row in rows)
    bounds = chronological_bounds(len(values))
    lines = {s: {"file": info.path, "lines": line_ranges(n for n, _ in rows[lo:hi])} for s, (lo, hi) in bounds.items()}
    source = user_source([info.path], SPLIT_RULE)
    return SeriesCorpus(Path(info.path).name, source, values, times, bounds, 1, "time column" if time_column else "row",
                        record=_record(path, [info], SPLIT_RULE, lines))


def _number(path: str, line: int, text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SeqlabError(f"{path}:{line}: {text.strip()[:40]!r} in column '{column}' is not a number") from None
    if not math.isfinite(value):
        raise SeqlabError(f"{path}:{line}: {text.strip()!r} in column '{column}' is not a finite number")
    return value
