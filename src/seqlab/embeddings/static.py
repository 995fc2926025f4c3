"""Static word vectors: skip-gram with negative sampling (gensim's Word2Vec).

One vector per word type, whatever the context: the baseline of claim C18. The
vectors are cached as a NumPy array plus a JSON word list (no pickle) under
``$SEQLAB_CACHE/embeddings/static-<key>/``, the key hashing the verses and settings.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from seqlab.data.corpora.base import require_module
from seqlab.data.tokenize import cache_root, texts_hash


@dataclass(frozen=True)
class StaticVectors:
    """Unit-length word vectors (V, D) and their words."""

    words: tuple[str, ...]
    vectors: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {w: i for i, w in enumerate(self.words)})

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def vector(self, word: str) -> np.ndarray:
        return self.vectors[self.index[word]]

    def neighbours(self, vec: np.ndarray, k: int, exclude: set[str] = frozenset()):
        """The k words of highest cosine similarity to ``vec``: [(word, cosine)]."""
        sims = self.vectors @ (vec / (np.linalg.norm(vec) + 1e-12))  # (V,)
        order = np.argsort(-sims)
        out = [(self.words[i], float(sims[i])) for i in order[: k + len(exclude)]
               if self.words[i] not in exclude]
        return out[:k]


def train_static(verses: list[list[str]], dim: int = 100, window: int = 5, negative: int = 5,
                 epochs: int = 5, min_count: int = 3, seed: int = 0,
                 cache_dir: Path | None = None) -> StaticVectors:
    """Skip-gram (sg=1) with ``negative`` noise words per pair, trained on ``verses``."""
    settings = dict(dim=dim, window=window, negative=negative, epochs=epochs,
                    min_count=min_count, seed=seed, version=1)
    key = hashlib.sha256((texts_hash(" ".join(v) for v in verses)
                          + json.dumps(settings, sort_keys=True)).encode()).hexdigest()[:16]
    folder = Path(cache_dir or cache_root()) / "embeddings" / f"static-{key}"
    if (folder / "vectors.npy").is_file():
        words = json.loads((folder / "words.json").read_text(encoding="utf-8"))
        return StaticVectors(tuple(words), np.load(folder / "vectors.npy", allow_pickle=False))
    word2vec = require_module("gensim.models", "pip install gensim").Word2Vec
    model = word2vec(sentences=verses, vector_size=dim, window=window, negative=negative,
                     sg=1, hs=0, min_count=min_count, epochs=epochs, seed=seed, workers=1)
    vectors = model.wv.vectors / np.linalg.norm(model.wv.vectors, axis=1, keepdims=True)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "words.json").write_text(json.dumps(list(model.wv.index_to_key)),
                                       encoding="utf-8")
    np.save(folder / "vectors.npy", vectors.astype(np.float32), allow_pickle=False)  # last
    return StaticVectors(tuple(model.wv.index_to_key), vectors.astype(np.float32))
