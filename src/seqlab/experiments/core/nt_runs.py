"""Train and score translation models on the real corpora: the full-profile step of C12, C13 and C14.

A model trains one translation recipe (``seqlab.translation``) for exactly ``steps``
updates (``train.minutes`` unset, so a busy machine changes only the wall time), with
dev points at even intervals for the convergence gate. It is then scored on the
test split by greedy decoding (BLEU, chrF, exact match, each per source-length band),
and, on Greek -> English NT, its attention is read as word links against the gold
alignments, next to two aligners that see no model: the diagonal (lengths only) and
Dice co-occurrence statistics from the training pairs.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqlab.data.corpora import PairCorpus
from seqlab.metrics import DiceAligner, alignment_error, argmax_links, diagonal_links, save_attention_heatmap
from seqlab.recipe import recipe_from_dict
from seqlab.translation.data import load_pairs
from seqlab.translation.evaluate import evaluate_split, word_attention_of
from seqlab.translation.loop import load_translator, train_translator

NT = {"corpus": "nt_el_en", "tokenizer": "unigram", "src_vocab": 4000, "tgt_vocab": 4000}
# English -> German number words, 1-48 English words, equally many in each 10-word band (24 digits reach
# 47 words; 18 would stop at 35 and leave the 41+ band empty)
NUMBERS = {"corpus": "numbers", "tokenizer": "unigram", "src_vocab": 500, "tgt_vocab": 500, "max_len": 400,
           "numbers_size": 12000, "numbers_min_words": 1, "numbers_max_words": 48, "numbers_max_digits": 24,
           "numbers_even_width": 10}
EVALS = 8  # dev points per run: the convergence gate reads the last quarter


@dataclass
class Scored:
    """One trained model: its dev curve, test scores and (NT) alignment measurements."""

    label: str
    seed: int
    train_seconds: float
    curve: list[float]  # dev BLEU (chrF on numbers) at EVALS even points
    scores: dict
    alignment: dict = field(default_factory=dict)
    heatmaps: list[tuple[str, bytes]] = field(default_factory=list)
    parameters: int = 0  # trainable weights of the model


def recipe(data: dict, model: dict, steps: int, seed: int, eval_sentences: int, max_tokens: int = 4096,
           lr: float = 1e-3) -> dict:
    """A recipe dict that trains exactly ``steps`` updates with EVALS dev points."""
    every = max(steps // EVALS, 1)
    train = {"steps": steps, "lr": lr, "betas": [0.9, 0.98], "clip_norm": 1.0, "eval_every": every,
             "checkpoint_every": every, "seed": seed, "progress": False}
    task = {"name": "translation", **data, "max_tokens": max_tokens, "eval_sentences": eval_sentences}
    return {"task": task, "model": {"dropout": 0.1, **model}, "train": train}


def train_and_score(label: str, recipe_dict: dict, limit: int | None, buckets=None, align: int = 0,
                    heatmaps: int = 0, dice: DiceAligner | None = None) -> Scored:
    """Train ``recipe_dict`` in a temporary folder, then score the first ``limit`` test pairs (greedy).

    ``align`` > 0: AER of attention, diagonal and ``dice`` links on that many gold-aligned
    test verses; ``heatmaps``: that many of them drawn with the gold links overlaid.
    """
    rec = recipe_from_dict(recipe_dict)
    corpus = load_pairs(rec.task)
    key = "dev_chrf" if rec.task.corpus == "numbers" else "dev_bleu"
    with tempfile.TemporaryDirectory(prefix="seqlab-ledger-") as folder:
        done = train_translator(rec, folder, log=lambda line: None)
        model, src_tok, tgt_tok, _ = load_translator(folder)
    device = next(model.parameters()).device
    scores = evaluate_split(model, corpus, "test", src_tok, tgt_tok, device, beam=1, limit=limit, aer=False,
                            buckets=buckets)
    out = Scored(label, rec.train.seed, done.train_seconds, [row[key] for row in done.history], scores,
                 parameters=sum(p.numel() for p in model.parameters() if p.requires_grad))
    if align:
        out.alignment, out.heatmaps = alignments(model, corpus, src_tok, tgt_tok, device, align, heatmaps, dice)
    return out


def alignments(model, corpus: PairCorpus, src_tok, tgt_tok, device, limit: int, heatmaps: int,
               dice: DiceAligner | None) -> tuple[dict, list[tuple[str, bytes]]]:
    """AER of attention argmax, diagonal and Dice links on the first ``limit`` gold-aligned test verses."""
    pairs = [p for p in corpus.splits["test"] if p.key in corpus.alignments][:limit]
    model.eval()
    links = {"attention": [], "diagonal": [], "dice": []}
    gold, pictures = [], []
    for p in pairs:
        words = word_attention_of(model, p, src_tok, tgt_tok, device)  # (target words, source words)
        if words is None:
            return {}, []
        links["attention"].append(argmax_links(words))
        links["diagonal"].append(diagonal_links(len(p.src_tokens), len(p.tgt_tokens)))
        links["dice"].append(dice.links(p.src_tokens, p.tgt_tokens) if dice else set())
        gold.append(corpus.alignments[p.key])
        if len(pictures) < heatmaps and len(p.src_tokens) <= 20 and len(p.tgt_tokens) <= 24:
            pictures.append((p.key, heatmap(words, p, corpus.alignments[p.key])))
    scores = {name: alignment_error(found, gold)["aer"] for name, found in links.items() if dice or name != "dice"}
    return {**scores, "verses": len(pairs)}, pictures


def heatmap(words: np.ndarray, pair, gold) -> bytes:
    """PNG bytes: word attention of one verse, gold links as red squares."""
    with tempfile.TemporaryDirectory() as folder:
        path = save_attention_heatmap(words, pair.src_tokens, pair.tgt_tokens, Path(folder) / "verse.png",
                                      title=pair.key, links=gold)
        return path.read_bytes()


def dice_aligner(corpus: PairCorpus) -> DiceAligner:
    """Dice statistics from the training pairs' words."""
    return DiceAligner((p.src_tokens, p.tgt_tokens) for p in corpus.splits["train"])
