"""Sequence classification sets shipped inside sktime, with their official splits.

- ``japanese_vowels``: 9 male speakers saying /ae/; each utterance is 12 LPC cepstrum
  channels over 7..29 frames; the label is the speaker. Official split: 270 train,
  370 test (UCI / UEA archive).
- ``gunpoint``: one channel of 150 steps (hand x-position), two classes (drawing a gun
  or pointing a finger). Official split: 50 train, 150 test (UCR archive).

sktime pads shorter series with NaN in some loaders; trailing NaN steps are dropped so
each item keeps its true length.
"""

from __future__ import annotations

import numpy as np

from seqlab.data.corpora.base import ClassificationCorpus, Source, require_module

INSTALL = "pip install sktime"

# name -> (sktime loader function, description, archive)
SETS: dict[str, tuple[str, str, str]] = {
    "japanese_vowels": ("load_japanese_vowels",
                        "Japanese Vowels: 9 speakers, 12 LPC channels, variable length",
                        "UCI / UEA multivariate time series classification archive"),
    "gunpoint": ("load_gunpoint", "GunPoint: gun-draw vs point, 1 channel, length 150",
                 "UCR time series classification archive"),
}


def _item(row) -> np.ndarray:
    """One sktime nested-DataFrame row -> float32 (T, C), trailing NaN steps dropped."""
    x = np.stack([np.asarray(cell, dtype=np.float32) for cell in row], axis=1)  # (T, C)
    keep = ~np.isnan(x).all(axis=1)
    return x[: int(np.nonzero(keep)[0].max()) + 1] if keep.any() else x[:0]


def load_classification(name: str) -> ClassificationCorpus:
    """One of :data:`SETS` with the archive's official train and test splits."""
    loader_name, description, archive = SETS[name]
    loader = getattr(require_module("sktime.datasets", INSTALL), loader_name)
    raw = {s: loader(split=s, return_X_y=True) for s in ("train", "test")}
    classes = tuple(sorted({str(c) for _, y in raw.values() for c in y}, key=label_order))
    index = {c: i for i, c in enumerate(classes)}
    splits = {
        s: ([_item(row) for row in X.itertuples(index=False)],
            np.array([index[str(c)] for c in y], dtype=np.int64))
        for s, (X, y) in raw.items()
    }
    source = Source(
        package="sktime (PyPI), sktime.datasets." + loader_name,
        origin=description,
        license="research use, cite the archive (see the sktime dataset documentation)",
        attribution=archive,
        split_rule="the archive's official train/test split (no dev split)",
    )
    return ClassificationCorpus(name, source, splits, classes)


def label_order(label: str) -> tuple[int, str]:
    """Numeric labels in numeric order ("2" before "10"), others alphabetically."""
    return (int(label), "") if label.isdigit() else (10**9, label)
