"""Real data sets, loaded from installed packages (nothing is downloaded).

``load_corpus(name)`` returns one of the corpus types of :mod:`.base`; parsed corpora
are kept for the life of the process, so repeated loads are free. ``CORPORA`` lists
every name with its kind and a one-line description.

Splits are fixed and written down in each corpus's ``source.split_rule``, so numbers
compare across runs, machines and tools.

Wherever a recipe names a corpus it may name the user's own files instead
(:mod:`.user`): ``builtin_names(kind)`` are the names that are not paths.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from seqlab.data.corpora.base import (
    SPLITS, ClassificationCorpus, LabelledTextCorpus, Pair, PairCorpus, SeriesCorpus, Source, TextCorpus,
    data_record,
)
from seqlab.data.corpora.bible import load_bsb_en, load_nt_el_en
from seqlab.data.corpora.classification import SETS, load_classification
from seqlab.data.corpora.numbers import load_numbers
from seqlab.data.corpora.timeseries import SERIES, load_series
from seqlab.errors import SeqlabError

Corpus = PairCorpus | TextCorpus | SeriesCorpus | ClassificationCorpus | LabelledTextCorpus

# name -> (kind, one-line description, loader)
CORPORA: dict[str, tuple[str, str, Callable[[], Corpus]]] = {
    "nt_el_en": ("translation", "Greek NT (SBLGNT) -> English (BSB), verse pairs, "
                 "gold word alignments", load_nt_el_en),
    "bsb_en": ("text", "English Berean Standard Bible, OT + NT, for language modeling",
               load_bsb_en),
    "numbers": ("translation", "English -> German number words (num2words), seeded",
                load_numbers),
}
CORPORA.update({
    name: ("series", desc, functools.partial(load_series, name))
    for name, (_, _, _, desc) in SERIES.items()
})
CORPORA.update({
    name: ("classification", desc, functools.partial(load_classification, name))
    for name, (_, desc, _) in SETS.items()
})


def builtin_names(kind: str) -> tuple[str, ...]:
    """The built-in corpora of one kind ("text", "translation", "series", "classification")."""
    return tuple(name for name, (k, _, _) in CORPORA.items() if k == kind)


def corpus_value(value, kind: str, sides: tuple[str, ...] = ()):
    """A recipe's ``corpus`` as a task keeps it: a built-in name as it is, the user's file paths
    made absolute (ConfigError for a wrong shape; see ``files.split_tables``)."""
    from seqlab.data.corpora.files import absolute_spec

    return absolute_spec(value, builtin_names(kind), sides)


def open_corpus(value, kind: str, load_files: Callable):
    """The built-in corpus ``value`` names, or ``load_files(value)`` for the user's files (one
    line when a string is neither a built-in name nor an existing path)."""
    from seqlab.data.corpora.files import no_such_corpus

    names = builtin_names(kind)
    if isinstance(value, str) and value in names:
        return load_corpus(value)
    no_such_corpus(value, names)
    return load_files(value)


@functools.lru_cache(maxsize=None)
def load_corpus(name: str) -> Corpus:
    """The named corpus, parsed once per process.

    Raises:
        SeqlabError: unknown name (the message lists the known ones).
        MissingDependencyError: the package holding the data is not installed.
    """
    if name not in CORPORA:
        raise SeqlabError(f"unknown corpus '{name}'; choose one of: {', '.join(CORPORA)}")
    return CORPORA[name][2]()


__all__ = [
    "CORPORA", "SPLITS", "ClassificationCorpus", "Corpus", "LabelledTextCorpus", "Pair", "PairCorpus",
    "SeriesCorpus", "Source", "TextCorpus", "builtin_names", "corpus_value", "data_record", "load_bsb_en",
    "load_classification", "open_corpus",
    "load_corpus", "load_numbers", "load_nt_el_en", "load_series",
]
