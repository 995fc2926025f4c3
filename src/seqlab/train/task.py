"""The task interface: what ``Trainer`` and ``seqlab.build.build_model`` read from a task.

A new kind of data becomes trainable by writing one small class with these members; the
built-in tasks (``seqlab.data.tasks``, ``CorpusLM``, ``Classification``, ``Forecast``,
``TranslationTask``) are all such classes, and nothing in the trainer knows them by name.
"""

from __future__ import annotations

from typing import Literal, Protocol

import torch

from seqlab.data.batch import SeqBatch


class Task(Protocol):
    """A source of batches and how to score them.

    Required:
        loss_kind: "ce" (targets are class ids, scored by cross-entropy; accuracy is
            reported too) or "mse" (targets are real vectors, scored by squared error).
        sample(batch_size, generator) -> SeqBatch: a random batch drawn with ``generator``
            (the trainer seeds it from (seed, step), so a resumed run draws the same
            batches). A task read in order defines ``batch_at(step, batch_size)`` instead
            (language-model streams, epochs of translation batches).

        The batch (``seqlab.data.batch.SeqBatch``): x (B, T) long token ids or (B, T, D)
        float features; y (B, T) long class ids or (B, T, O) float targets; mask (B, T)
        bool, True where a target is scored; lengths (B,) long for right-padded batches
        (passed on to the model as ``lengths=``), or None.

    Read by ``build_model`` (input layer -> backbone -> per-step head, out (B, T, O)):
        vocab_size: ids for an embedding (None for features);
        input_dim: D for a linear input map (None for ids);
        output_dim: O, classes or outputs per step.

    Optional:
        eval_batches(batch_size) -> iterable of SeqBatch: a fixed validation set (else
            ``train.eval_batches`` batches from their own seeded generator); tasks on a
            corpus take ``split`` = "dev" (default) or "test", which ``seqlab evaluate`` asks for.
        stateful = True: carry the model's state from one batch to the next (streams).
        loss(model, batch) -> (loss tensor, metrics dict with "loss" and "count"): the
            task's own scoring, for models that are not per-step (pooling over a
            sequence, reading the last step, an encoder-decoder).
        chance_loss: the loss of a model that learned nothing (printed beside results).
        watch = (metric, higher_is_better): what early stopping follows.
        prepare(batch_size) and data_record(): a task on files reads and checks them all
            in ``prepare`` (``seqlab train`` calls it before it writes anything), and
            ``data_record`` says what the run folder's ``data.json`` keeps of them.
    """

    loss_kind: Literal["ce", "mse"]

    def sample(self, batch_size: int, generator: torch.Generator) -> SeqBatch:
        """A random batch (or define ``batch_at(step, batch_size)``, see above)."""
        ...
