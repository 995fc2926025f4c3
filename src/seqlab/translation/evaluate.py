"""Translate with a trained model and score it: BLEU, chrF, BLEU by length, attention AER."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from seqlab.data.batching import collate_pairs, pad_sequences
from seqlab.data.corpora import Pair, PairCorpus
from seqlab.data.tokenize import BOS, EOS, piece_surface
from seqlab.decode import Hypothesis, beam_search, check_beam, greedy, hypotheses_batch
from seqlab.metrics import (
    LENGTH_BUCKETS, LONG_BUCKETS, alignment_error, argmax_links, bleu, chrf, diagonal_links, exact_match,
    score_by_length, subword_to_word, word_attention,
)


@torch.no_grad()
def translate_ids(model, sources: Sequence[list[int]], device, beam: int = 5, alpha: float = 0.6,
                  max_len_ratio: float = 2.0, batch_size: int = 32, need_weights: bool = False) -> list[Hypothesis]:
    """Decode token-id sources in length-sorted batches; results come back in input order.

    beam == 1 uses greedy search. A batch holds at most ``MAX_HYPOTHESES`` hypotheses
    (sources x beam): ``batch_size`` is lowered to fit.
    """
    check_beam(beam)
    batch_size = hypotheses_batch(batch_size, beam)
    model.eval()
    order = sorted(range(len(sources)), key=lambda i: len(sources[i]))
    out: list[Hypothesis | None] = [None] * len(sources)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        src, mask, _ = pad_sequences([sources[i] or [EOS] for i in idx])
        src, mask = src.to(device), mask.to(device)
        if beam == 1:
            hyps = greedy(model, src, mask, BOS, EOS, max_len_ratio, need_weights=need_weights)
        else:
            hyps = [h[0] for h in beam_search(model, src, mask, BOS, EOS, beam, alpha, max_len_ratio,
                                              need_weights=need_weights)]
        for i, h in zip(idx, hyps):
            out[i] = h
    return out


def translate_texts(model, src_tok, tgt_tok, texts: Sequence[str], device, beam: int = 5, alpha: float = 0.6,
                    max_len_ratio: float = 2.0, batch_size: int = 32) -> list[str]:
    """Raw source strings -> detokenized output strings (see ``translate_ids``)."""
    hyps = translate_ids(model, [src_tok.encode(t) for t in texts], device, beam, alpha, max_len_ratio, batch_size)
    return [tgt_tok.decode(h.tokens) for h in hyps]


@torch.no_grad()
def forced_attention(model, src: list[int], tgt: list[int], device) -> np.ndarray | None:
    """Attention (T_tgt_pieces, S_pieces) while the model reads the reference (heads averaged)."""
    batch = collate_pairs([src], [tgt], [0]).to(device)
    _, attn = model(batch.src, batch.src_mask, batch.tgt_in, need_weights=True)
    if attn is None:
        return None
    attn = attn[0]
    if attn.dim() == 3:  # (H, T, S): average the heads
        attn = attn.mean(0)
    return attn[: len(tgt)].float().cpu().numpy()  # rows of the target pieces (EOS row dropped)


def word_attention_of(model, pair: Pair, src_tok, tgt_tok, device) -> np.ndarray | None:
    """Attention (target words, source words) while the model reads ``pair``'s reference.

    Subword attention is summed into the corpus's words (``Pair.src_tokens`` /
    ``tgt_tokens``, the words the gold alignments index). None when the model has none.
    """
    src, tgt = src_tok.encode(pair.src), tgt_tok.encode(pair.tgt)
    weights = forced_attention(model, src, tgt, device)
    if weights is None:
        return None
    src_word = subword_to_word([piece_surface(src_tok.id_to_piece(i)) for i in src], pair.src_tokens)
    tgt_word = subword_to_word([piece_surface(tgt_tok.id_to_piece(i)) for i in tgt], pair.tgt_tokens)
    return word_attention(weights, tgt_word, src_word, len(pair.tgt_tokens), len(pair.src_tokens))


def attention_aer(model, corpus: PairCorpus, split: str, src_tok, tgt_tok, device,
                  limit: int | None = None) -> dict[str, float] | None:
    """AER of attention argmax links against the gold word alignments of ``split``.

    Each target word links to its most attended source word (``word_attention_of``).
    Also returns the diagonal aligner's AER as a floor. None when the model has no
    attention or the split has no gold alignments.
    """
    pairs = [p for p in corpus.splits[split] if p.key in corpus.alignments][:limit]
    if not pairs:
        return None
    model.eval()
    predicted, diagonal, gold = [], [], []
    for p in pairs:
        words = word_attention_of(model, p, src_tok, tgt_tok, device)
        if words is None:
            return None
        predicted.append(argmax_links(words))
        diagonal.append(diagonal_links(len(p.src_tokens), len(p.tgt_tokens)))
        gold.append(corpus.alignments[p.key])
    scores = alignment_error(predicted, gold)
    scores["diagonal_aer"] = alignment_error(diagonal, gold)["aer"]
    scores["sentences"] = len(pairs)
    return scores


def length_buckets(corpus: PairCorpus) -> tuple:
    """Source-length buckets for a corpus: 1-10 .. 31+ words, with 31-40 and 41+ for ``numbers``."""
    return LONG_BUCKETS if corpus.name == "numbers" else LENGTH_BUCKETS


def evaluate_split(model, corpus: PairCorpus, split: str, src_tok, tgt_tok, device, beam: int = 5,
                   alpha: float = 0.6, max_len_ratio: float = 2.0, limit: int | None = None,
                   aer: bool = True, buckets=None) -> dict:
    """Translate a split; return BLEU, chrF (with signatures), exact-match accuracy, each
    of the three per source-length bucket, and the attention AER.

    Source length is the corpus's word count (``Pair.src_tokens``); the buckets default
    to ``length_buckets(corpus)``.
    """
    pairs = corpus.splits[split][:limit]
    sources, refs = [p.src for p in pairs], [p.tgt for p in pairs]
    hyps = translate_texts(model, src_tok, tgt_tok, sources, device, beam=beam, alpha=alpha,
                           max_len_ratio=max_len_ratio)
    b, c = bleu(hyps, refs), chrf(hyps, refs)
    buckets, lengths = buckets or length_buckets(corpus), [len(p.src_tokens) for p in pairs]

    def by_length(metric) -> list[dict]:
        return score_by_length(sources, hyps, refs, metric, buckets, lengths)

    return {
        "split": split, "sentences": len(pairs),
        "bleu": b.score, "bleu_signature": b.signature, "chrf": c.score, "chrf_signature": c.signature,
        "accuracy": exact_match(hyps, refs),
        "bleu_by_length": by_length(lambda h, r: bleu(h, r).score),
        "chrf_by_length": by_length(lambda h, r: chrf(h, r).score),
        "accuracy_by_length": by_length(exact_match),
        "aer": attention_aer(model, corpus, split, src_tok, tgt_tok, device, limit) if aer else None,
        "examples": [{"src": s, "ref": r, "hyp": h} for s, r, h in list(zip(sources, refs, hyps))[:5]],
    }
