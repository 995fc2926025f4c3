"""Translation recipes: the one recipe shape (``seqlab.recipe``) with a translation task.

```toml
out = "runs/mt-nt-transformer"
[task]
name = "translation"      # the corpus (MTData) and what training translation needs (MTTrain)
corpus = "nt_el_en"       # or the user's files: "pairs.tsv", {src = "a.el", tgt = "a.en"}, {train, dev, test}
max_tokens = 4096
[model]                   # seqlab.build.MTModel: an encoder-decoder
arch = "transformer"
[train]                   # seqlab.train.TrainConfig, as for every task
max_minutes = 30
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from seqlab.build import MTModel  # noqa: F401  (the model table's config lives beside the factory)
from seqlab.config import ranged


@dataclass(frozen=True)
class MTData:
    """Which corpus and how to tokenize it (tokenizers are fitted on the train split).

    corpus: a built-in name (``nt_el_en``, ``numbers``) or the user's files: a TSV of
        ``source<TAB>target`` lines, parallel files ``{src = ..., tgt = ...}``, or either
        per split ``{train = ..., dev = ..., test = ...}`` (``seqlab.data.corpora.user``).
    max_len: training pairs with more tokens on either side are skipped (dev/test kept).
    numbers_*: the ``numbers`` corpus's generator arguments (see ``load_numbers``).
    """

    corpus: str | dict = "nt_el_en"
    tokenizer: Literal["unigram", "bpe", "char", "word"] = "unigram"
    src_vocab: int = ranged(4000, 261, 1 << 17)
    tgt_vocab: int = ranged(4000, 261, 1 << 17)
    max_len: int = ranged(160, 1)
    numbers_size: int = ranged(20000, 10, 1_000_000)
    numbers_min_words: int = ranged(1, 1)
    numbers_max_words: int = ranged(12, 1)
    numbers_max_digits: int = ranged(6, 1, 24)
    numbers_even_width: int = ranged(0, 0)

    def __post_init__(self) -> None:
        from seqlab.data.corpora import corpus_value

        object.__setattr__(self, "corpus", corpus_value(self.corpus, "translation", ("src", "tgt")))


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

    def prepare(self, batch_size: int | None = None) -> None:
        """Read and check the corpus (the user's files line by line)."""
        from seqlab.translation.data import load_pairs

        load_pairs(self)

    def data_record(self) -> dict:
        """What the run folder's ``data.json`` keeps of the corpus (``seqlab.recipe.write_data_record``)."""
        from seqlab.data.corpora import data_record
        from seqlab.translation.data import load_pairs

        return data_record(load_pairs(self))
