"""Translation and alignment metrics: sacrebleu BLEU/chrF, scores by source length, AER.

BLEU and chrF go through sacrebleu with its defaults (13a tokenization, cased), on
detokenized system output against the raw reference strings; the signature sacrebleu
returns is kept with every score so a number can always be traced to its settings.

Alignment error rate (Och & Ney 2003): with sure links S and possible links P,
AER = 1 - (|A & S| + |A & P|) / (|A| + |S|). The gold alignments of ``nt_el_en`` have
no sure/possible split (S = P = G), so AER = 1 - 2 |A & G| / (|A| + |G|) = 1 - F1.
Links are (source word index, target word index) pairs, as in
``seqlab.data.corpora.PairCorpus.alignments``.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sacrebleu.metrics import BLEU, CHRF

Links = frozenset[tuple[int, int]] | set[tuple[int, int]]

LENGTH_BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 10), (11, 20), (21, 30), (31, None))
# The numbers corpus runs to ~48 English words: one more bucket to show what happens past 40.
LONG_BUCKETS: tuple[tuple[int, int | None], ...] = ((1, 10), (11, 20), (21, 30), (31, 40), (41, None))


@dataclass(frozen=True)
class CorpusScore:
    """One corpus-level score with the sacrebleu signature that produced it."""

    name: str
    score: float
    signature: str
    n: int

    def __str__(self) -> str:
        return f"{self.name} = {self.score:.2f}  ({self.signature}, n={self.n})"


def bleu(hypotheses: Sequence[str], references: Sequence[str]) -> CorpusScore:
    """Corpus BLEU (sacrebleu defaults) of detokenized hypotheses against raw references."""
    _check_parallel(hypotheses, references)
    metric = BLEU()
    result = metric.corpus_score(list(hypotheses), [list(references)])
    return CorpusScore("BLEU", result.score, str(metric.get_signature()), len(hypotheses))


def chrf(hypotheses: Sequence[str], references: Sequence[str]) -> CorpusScore:
    """Corpus chrF (sacrebleu defaults: character 6-grams, beta 2)."""
    _check_parallel(hypotheses, references)
    metric = CHRF()
    result = metric.corpus_score(list(hypotheses), [list(references)])
    return CorpusScore("chrF", result.score, str(metric.get_signature()), len(hypotheses))


def exact_match(hypotheses: Sequence[str], references: Sequence[str]) -> float:
    """Percentage of hypotheses equal to their reference after stripping outer spaces."""
    _check_parallel(hypotheses, references)
    if not hypotheses:
        return float("nan")
    return 100.0 * sum(h.strip() == r.strip() for h, r in zip(hypotheses, references)) / len(hypotheses)


def _check_parallel(hypotheses: Sequence[str], references: Sequence[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")


def bucket_label(lo: int, hi: int | None) -> str:
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


def score_by_length(
    sources: Sequence[str], hypotheses: Sequence[str], references: Sequence[str],
    metric: Callable[[list[str], list[str]], float],
    buckets: Sequence[tuple[int, int | None]] = LENGTH_BUCKETS,
    lengths: Sequence[int] | None = None,
) -> list[dict]:
    """``metric`` on each bucket of source length (C12's table).

    The length of a source is ``lengths[i]`` when given (the corpus's own word count),
    else its whitespace words. Returns one dict per bucket: {"bucket": "11-20", "n":
    sentences, "score": value} (score is NaN for an empty bucket).
    """
    _check_parallel(hypotheses, references)
    if lengths is None:
        lengths = [len(s.split()) for s in sources]
    elif len(lengths) != len(sources):
        raise ValueError(f"{len(lengths)} lengths for {len(sources)} sources")
    rows = []
    for lo, hi in buckets:
        idx = [i for i, n in enumerate(lengths) if lo <= n and (hi is None or n <= hi)]
        hyps, refs = [hypotheses[i] for i in idx], [references[i] for i in idx]
        score = metric(hyps, refs) if idx else float("nan")
        rows.append({"bucket": bucket_label(lo, hi), "n": len(idx), "score": score})
    return rows


def bleu_by_length(sources, hypotheses, references, buckets=LENGTH_BUCKETS) -> list[dict]:
    """Corpus BLEU per source-length bucket: 1-10, 11-20, 21-30, 31+ words by default."""
    return score_by_length(sources, hypotheses, references, lambda h, r: bleu(h, r).score, buckets)


def perplexity(mean_nll: float) -> float:
    """exp of the mean negative log-likelihood per token (nats)."""
    return math.exp(mean_nll)


def bits_per_char(total_nll: float, num_chars: int) -> float:
    """Total negative log-likelihood (nats) over the text, in bits per character."""
    return total_nll / (num_chars * math.log(2.0))


def subword_to_word(pieces: Sequence[str], words: Sequence[str], boundary: str = "\u2581") -> list[int]:
    """The word index of each subword piece, by character position.

    Spaces and the SentencePiece word-boundary mark are ignored; each piece belongs to
    the word that holds its first character. When normalization changed the number of
    characters, positions are rescaled, so the mapping stays monotone and total.
    """
    ends = np.cumsum([len(w.replace(" ", "")) for w in words]).tolist()  # end offset of each word
    lengths = [len(p.replace(boundary, "").replace(" ", "")) for p in pieces]
    total_words, total_pieces = (ends[-1] if ends else 0), sum(lengths)
    scale = total_words / total_pieces if total_pieces else 0.0
    out, pos = [], 0
    for n in lengths:
        char = min(int(pos * scale), max(total_words - 1, 0))
        out.append(min(bisect.bisect_right(ends, char), len(words) - 1))
        pos += n
    return out


def word_attention(weights: np.ndarray, tgt_word: Sequence[int], src_word: Sequence[int],
                   n_tgt: int, n_src: int) -> np.ndarray:
    """Sum subword attention (T_sub, S_sub) into word attention (n_tgt, n_src)."""
    weights = np.asarray(weights, dtype=np.float64)
    rows = np.zeros((n_tgt, weights.shape[1]))
    np.add.at(rows, np.asarray(tgt_word), weights)
    out = np.zeros((n_tgt, n_src))
    np.add.at(out.T, np.asarray(src_word), rows.T)
    return out


def argmax_links(word_weights: np.ndarray) -> set[tuple[int, int]]:
    """Each target word links to its most attended source word: {(src, tgt)}."""
    return {(int(np.argmax(row)), t) for t, row in enumerate(word_weights)}


def diagonal_links(n_src: int, n_tgt: int) -> set[tuple[int, int]]:
    """The trivial floor: target word t links to the source word under its relative
    midpoint, floor((t + 0.5) n_src / n_tgt)."""
    return {(min(n_src - 1, math.floor((t + 0.5) * n_src / n_tgt)), t) for t in range(n_tgt)}


class DiceAligner:
    """A co-occurrence aligner, the classic baseline for attention-as-alignment.

    Over the training pairs, with c(x) the number of pairs holding word x (counted once
    per pair) and c(s, t) the number holding both, Dice(s, t) = 2 c(s, t) / (c(s) + c(t)).
    Each target word links to the source word of its sentence with the highest Dice;
    ties go to the source word nearest the diagonal. Words are compared lowercased.
    """

    def __init__(self, pairs: Iterable[tuple[Sequence[str], Sequence[str]]]) -> None:
        self.src_ids: dict[str, int] = {}
        self.tgt_ids: dict[str, int] = {}
        keys, src_seen, tgt_seen = [], [], []
        for src, tgt in pairs:
            s = np.unique([self.src_ids.setdefault(w.lower(), len(self.src_ids)) for w in src]).astype(np.int64)
            t = np.unique([self.tgt_ids.setdefault(w.lower(), len(self.tgt_ids)) for w in tgt]).astype(np.int64)
            src_seen.append(s)
            tgt_seen.append(t)
            keys.append((s[:, None] << 32 | t[None, :]).ravel())  # one int64 key per (source, target) type pair
        self.src_count = np.bincount(np.concatenate(src_seen or [np.zeros(0, np.int64)]), minlength=len(self.src_ids))
        self.tgt_count = np.bincount(np.concatenate(tgt_seen or [np.zeros(0, np.int64)]), minlength=len(self.tgt_ids))
        joint, counts = np.unique(np.concatenate(keys or [np.zeros(0, np.int64)]), return_counts=True)
        self.joint = dict(zip(joint.tolist(), counts.tolist()))

    def dice(self, src_word: str, tgt_word: str) -> float:
        a, b = self.src_ids.get(src_word.lower()), self.tgt_ids.get(tgt_word.lower())
        if a is None or b is None:
            return 0.0
        return 2.0 * self.joint.get(a << 32 | b, 0) / (self.src_count[a] + self.tgt_count[b])

    def links(self, src: Sequence[str], tgt: Sequence[str]) -> set[tuple[int, int]]:
        """{(source index, target index)}: one link per target word."""
        out = set()
        for t, word in enumerate(tgt):
            mid = (t + 0.5) * len(src) / len(tgt)
            best = max(range(len(src)), key=lambda s: (self.dice(src[s], word), -abs(s + 0.5 - mid)))
            out.add((best, t))
        return out


def alignment_error(predicted: Sequence[Links], gold: Sequence[Links]) -> dict[str, float]:
    """Corpus-level precision, recall, F1 and AER = 1 - F1 (no sure/possible split)."""
    if len(predicted) != len(gold):
        raise ValueError(f"{len(predicted)} predicted alignments but {len(gold)} gold ones")
    hit = sum(len(set(a) & set(g)) for a, g in zip(predicted, gold))
    n_pred, n_gold = sum(len(a) for a in predicted), sum(len(g) for g in gold)
    precision = hit / n_pred if n_pred else 0.0
    recall = hit / n_gold if n_gold else 0.0
    f1 = 2 * hit / (n_pred + n_gold) if n_pred + n_gold else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "aer": 1.0 - f1}


def save_attention_heatmap(weights: np.ndarray, src_labels: Sequence[str], tgt_labels: Sequence[str],
                           path: str | Path, title: str | None = None,
                           links: Iterable[tuple[int, int]] | None = None) -> Path:
    """Write attention weights (T, S) as a PNG heatmap: target rows, source columns.

    ``links``: (source, target) index pairs drawn as red squares over the cells, e.g.
    gold word alignments. Uses matplotlib's Agg canvas directly (no pyplot, no global
    backend switch).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    weights = np.asarray(weights, dtype=np.float64)
    if weights.shape != (len(tgt_labels), len(src_labels)):
        raise ValueError(f"weights {weights.shape} do not match {len(tgt_labels)} x {len(src_labels)} labels")
    fig = Figure(figsize=(1.0 + 0.35 * len(src_labels), 1.0 + 0.3 * len(tgt_labels)))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(weights.max())), aspect="auto")
    ax.set_xticks(range(len(src_labels)), list(src_labels), rotation=90, fontsize=8)
    ax.set_yticks(range(len(tgt_labels)), list(tgt_labels), fontsize=8)
    if links:
        xs, ys = zip(*links)
        ax.scatter(xs, ys, marker="s", s=60, facecolors="none", edgecolors="red", linewidths=1.2, label="gold")
    ax.set_xlabel("source")
    ax.set_ylabel("target")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.03)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, format="png", dpi=100)
    return path
