"""Claim C18: one static vector per word versus one contextual vector per occurrence.

For a word of ``bsb_en`` this gathers every occurrence, the skip-gram vector (the same
for all of them) and the BiLSTM LM vector of each occurrence, then measures:

- self-similarity: the mean cosine between the contextual vectors of the word's
  occurrences (Ethayarajh 2019); a static model scores exactly 1 by construction;
- the baseline: the mean cosine between contextual vectors of random word pairs, since
  contextual spaces are anisotropic and even unrelated words are not at cosine 0;
- the same self-similarity after centering (subtracting the mean token vector of the
  training sample), which removes the shared direction: random pairs then sit near 0;
- nearest neighbours: of the static vector among static vectors, and of each
  occurrence's vector among the words' average contextual vectors.

Both models train on the train split only; occurrences come from every split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.data.corpora import SPLITS, load_corpus
from seqlab.embeddings.contextual import train_bilm
from seqlab.embeddings.static import StaticVectors, train_static
from seqlab.embeddings.words import FIRST_WORD, WordVocab, words
from seqlab.errors import SeqlabError


@dataclass(frozen=True)
class EmbedSettings:
    """Sizes of both models (the defaults are what `seqlab embed compare` uses)."""

    static_dim: int = 100
    static_epochs: int = 15
    min_count: int = 3
    max_vocab: int = 6000
    embed_dim: int = 64
    hidden: int = 128
    steps: int = 800
    anchor_every: int = 4  # average contextual vectors over every 4th train verse
    seed: int = 0
    device: str = "auto"


@dataclass(frozen=True)
class Occurrence:
    key: str
    split: str
    context: str  # the verse's words with the word in [brackets]
    cosine_to_mean: float
    neighbours: list[tuple[str, float]]


@dataclass(frozen=True)
class Comparison:
    word: str
    static_neighbours: list[tuple[str, float]]
    occurrences: list[Occurrence]
    self_similarity: float
    min_similarity: float
    baseline: float
    centered_self_similarity: float
    static_dim: int
    contextual_dim: int


def unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def type_vectors(bilm, vocab: WordVocab, verses: list[list[str]], batch: int = 256):
    """Per word id, the mean contextual vector over its occurrences in ``verses``.

    Returns (mean vectors (V, 2H), counts (V,), sample of token vectors (N, 2H)).
    """
    total = counts = None
    sample = []
    for i in range(0, len(verses), batch):
        chunk = [v for v in verses[i: i + batch] if v]
        ids = [[vocab.id(w) for w in v] for v in chunk]
        vecs = bilm.encode(ids)  # [(n_i, 2H)]
        flat, flat_ids = torch.cat(vecs), torch.tensor([j for v in ids for j in v])
        if total is None:
            total = torch.zeros(len(vocab), flat.shape[1])
            counts = torch.zeros(len(vocab))
        total.index_add_(0, flat_ids, flat)
        counts.index_add_(0, flat_ids, torch.ones(len(flat_ids)))
        sample.append(flat[:: 50])
    return total / counts.clamp_min(1)[:, None], counts, torch.cat(sample)


def random_pair_cosine(sample: torch.Tensor, pairs: int = 2000, seed: int = 0) -> float:
    g = torch.Generator().manual_seed(seed)
    a = torch.randint(0, len(sample), (pairs,), generator=g)
    b = torch.randint(0, len(sample), (pairs,), generator=g)
    keep = a != b
    return float((unit(sample[a[keep]]) * unit(sample[b[keep]])).sum(-1).mean())


def occurrences_of(word: str, verses_by_split: dict[str, list[tuple[str, list[str]]]]):
    """[(split, verse key, verse words, position)] for every occurrence of ``word``."""
    return [(s, key, ws, i) for s in SPLITS for key, ws in verses_by_split[s]
            for i, w in enumerate(ws) if w == word]


def compare_word(word: str, settings: EmbedSettings = EmbedSettings(), k: int = 5,
                 max_contexts: int = 20) -> Comparison:
    """Static vs contextual vectors of ``word`` over its occurrences in ``bsb_en``."""
    word = word.lower()
    corpus = load_corpus("bsb_en")
    by_split = {s: [(key, words(t)) for key, t in corpus.splits[s]] for s in SPLITS}
    train = [ws for _, ws in by_split["train"]]
    dev = [ws for _, ws in by_split["dev"]]
    static = train_static(train, settings.static_dim, epochs=settings.static_epochs,
                          min_count=settings.min_count, seed=settings.seed)
    vocab = WordVocab.build(train, settings.min_count, settings.max_vocab)
    if word not in static or word not in vocab.index:
        raise SeqlabError(f"'{word}' occurs fewer than {settings.min_count} times in the "
                          "bsb_en training split; pick a more frequent word")
    bilm = train_bilm(vocab, train, dev, settings.embed_dim, settings.hidden, settings.steps,
                      seed=settings.seed, device=settings.device)
    means, counts, sample = type_vectors(bilm, vocab, train[:: settings.anchor_every])
    center = sample.mean(0)  # (2H,): the direction every contextual vector shares
    found = occurrences_of(word, by_split)[:max_contexts]
    raw = torch.stack([bilm.encode([[vocab.id(w) for w in ws]])[0][i]
                       for _, _, ws, i in found])  # (N, 2H)
    raw_sims = pairwise(unit(raw))
    vecs = unit(raw - center)  # centered, unit length
    anchors = unit(means - center)  # (V, 2H)
    mean = unit(vecs.mean(0))
    usable = (counts >= 5) & (torch.arange(len(vocab)) >= FIRST_WORD)
    usable[vocab.id(word)] = False
    occ = []
    for (split, key, ws, i), v in zip(found, vecs):
        top = torch.topk(torch.where(usable, anchors @ v, torch.tensor(-2.0)), k)
        occ.append(Occurrence(
            key, split, " ".join(ws[:i] + [f"[{ws[i]}]"] + ws[i + 1:]), float(v @ mean),
            [(vocab.word(int(j)), float(c)) for c, j in zip(top.values, top.indices)]))
    return Comparison(
        word, static.neighbours(static.vector(word), k, exclude={word}), occ,
        float(raw_sims.mean()) if len(raw_sims) else 1.0,
        float(raw_sims.min()) if len(raw_sims) else 1.0,
        random_pair_cosine(sample, seed=settings.seed),
        float(pairwise(vecs).mean()) if len(found) > 1 else 1.0,
        settings.static_dim, vecs.shape[1])


def pairwise(vecs: torch.Tensor) -> torch.Tensor:
    """The cosines of all distinct pairs of unit vectors (N, D): N (N - 1) values."""
    sims = vecs @ vecs.T  # (N, N)
    return sims[~torch.eye(len(vecs), dtype=torch.bool)]


def fmt(neighbours: list[tuple[str, float]]) -> str:
    return ", ".join(f"{w} {s:.2f}" for w, s in neighbours)


def format_comparison(c: Comparison, width: int = 100) -> str:
    """The text `seqlab embed compare` prints."""
    splits = {s: sum(o.split == s for o in c.occurrences) for s in SPLITS}
    lines = [
        f'"{c.word}": {len(c.occurrences)} occurrences in bsb_en ('
        + ", ".join(f"{s} {n}" for s, n in splits.items()) + ")",
        f"static (skip-gram, {c.static_dim}-d): one vector for all occurrences, "
        "self-similarity 1.000",
        f"  nearest: {fmt(c.static_neighbours)}",
        f"contextual (BiLSTM LM states, {c.contextual_dim}-d): self-similarity "
        f"{c.self_similarity:.3f} (lowest pair {c.min_similarity:.3f}; random word pairs "
        f"{c.baseline:.3f})",
        f"  centered on the corpus mean vector: self-similarity "
        f"{c.centered_self_similarity:.3f} (random pairs ~0); neighbours below use it",
    ]
    for o in c.occurrences:
        at = o.context.index("[")
        lo = max(0, at - (width - 30) // 2)
        snippet = ("..." if lo else "") + o.context[lo: lo + width - 30]
        lines.append(f"  {o.key} {o.split:<5} cos-to-mean {o.cosine_to_mean:.2f}  {snippet}")
        lines.append(f"      nearest: {fmt(o.neighbours)}")
    return "\n".join(lines)
