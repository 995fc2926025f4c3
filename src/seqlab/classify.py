"""Sequence classification: a recurrent encoder, a pooling, one label per sequence.

Two ways in: ``Classification``, the [task] of a recipe (``name = "classify"``), on a
built-in set (sktime's feature sequences) or on the user's CSV of texts and labels, trained
by ``seqlab train`` like every task; and ``train_classifier`` / ``SequenceClassifier``,
the comparison behind ``seqlab classify NAME``.

Pooling turns the per-step outputs into one vector per sequence:

- ``last``: the final hidden state of the top layer at each sequence's own last step
  (padding is skipped: seqlab's recurrent layers stop each sequence at its length);
  bidirectional: [forward state after step T_i ; backward state after step 1].
- ``mean``: the mean of the top layer's outputs over the real steps,
  h_bar = (1 / T_i) sum_{t <= T_i} h_t.

The task trains on the official train split minus every 10th item (kept as a dev set
for monitoring) and reports accuracy on the official test split.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import torch
from torch import nn

from seqlab.config import ranged
from seqlab.data.batch import SeqBatch
from seqlab.data.corpora import ClassificationCorpus, corpus_value, load_corpus, open_corpus
from seqlab.errors import SeqlabError
from seqlab.train.losses import masked_loss

DEV_EVERY = 10  # every 10th official training item is held out for monitoring


def pool_last(out: torch.Tensor, state, lengths: torch.Tensor, directions: int) -> torch.Tensor:
    h_n = state[0] if isinstance(state, tuple) else state  # (L*D, B, H)
    top = h_n[-directions:]  # (D, B, H)
    return torch.cat(list(top), dim=-1)  # (B, D*H)


def pool_mean(out: torch.Tensor, state, lengths: torch.Tensor, directions: int) -> torch.Tensor:
    steps = torch.arange(out.shape[1], device=out.device)  # (T,)
    mask = (steps[None, :] < lengths.to(out.device)[:, None]).unsqueeze(-1)  # (B, T, 1)
    total = (out * mask).sum(dim=1)  # (B, D*H)
    return total / lengths.to(out.device, out.dtype)[:, None]


POOLINGS = {"last": pool_last, "mean": pool_mean}
ARCHS = ("lstm", "gru")  # the backbones (built by seqlab.build) whose final state the poolings read


class SequenceClassifier(nn.Module):
    """(B, T, D) padded features -> LSTM/GRU -> pooled (B, F) -> logits (B, 1, K).

    The single output step lets the trainer score it like any per-step task: the
    target is (B, 1) class ids with a (B, 1) mask.
    """

    def __init__(self, input_dim: int, hidden: int, num_classes: int, arch: str = "lstm",
                 num_layers: int = 1, bidirectional: bool = False, pooling: str = "last",
                 dropout: float = 0.0, backend: str = "fused") -> None:
        super().__init__()
        from seqlab.build import ModelConfig, build_backbone

        if arch not in ARCHS or pooling not in POOLINGS:
            raise SeqlabError(f"classifier: arch must be one of {list(ARCHS)} and pooling one "
                              f"of {list(POOLINGS)}, got {arch!r}, {pooling!r}")
        self.rnn = build_backbone(ModelConfig(arch=arch, hidden_size=hidden, num_layers=num_layers,
                                              bidirectional=bidirectional, dropout=dropout, backend=backend), input_dim)
        self.directions = 2 if bidirectional else 1
        self.pool = POOLINGS[pooling]
        self.head = nn.Linear(self.directions * hidden, num_classes)

    def forward(self, x: torch.Tensor, state=None, lengths: torch.Tensor | None = None):
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long)
        out, final = self.rnn(x, state, lengths=lengths)  # (B, T, D*H)
        pooled = self.pool(out, final, lengths, self.directions)  # (B, D*H)
        return self.head(pooled).unsqueeze(1), None  # (B, 1, K); no state to carry


def pad_features(items: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad (T_i, C) arrays with zeros: x (B, T, C) float32, lengths (B,) long."""
    lengths = torch.tensor([len(a) for a in items], dtype=torch.long)
    x = torch.zeros(len(items), int(lengths.max()), items[0].shape[1])  # (B, T, C)
    for b, a in enumerate(items):
        x[b, : len(a)] = torch.from_numpy(a)
    return x, lengths


class ClassificationTask:
    """A :class:`ClassificationCorpus` as a trainer task (per-channel standardized)."""

    loss_kind = "ce"
    vocab_size = None

    def __init__(self, corpus: ClassificationCorpus) -> None:
        xs, ys = corpus.splits["train"]
        dev = set(range(DEV_EVERY - 1, len(xs), DEV_EVERY))
        stacked = np.concatenate([x for i, x in enumerate(xs) if i not in dev])  # (sum T, C)
        self.mean, self.std = stacked.mean(axis=0), stacked.std(axis=0) + 1e-6
        self.train = self._norm([(x, y) for i, (x, y) in enumerate(zip(xs, ys)) if i not in dev])
        self.dev = self._norm([(xs[i], ys[i]) for i in sorted(dev)])
        self.test = self._norm(list(zip(*corpus.splits["test"])))
        self.input_dim, self.output_dim = corpus.num_channels, len(corpus.classes)

    def _norm(self, pairs) -> list[tuple[np.ndarray, int]]:
        return [(((x - self.mean) / self.std).astype(np.float32), int(y)) for x, y in pairs]

    @property
    def chance_loss(self) -> float:
        return float(np.log(self.output_dim))

    @staticmethod
    def batch(pairs: list[tuple[np.ndarray, int]]) -> SeqBatch:
        x, lengths = pad_features([p[0] for p in pairs])
        y = torch.tensor([[p[1]] for p in pairs], dtype=torch.long)  # (B, 1)
        return SeqBatch(x, y, torch.ones_like(y, dtype=torch.bool), lengths)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        pick = torch.randint(0, len(self.train), (batch_size,), generator=generator)
        return self.batch([self.train[i] for i in pick.tolist()])

    def eval_batches(self, batch_size: int) -> Iterator[SeqBatch]:
        for i in range(0, len(self.dev), batch_size):
            yield self.batch(self.dev[i: i + batch_size])

    def test_batches(self, batch_size: int) -> Iterator[SeqBatch]:
        for i in range(0, len(self.test), batch_size):
            yield self.batch(self.test[i: i + batch_size])


def accuracy(model: nn.Module, batches: Iterator[SeqBatch]) -> float:
    """The fraction of sequences whose arg-max class is right."""
    device = next(model.parameters()).device
    model.eval()
    right = total = 0
    with torch.no_grad():
        for batch in batches:
            logits, _ = model(batch.x.to(device), None, lengths=batch.lengths)  # (B, 1, K)
            right += int((logits[:, 0].argmax(-1).cpu() == batch.y[:, 0]).sum())
            total += batch.y.shape[0]
    return right / total


def train_classifier(name: str, arch: str = "lstm", hidden: int = 64, pooling: str = "last",
                     bidirectional: bool = False, steps: int = 600, batch_size: int = 32,
                     lr: float = 3e-3, seed: int = 0, device: str = "auto") -> dict:
    """Train on one sktime set; returns dev and official-test accuracy and the result."""
    from seqlab.train import TrainConfig, Trainer

    corpus = load_corpus(name)
    if not isinstance(corpus, ClassificationCorpus):
        raise SeqlabError(f"'{name}' is not a classification set")
    task = ClassificationTask(corpus)
    torch.manual_seed(seed)
    model = SequenceClassifier(task.input_dim, hidden, task.output_dim, arch,
                               bidirectional=bidirectional, pooling=pooling)
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, schedule="cosine",
                      clip_norm=1.0, eval_every=max(steps // 5, 1), seed=seed,
                      progress=False, device=device)
    result = Trainer(model, task, cfg).fit()
    return {"dev_accuracy": accuracy(model, task.eval_batches(64)),
            "test_accuracy": accuracy(model, task.test_batches(64)),
            "train_items": len(task.train), "test_items": len(task.test), "result": result}


@dataclass(frozen=True)
class Classification:
    """One label per sequence: the [task] of a classification recipe (``name = "classify"``).

    Args:
        corpus: a built-in set (``japanese_vowels``, ``gunpoint``: sktime's feature sequences,
            standardized per channel; dev = every 10th official training item) or the user's
            CSV file(s) with a header row, one text and one label per row: a file (dev and
            test carved from it, ``seqlab.data.corpora.files``) or {train, dev, test}.
        text_column, label_column: the CSV's column names.
        tokenizer, vocab_limit: how texts become ids (fitted on the train texts).
        max_len: a text keeps its first max_len tokens.
        pooling: "last" scores the output at each sequence's last real step (a unidirectional
            model's summary of the whole text); "mean" the mean over its real steps, which a
            bidirectional model wants. The mean of per-step logits equals the head applied to
            the mean hidden state (the head is linear).

    The model is ``seqlab.build.build_model``'s: x (B, T) ids (or (B, T, C) features) ->
    logits (B, T, K); ``loss`` pools them to (B, K) and scores the labels y (B, 1).
    """

    corpus: str | dict = "japanese_vowels"
    text_column: str = "text"
    label_column: str = "label"
    tokenizer: Literal["char", "word", "unigram", "bpe"] = "char"
    vocab_limit: int | None = ranged(None, 300)
    max_len: int = ranged(256, 1)
    pooling: Literal["last", "mean"] = "last"

    loss_kind = "ce"

    def __post_init__(self) -> None:
        object.__setattr__(self, "corpus", corpus_value(self.corpus, "classification"))

    @cached_property
    def source(self):
        """The corpus: a ClassificationCorpus (built-in) or a LabelledTextCorpus (the user's CSV)."""
        from seqlab.data.corpora.user import load_text_csv

        return open_corpus(self.corpus, "classification",
                           lambda files: load_text_csv(files, self.text_column, self.label_column))

    @cached_property
    def tokenizer_obj(self):
        from seqlab.data.tokenize import train_tokenizer

        return train_tokenizer(self.tokenizer, self.source.texts("train"), self.vocab_limit)

    @cached_property
    def items(self) -> dict[str, list[tuple]]:
        """split -> [(x, label)]: x a list of token ids, or a standardized (T, C) array."""
        if isinstance(self.source, ClassificationCorpus):
            sets = ClassificationTask(self.source)
            return {"train": sets.train, "dev": sets.dev, "test": sets.test}
        tok, out = self.tokenizer_obj, {}
        for split, (_, texts, labels) in self.source.splits.items():
            out[split] = [(tok.encode(t)[: self.max_len], int(y)) for t, y in zip(texts, labels)]
        return out

    @property
    def text(self) -> bool:
        return not isinstance(self.source, ClassificationCorpus)

    @property
    def vocab_size(self) -> int | None:
        return self.tokenizer_obj.vocab_size if self.text else None

    @property
    def input_dim(self) -> int | None:
        return None if self.text else self.source.num_channels

    @property
    def output_dim(self) -> int:
        return len(self.source.classes)

    @property
    def chance_loss(self) -> float:
        return math.log(self.output_dim)

    def prepare(self, batch_size: int) -> None:
        """Read and check the files, fit the tokenizer, encode every split."""
        _ = self.items

    def data_record(self) -> dict:
        from seqlab.data.corpora import data_record

        return data_record(self.source)

    def batch(self, items: list[tuple]) -> SeqBatch:
        """x (B, T) ids padded with 0 (or (B, T, C) features), y (B, 1) labels, lengths (B,)."""
        from seqlab.data.batching import pad_sequences

        if self.text:
            x, _, lengths = pad_sequences([ids for ids, _ in items])
        else:
            x, lengths = pad_features([a for a, _ in items])
        y = torch.tensor([[label] for _, label in items], dtype=torch.long)  # (B, 1)
        return SeqBatch(x, y, torch.ones_like(y, dtype=torch.bool), lengths)

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        pick = torch.randint(0, len(self.items["train"]), (batch_size,), generator=generator)
        return self.batch([self.items["train"][i] for i in pick.tolist()])

    def eval_batches(self, batch_size: int, split: str = "dev") -> Iterator[SeqBatch]:
        data = self.items[split]
        for i in range(0, len(data), batch_size):
            yield self.batch(data[i: i + batch_size])

    def loss(self, model, batch: SeqBatch) -> tuple[torch.Tensor, dict]:
        """Cross-entropy of the pooled logits (B, K) against the labels (B,)."""
        out, _ = model(batch.x, None, lengths=batch.lengths)  # (B, T, K)
        lengths = batch.lengths.to(out.device)
        if self.pooling == "last":
            pooled = out[torch.arange(out.shape[0], device=out.device), lengths - 1]  # (B, K)
        else:
            steps = torch.arange(out.shape[1], device=out.device)  # (T,)
            mask = (steps[None, :] < lengths[:, None]).unsqueeze(-1)  # (B, T, 1)
            pooled = (out * mask).sum(dim=1) / lengths[:, None].to(out.dtype)  # (B, K)
        return masked_loss(pooled.unsqueeze(1).float(), batch, "ce")  # y (B, 1), mask (B, 1)
