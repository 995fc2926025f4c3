"""Translation recipes: the one recipe shape (``seqlab.recipe``) with a translation task.

```toml
out = "runs/mt-nt-transformer"
[task]
name = "translation"      # the corpus (MTData) and what training translation needs (MTTrain)
corpus = "nt_el_en"
max_tokens = 4096
[model]                   # MTModel: an encoder-decoder
arch = "transformer"
[train]                   # seqlab.train.TrainConfig, as for every task
max_minutes = 30
```

Recipes of the older shape (``[data]``, ``[model]``, ``[train]`` with ``minutes`` and
``max_steps``) still load: ``from_legacy`` rewrites them into this one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from seqlab.config import from_dict, ranged
from seqlab.errors import ConfigError


@dataclass(frozen=True)
class MTData:
    """Which corpus and how to tokenize it (tokenizers are fitted on the train split).

    max_len: training pairs with more tokens on either side are skipped (dev/test kept).
    numbers_*: the ``numbers`` corpus's generator arguments (see ``load_numbers``).
    """

    corpus: Literal["nt_el_en", "numbers"] = "nt_el_en"
    tokenizer: Literal["unigram", "bpe", "char", "word"] = "unigram"
    src_vocab: int = ranged(4000, 261, 1 << 17)
    tgt_vocab: int = ranged(4000, 261, 1 << 17)
    max_len: int = ranged(160, 1)
    numbers_size: int = ranged(20000, 10, 1_000_000)
    numbers_min_words: int = ranged(1, 1)
    numbers_max_words: int = ranged(12, 1)
    numbers_max_digits: int = ranged(6, 1, 24)
    numbers_even_width: int = ranged(0, 0)


@dataclass(frozen=True)
class MTModel:
    """Encoder-decoder architecture and sizes; each arch reads the fields it needs.

    hidden: RNN width, Transformer d_model, ConvS2S channels.  layers: per stack.
    score / attention / half_width / input_feed: Luong.  heads / ff / pre_norm /
    tie_embeddings: Transformer.  kernel: ConvS2S.  reverse_source: Seq2Seq.
    """

    arch: Literal["seq2seq", "bahdanau", "luong", "transformer", "convs2s"] = "transformer"
    embed_dim: int = ranged(256, 1, 1 << 14)
    hidden: int = ranged(256, 1, 1 << 14)
    layers: int = ranged(2, 1, 32)
    dropout: float = ranged(0.1, 0.0, 0.9)
    cell: Literal["lstm", "gru"] = "lstm"
    reverse_source: bool = True
    score: Literal["dot", "general", "concat"] = "general"
    attention: Literal["global", "local-m", "local-p"] = "global"
    half_width: int = ranged(10, 1)
    input_feed: bool = True
    heads: int = ranged(4, 1, 64)
    ff: int = ranged(1024, 1)
    pre_norm: bool = True
    tie_embeddings: bool = False
    kernel: int = ranged(3, 1, 31)


@dataclass(frozen=True)
class MTTrain:
    """What training a translation model needs beyond ``TrainConfig``.

    max_tokens: padded tokens per batch (a token budget, not a batch size).
    label_smoothing: of the cross-entropy (Szegedy et al. 2016; Vaswani et al. 2017 Sec. 5.4).
    eval_sentences: dev BLEU and chrF (greedy) at each evaluation read this many dev pairs.
    max_len_ratio: decoding stops at this many target tokens per source token.
    """

    max_tokens: int = ranged(4096, 16)
    label_smoothing: float = ranged(0.1, 0.0, 0.99)
    eval_sentences: int = ranged(200, 1)
    max_len_ratio: float = ranged(2.0, 0.0, 10.0)


@dataclass(frozen=True)
class Translation(MTTrain, MTData):
    """The [task] table of a translation recipe (``name = "translation"``)."""


@dataclass(frozen=True)
class _LegacyTrain:
    """The [train] table of the older translation recipes (read by ``from_legacy`` only)."""

    minutes: float | None = ranged(30.0, 0.0)
    max_steps: int | None = ranged(None, 1)
    max_tokens: int = ranged(4096, 16)
    lr: float = ranged(1e-3, 0.0, 10.0)
    warmup_steps: int = ranged(0, 0)
    clip_norm: float = ranged(1.0, 0.0)
    label_smoothing: float = ranged(0.1, 0.0, 0.99)
    eval_every_minutes: float = ranged(5.0, 0.0)
    eval_every_steps: int | None = ranged(None, 1)
    eval_sentences: int = ranged(200, 1)
    beam: int = ranged(5, 1, 64)  # never read by training
    alpha: float = ranged(0.6, 0.0, 10.0)  # never read by training
    max_len_ratio: float = ranged(2.0, 0.0, 10.0)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    bf16: bool = False


def from_legacy(data: dict) -> dict:
    """An older translation recipe as a dict of the one shape.

    minutes -> train.max_minutes (now wall-clock time, evaluations included), max_steps ->
    train.steps, warmup_steps > 0 -> the warmup_invsqrt schedule (else constant), Adam's
    betas (0.9, 0.98), clip_norm 0 -> none, eval_every_steps -> eval_every (with a
    checkpoint at each), else eval_every_minutes; the corpus and the translation-only
    keys (max_tokens, label_smoothing, eval_sentences, max_len_ratio) -> [task].
    """
    unknown = sorted(str(k) for k in data if k not in {"data", "model", "train", "out"})
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'; a recipe with [data] (the older translation shape) "
                          f"allows: data, model, out, train")
    old = from_dict(_LegacyTrain, data.get("train", {}), prefix="train.")
    if old.minutes is None and old.max_steps is None:
        raise ConfigError("set 'train.max_steps' or 'train.minutes': a run needs a budget")
    corpus = data.get("data", {})
    if not isinstance(corpus, dict):
        raise ConfigError(f"data: expected a table of keys, got {type(corpus).__name__}")
    task = {"name": "translation", **corpus, "max_tokens": old.max_tokens, "label_smoothing": old.label_smoothing,
            "eval_sentences": old.eval_sentences, "max_len_ratio": old.max_len_ratio}
    train = {"steps": old.max_steps, "max_minutes": old.minutes, "lr": old.lr, "betas": [0.9, 0.98],
             "schedule": "warmup_invsqrt" if old.warmup_steps else "constant", "warmup_steps": old.warmup_steps,
             "clip_norm": old.clip_norm or None, "seed": old.seed, "device": old.device, "bf16": old.bf16,
             "progress": False}  # the older runs printed no progress bar
    if old.eval_every_steps is not None:
        train.update(eval_every=old.eval_every_steps, checkpoint_every=old.eval_every_steps)
    else:
        train["eval_every_minutes"] = old.eval_every_minutes
    return {"out": data.get("out"), "task": task, "model": data.get("model", {}), "train": train}


def mt_recipe_from_dict(data: dict):
    """A ``seqlab.recipe.Recipe`` from a translation recipe dict of either shape (one
    without a [task] table is of the older shape)."""
    from seqlab.recipe import recipe_from_dict

    return recipe_from_dict(data if "task" in data else from_legacy(data))

