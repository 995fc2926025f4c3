"""C42: FastText's subword n-grams give out-of-vocabulary words useful vectors; word-level Word2Vec cannot.

The chapter's table of static embeddings: FastText (2016), "Subword n-grams", "Better OOV,
still static". Measured on the BSB English text (``bsb_en``, train split, lower-cased
words as in C18): a set of rare words (a fixed count band) is held out: every verse that
holds one is dropped from the training text, so the models never see them.

- **Reference** (what a held-out word "should" look like): skip-gram Word2Vec trained on
  the text *with* those verses; the word's 10 nearest neighbours among the words every
  model knows.
- **FastText** (skip-gram, character n-grams 3-5) trained without them: the held-out
  word's vector is built from its n-grams; its 10 nearest neighbours.
- **Word2Vec** trained without them: a word-level model has no vector for an unseen
  word; its fallback (the usual UNK: the mean of all word vectors) gives the neighbours.

Score: overlap@10 with the reference's neighbours, averaged over the held-out words.
Control gate (the reference is a usable gold): for rare words of the same band that *are*
seen, the held-out Word2Vec's neighbours overlap the reference's by >= 0.2 (two word-level
models agree on a seen word). Both models share the settings; seed s trains all three.

Rule, fixed before the run: confirmed when FastText's mean overlap exceeds the Word2Vec
fallback's by >= 0.05 in every seed; refuted when it does not exceed it in a majority of
seeds. Without gensim (an optional extra) the entry says "inconclusive: gensim missing".
"""

from __future__ import annotations

import random
import statistics
from collections import Counter
from dataclasses import dataclass

import numpy as np

from seqlab.config import to_dict
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result

CLAIM_ID = "C42"
QUOTE = "FastText 2016 Subword n-grams Better OOV, still static"
CLAIM = (f"The chapter's table of static embeddings: \"{QUOTE}\": FastText's subword n-grams give held-out "
         "rare words useful vectors where a word-level Word2Vec has none. Real data: the BSB English text.")


@dataclass(frozen=True)
class Config:
    verses: int = 6000  # the first verses of bsb_en's train split
    dim: int = 32
    window: int = 5
    epochs: int = 5
    min_count: int = 3
    buckets: int = 50_000  # FastText's n-gram hash buckets
    band: tuple[int, int] = (5, 30)  # a rare word: seen this many times in the text
    held_out: int = 40  # rare words made OOV
    controls: int = 40  # rare words kept (the gate)
    k: int = 10
    gain: float = 0.05  # FastText's overlap at least the fallback's + this in every seed
    gold: float = 0.2  # control gate: seen rare words' overlap between two Word2Vec models


PROFILES = {"quick": Config(),
            "full": Config(verses=0, dim=100, epochs=10, buckets=2_000_000, held_out=200, controls=200)}  # 0: all
TINY = Config(verses=300, dim=8, epochs=1, min_count=2, buckets=2000, band=(2, 6), held_out=5, controls=5, k=3)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def text(cfg: Config) -> list[list[str]]:
    """The lower-cased word lists of bsb_en's first ``cfg.verses`` train verses (all for 0)."""
    from seqlab.data.corpora import load_corpus
    from seqlab.embeddings.words import words

    verses = [words(t) for _, t in load_corpus("bsb_en").splits["train"]]
    return verses[: cfg.verses] if cfg.verses else verses


def pick_words(verses: list[list[str]], cfg: Config) -> tuple[list[str], list[str]]:
    """(held-out words, control words): rare words of the count band, drawn with a fixed seed, disjoint."""
    counts = Counter(w for v in verses for w in v)
    band = sorted(w for w, n in counts.items() if cfg.band[0] <= n <= cfg.band[1] and len(w) >= 4)
    random.Random(0).shuffle(band)
    held = band[: cfg.held_out]
    gone = {i for i, v in enumerate(verses) if set(v) & set(held)}
    kept = Counter(w for i, v in enumerate(verses) if i not in gone for w in v)
    controls = [w for w in band[cfg.held_out:] if kept[w] >= cfg.min_count][: cfg.controls]
    return held, controls


def without(verses: list[list[str]], held: list[str]) -> list[list[str]]:
    drop = set(held)
    return [v for v in verses if not drop & set(v)]


def train(kind: str, verses: list[list[str]], cfg: Config, seed: int):
    """gensim's skip-gram Word2Vec or FastText (one worker: repeatable), its KeyedVectors."""
    from gensim.models import FastText, Word2Vec

    common = dict(sentences=verses, vector_size=cfg.dim, window=cfg.window, min_count=cfg.min_count,
                  epochs=cfg.epochs, seed=seed, workers=1, sg=1)
    if kind == "fasttext":
        return FastText(min_n=3, max_n=5, bucket=cfg.buckets, **common).wv
    return Word2Vec(**common).wv


def neighbours(wv, vec: np.ndarray, pool: list[str], k: int) -> set[str]:
    """The k words of ``pool`` nearest to ``vec`` by cosine."""
    m = wv[pool]  # (P, D)
    sims = (m / np.linalg.norm(m, axis=1, keepdims=True)) @ (vec / (np.linalg.norm(vec) + 1e-12))  # (P,)
    return {pool[i] for i in np.argsort(-sims, kind="stable")[:k]}


def overlaps(ref, model, words_: list[str], pool: list[str], k: int, fallback: bool = False) -> list[float]:
    """Per word, |N_model(w) & N_ref(w)| / k; ``fallback``: the model's vector for every word is its UNK
    (the mean of its word vectors)."""
    unk = model.vectors.mean(0)
    out = []
    for w in words_:
        gold = neighbours(ref, ref[w], [p for p in pool if p != w], k)
        mine = neighbours(model, unk if fallback else model[w], [p for p in pool if p != w], k)
        out.append(len(gold & mine) / k)
    return out


def outcome(fast: list[float], fallback: list[float], cfg: Config) -> dict:
    """The rule on per-seed mean overlaps."""
    diffs = [f - b for f, b in zip(fast, fallback)]
    return {"confirmed": all(d >= cfg.gain for d in diffs), "refuted": rules.count(d <= 0 for d in diffs) * 2 >
            len(diffs), "diffs": diffs, "margin": min(diffs) - cfg.gain}


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"bsb_en train split, {'all' if not cfg.verses else f'the first {cfg.verses}'} verses, lower-cased words. "
        f"{cfg.held_out} rare words (seen {cfg.band[0]}-{cfg.band[1]} times, >= 4 letters) held out: verses holding "
        f"them dropped. Skip-gram, dim {cfg.dim}, window {cfg.window}, {cfg.epochs} epochs, min count {cfg.min_count}; "
        f"FastText n-grams 3-5, {cfg.buckets} buckets. Reference: Word2Vec on all the verses. Score: overlap@{cfg.k} "
        f"of each held-out word's neighbours with the reference's; control: {cfg.controls} seen rare words. Seeds "
        f"{list(seeds)}."), profile, config(profile), seeds=seeds)
    try:
        import gensim.models  # noqa: F401
    except ImportError:
        return finish(result, "inconclusive", "needs gensim (pip install gensim, or the project's extras)",
                      "gensim missing: FastText and Word2Vec are gensim's", "inconclusive: gensim missing")
    verses = text(cfg)
    held, controls = pick_words(verses, cfg)
    rest = without(verses, held)
    rows, fast, base, ctrl = [], [], [], []
    for seed in seeds:
        ref, ft, w2v = train("word2vec", verses, cfg, seed), train("fasttext", rest, cfg, seed), \
            train("word2vec", rest, cfg, seed)
        pool = [w for w in w2v.index_to_key if w in ref.key_to_index and w in ft.key_to_index]
        fast.append(statistics.fmean(overlaps(ref, ft, held, pool, cfg.k)))
        base.append(statistics.fmean(overlaps(ref, w2v, held, pool, cfg.k, fallback=True)))
        ctrl.append(statistics.fmean(overlaps(ref, w2v, controls, pool, cfg.k)))
        rows.append([seed, len(pool), fast[-1], base[-1], ctrl[-1]])
    result.add_table(f"mean overlap@{cfg.k} with the reference's neighbours", [
        "seed", "words in the pool", "FastText, held-out words (n-grams)", "Word2Vec, held-out words (UNK fallback)",
        "Word2Vec, seen control words (gate)"], rows)
    result.add_table("the words", ["set", "count", "first ten"], [["held out", len(held), ", ".join(held[:10])],
                                                                  ["controls", len(controls), ", ".join(controls[:10])]])
    return _verdict(result, fast, base, ctrl, cfg)


def _verdict(result, fast: list[float], base: list[float], ctrl: list[float], cfg: Config):
    out = outcome(fast, base, cfg)
    gates = [rules.at_least("the reference is a usable gold: seen rare words' overlap (min over seeds)", min(ctrl),
                            cfg.gold)]
    result.add_table("margin of the deciding number to its threshold", ["number", "measured", "threshold", "margin",
                                                                       "as a fraction"],
                     [["min over seeds of FastText - fallback", min(out["diffs"]), cfg.gain, out["margin"],
                       out["margin"] / cfg.gain]])
    verdict = judge(enough=rules.gates_pass(gates), confirmed=out["confirmed"], refuted=out["refuted"])
    return finish(
        result, verdict,
        f"confirmed when FastText's mean overlap@{cfg.k} on held-out words exceeds the Word2Vec UNK fallback's by >= "
        f"{cfg.gain} in every seed; refuted when it does not exceed it in a majority of seeds. Gate: seen rare words' "
        f"overlap between the held-out Word2Vec and the reference >= {cfg.gold} in every seed.",
        "per seed FastText / fallback: " + ", ".join(f"{f:.3f} / {b:.3f}" for f, b in zip(fast, base))
        + f"; margin {out['margin']:+.3f} ({out['margin'] / cfg.gain:+.0%} of {cfg.gain})",
        f"OOV overlap@{cfg.k}: FastText {statistics.median(fast):.3f} vs Word2Vec fallback "
        f"{statistics.median(base):.3f} (median over seeds)", gates=gates)
