"""Translation recipes: ``[data]``, ``[model]`` and ``[train]`` tables of one TOML/YAML file.

```toml
out = "runs/mt-nt-transformer"
[data]
corpus = "nt_el_en"
[model]
arch = "transformer"
[train]
minutes = 30
```
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from seqlab.config import apply_overrides, check_out, from_dict, load_file, ranged
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
    numbers_size: int = ranged(20000, 10)
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
    """Training budget and optimization.

    minutes: a training-time budget, a user's option; max_steps caps it. With
    ``minutes`` None a run trains exactly ``max_steps`` updates: the budget the
    claims ledger uses, since a time budget depends on how busy the machine is.
    max_tokens: padded tokens per batch.  warmup_steps > 0: linear warmup then
    inverse square-root decay (Vaswani Sec. 5.3); 0: constant lr.
    eval_every_minutes: dev BLEU (greedy, first ``eval_sentences`` dev pairs) for the
    learning curve; ``eval_every_steps`` replaces it with a point every N updates.
    """

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
    beam: int = ranged(5, 1, 64)
    alpha: float = ranged(0.6, 0.0, 10.0)
    max_len_ratio: float = ranged(2.0, 0.0)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    bf16: bool = False  # bf16 autocast (CUDA, or CPUs with bf16 units); weights stay float32

    def __post_init__(self) -> None:
        if self.minutes is None and self.max_steps is None:
            raise ConfigError("set 'train.max_steps' or 'train.minutes': a run needs a budget")


@dataclass(frozen=True)
class MTRecipe:
    data: MTData = field(default_factory=MTData)
    model: MTModel = field(default_factory=MTModel)
    train: MTTrain = field(default_factory=MTTrain)
    out: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# what --resume may change: where the run lives, its budget, and the dev evaluations along
# the way (greedy decoding draws no random numbers); never what training computes
RESUME_KEYS = {"out", "train.minutes", "train.max_steps", "train.eval_every_minutes", "train.eval_every_steps",
               "train.eval_sentences",
               "train.beam", "train.alpha", "train.max_len_ratio"}


def mt_recipe_from_dict(data: dict) -> MTRecipe:
    unknown = sorted(str(k) for k in data if k not in {"data", "model", "train", "out"})
    if unknown:
        raise ConfigError(f"unknown key '{unknown[0]}'; allowed keys: data, model, out, train")
    out = check_out(data.get("out"))
    return MTRecipe(
        data=from_dict(MTData, data.get("data", {}), prefix="data."),
        model=from_dict(MTModel, data.get("model", {}), prefix="model."),
        train=from_dict(MTTrain, data.get("train", {}), prefix="train."),
        out=out,
    )


def load_mt_recipe(path: str | Path, overrides: list[str] = ()) -> MTRecipe:
    """Read a recipe file, apply ``a.b=value`` overrides, default ``out`` to runs/<stem>."""
    recipe = mt_recipe_from_dict(apply_overrides(load_file(path), list(overrides)))
    if recipe.out is None:
        recipe = dataclasses.replace(recipe, out=str(Path("runs") / Path(path).stem))
    return recipe
