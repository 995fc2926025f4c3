"""Translation as a task of the one trainer (``seqlab.train.Trainer``).

``TranslationTask`` serves the training pairs in length-bucketed, token-budgeted
batches (``seqlab.data.batching.bucket_batches``): step s is batch s mod n of epoch
s // n, and an epoch's batches are a fixed function of (seed, epoch), so a resumed run
(and every process of a data-parallel one) sees the batches an uninterrupted run sees.
Its ``loss(model, batch)`` is the label-smoothed cross-entropy of the teacher-forced
encoder-decoder. ``DevScores`` is the evaluation callback that adds greedy dev BLEU and
chrF to each evaluation; early stopping follows dev BLEU (``watch``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.data.batching import PairBatch, bucket_batches, collate_pairs
from seqlab.data.tokenize import PAD
from seqlab.metrics import bleu, chrf
from seqlab.nn.seq2seq import sequence_loss
from seqlab.translation.config import Translation
from seqlab.translation.data import EncodedSplit
from seqlab.translation.evaluate import translate_texts


@dataclass
class PairShard:
    """Some rows of a global batch of pairs, and what the global batch's loss divides by.

    Attributes:
        pairs: the rows this process trains on.
        tokens: target tokens of the whole global batch.
        world: processes sharing it (their gradients are averaged, so each scales by it).
        weight: 1, or 0 for a process left without rows (it trains on a copy of row 0
            that counts for nothing, so that every process takes part in the update).
    """

    pairs: PairBatch
    tokens: int
    world: int = 1
    weight: float = 1.0

    def to(self, device) -> "PairShard":
        return PairShard(self.pairs.to(device), self.tokens, self.world, self.weight)

    def shard(self, rank: int, world: int) -> "PairShard":
        """Rank ``rank``'s contiguous share of the rows (shares differ by at most one row)."""
        rows = np.array_split(np.arange(self.pairs.src.shape[0]), world)[rank]
        weight = 1.0 if len(rows) else 0.0
        index = torch.as_tensor(rows if len(rows) else [0], dtype=torch.long)
        p = self.pairs
        src_mask, tgt_mask = p.src_mask[index], p.tgt_mask[index]
        s, t = int(src_mask.sum(1).max()), int(tgt_mask.sum(1).max())  # drop columns that are padding only
        part = PairBatch(p.src[index, :s], src_mask[:, :s], p.src_lengths[index], p.tgt_in[index, :t],
                         p.tgt_out[index, :t], tgt_mask[:, :t], p.index[index])
        return PairShard(part, self.tokens, world, weight)


class TranslationTask:
    """Batches of training pairs by step, and the translation loss (see the module docstring)."""

    loss_kind = "ce"
    watch = ("dev_bleu", True)  # early stopping follows dev BLEU, higher is better

    def __init__(self, cfg: Translation, train: EncodedSplit, dev: EncodedSplit, seed: int) -> None:
        self.cfg, self.train, self.dev, self.seed = cfg, train, dev, seed
        self._epoch, self._groups = -1, []
        self.batches_per_epoch = len(self.epoch_batches(0))  # the same in every epoch: cuts follow the lengths

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The pair indices of each batch of ``epoch``, in training order."""
        if epoch != self._epoch:
            self._groups = bucket_batches([len(s) for s in self.train.src], [len(t) for t in self.train.tgt],
                                          self.cfg.max_tokens, self.seed, epoch)
            self._epoch = epoch
        return self._groups

    def batch_at(self, step: int, batch_size: int | None = None) -> PairShard:
        """Batch ``step`` of the run (``batch_size`` is unused: the batches keep a token budget)."""
        epoch, i = divmod(step, self.batches_per_epoch)
        group = self.epoch_batches(epoch)[i]
        return self._shard_of(self.train, group)

    def eval_batches(self, batch_size: int | None = None):
        """The first ``eval_sentences`` dev pairs (the ones dev BLEU reads), for the dev loss."""
        n = min(self.cfg.eval_sentences, len(self.dev.src))
        lengths = [len(s) for s in self.dev.src[:n]], [len(t) for t in self.dev.tgt[:n]]
        for group in bucket_batches(*lengths, self.cfg.max_tokens, self.seed, shuffle=False):
            yield self._shard_of(self.dev, group)

    @staticmethod
    def _shard_of(split: EncodedSplit, group: list[int]) -> PairShard:
        pairs = collate_pairs([split.src[i] for i in group], [split.tgt[i] for i in group], group)
        return PairShard(pairs, pairs.num_target_tokens)

    def loss(self, model, batch: PairShard) -> tuple[torch.Tensor, dict]:
        """Label-smoothed token cross-entropy, teacher forced.

        The loss of a shard is its token sum over the global batch's token count, times the
        number of processes: averaged over processes (DDP), the gradient is that of the
        mean over the global batch, as one process computes it.
        """
        p = batch.pairs
        logits, _ = model(p.src, p.src_mask, p.tgt_in)  # (B, T, V)
        total = sequence_loss(logits.float(), p.tgt_out, PAD, self.cfg.label_smoothing, reduction="sum")
        loss = total * (batch.weight * batch.world / batch.tokens)
        count = p.num_target_tokens if batch.weight else 0
        mean = total.item() / count if count else 0.0
        return loss, {"loss": mean, "count": count, "targets": batch.tokens}


class DevScores:
    """Evaluation callback: greedy BLEU and chrF of the first ``eval_sentences`` dev pairs."""

    def __init__(self, corpus, src_tok, tgt_tok, cfg: Translation) -> None:
        pairs = corpus.splits["dev"][: cfg.eval_sentences]
        self.sources, self.refs = [p.src for p in pairs], [p.tgt for p in pairs]
        self.src_tok, self.tgt_tok, self.max_len_ratio = src_tok, tgt_tok, cfg.max_len_ratio

    def evaluate(self, trainer) -> dict:
        hyps = translate_texts(trainer.raw_model, self.src_tok, self.tgt_tok, self.sources, trainer.device, beam=1,
                               max_len_ratio=self.max_len_ratio)
        return {"dev_bleu": bleu(hyps, self.refs).score, "dev_chrf": chrf(hyps, self.refs).score}
