"""Joey NMT as the anchor toolkit: the corpus in its format, its configs at seqlab's shapes, its logs.

Data: plain parallel text files (``train.el`` / ``train.en``, ``dev.el`` / ``dev.en``), one
verse a line, from seqlab's own split of the corpus. Tokenizer: seqlab's two fitted
SentencePiece models (the recipe's unigram vocabularies), handed to Joey's
``sentencepiece`` tokenizer with a vocabulary file listing every piece, so both toolkits
read the same pieces and the same vocabulary sizes.

Models, from the seqlab recipe (``config(recipe, ...)``):

* ``bahdanau`` -> Joey's recurrent encoder-decoder: bidirectional LSTM encoder, LSTM
  decoder, additive ("bahdanau") attention, the same embedding/hidden sizes, layers and
  dropout. Joey's recurrent decoder is Luong-shaped (the new top state queries the
  attention and ``input_feeding`` feeds the attentional vector ~h_{t-1}, H wide, into the
  next step) where seqlab's feeds the context c_i (2H wide): the same GEMMs per step
  give or take one H-wide block.
* ``transformer`` -> Joey's Transformer: layers, d_model, heads, feed-forward width,
  dropout, pre-norm, target embeddings tied to the output layer, the same warmup and
  inverse square root schedule.

Training: Adam with the recipe's lr, betas and gradient clipping, label smoothing, token
batches of ``task.max_tokens`` (Joey counts max(S + 1, T + 1) per sentence, like seqlab, but
samples sentences at random where seqlab buckets them by length), loss normalized by target
tokens, no validation while training (the benchmark stops the run after the wall-clock
budget with SIGINT; Joey saves its weights on an interrupt), greedy decoding afterwards.
"""

from __future__ import annotations

import re
import statistics
from pathlib import Path

import yaml

VERSION = "2.3.0"  # the current release on the registry when this benchmark was written
# what Joey NMT 2.3.0 needs beyond what it declares, found by running it with its declared requirements
FIXES = [("importlib_metadata", "joeynmt.helpers imports it but joeynmt 2.3.0 does not declare it"),
         ("sentencepiece==0.1.99", "joeynmt 2.3.0 calls SentencePieceProcessor.SetVocabulary, which the "
                                   "sentencepiece 0.2 releases no longer have")]

STEP_LINE = re.compile(r"Step:\s+(\d+),.*Tokens per Sec:\s+(\d+)")
INTERRUPT_LINE = re.compile(r"Interrupt at epoch (\d+), step (\d+)")
START_LINE = "EPOCH 1"


def _one_line(text: str) -> str:
    return " ".join(text.split())  # a verse is one line in Joey's plain format


def write_corpus(corpus, folder: Path, src_lang: str, tgt_lang: str, dev_sentences: int) -> dict[str, Path]:
    """train.{src,tgt} (the whole training split) and dev.{src,tgt} (its first ``dev_sentences``
    pairs, the ones seqlab's dev BLEU reads); returns the two prefixes."""
    folder.mkdir(parents=True, exist_ok=True)
    prefixes = {}
    for split, limit in (("train", None), ("dev", dev_sentences)):
        prefix = folder / split
        for side, lang in (("src", src_lang), ("tgt", tgt_lang)):
            lines = [_one_line(t) for t in corpus.texts(split, side)[:limit]]
            Path(f"{prefix}.{lang}").write_text("\n".join(lines) + "\n", encoding="utf-8")
        prefixes[split] = prefix
    return prefixes


def write_vocab(tokenizer, path: Path) -> int:
    """Every piece of a seqlab SentencePiece tokenizer, one a line (Joey puts its specials first
    and skips the repeated ones); returns the vocabulary size."""
    pieces = [tokenizer.id_to_piece(i) for i in range(tokenizer.vocab_size)]
    path.write_text("\n".join(pieces) + "\n", encoding="utf-8")
    return len(pieces)


def _side(lang: str, tokenizer, vocab: Path, max_length: int) -> dict:
    return {"lang": lang, "level": "bpe", "lowercase": False, "normalize": False, "max_length": max_length,
            "voc_file": str(vocab), "tokenizer_type": "sentencepiece",
            "tokenizer_cfg": {"model_file": str(tokenizer.model_file)}}


def _model(m) -> dict:
    """Joey's ``model`` section at the shape of seqlab's ``[model]`` (bahdanau or transformer)."""
    if m.arch == "transformer":
        layer = {"type": "transformer", "num_layers": m.layers, "num_heads": m.heads, "hidden_size": m.hidden,
                 "ff_size": m.ff, "dropout": m.dropout, "layer_norm": "pre" if m.pre_norm else "post",
                 "embeddings": {"embedding_dim": m.hidden, "scale": True, "dropout": m.dropout}}
        return {"initializer": "xavier_uniform", "embed_initializer": "xavier_uniform", "bias_initializer": "zeros",
                "tied_embeddings": False, "tied_softmax": m.tie_embeddings,
                "encoder": dict(layer), "decoder": dict(layer)}
    if m.arch != "bahdanau" or m.cell != "lstm":
        raise ValueError(f"no Joey counterpart written for arch {m.arch!r} with cell {m.cell!r}")
    rnn = {"type": "recurrent", "rnn_type": "lstm", "hidden_size": m.hidden, "num_layers": m.layers,
           "dropout": m.dropout, "embeddings": {"embedding_dim": m.embed_dim}}
    return {"initializer": "xavier_uniform", "embed_initializer": "xavier_uniform", "bias_initializer": "zeros",
            "init_rnn_orthogonal": False, "tied_embeddings": False, "tied_softmax": False,
            "encoder": {**rnn, "bidirectional": True},
            "decoder": {**rnn, "hidden_dropout": m.dropout, "input_feeding": True, "init_hidden": "bridge",
                        "attention": "bahdanau"}}


def _schedule(t) -> dict:
    if t.schedule == "warmup_invsqrt":
        return {"scheduling": "warmupinversesquareroot", "learning_rate_warmup": t.warmup_steps}
    if t.schedule not in (None, "constant"):
        raise ValueError(f"no Joey counterpart written for schedule {t.schedule!r}")
    # a constant rate: Joey 2.3.0 refuses a config without a scheduler, so one that never decays.
    # Not "decaying": that is StepLR with torch's default gamma 0.1 (Joey passes it no factor),
    # a tenth of the rate every epoch; "exponential" is ExponentialLR(gamma=decrease_factor).
    return {"scheduling": "exponential", "decrease_factor": 1.0}


def config(recipe, name: str, data: dict[str, Path], tokenizers, vocabs, model_dir: Path, seed: int,
           max_output_length: int) -> dict:
    """A Joey NMT config (a dict for its YAML) at the shape of a seqlab translation recipe."""
    task, train = recipe.task, recipe.train
    model = _model(recipe.model)  # first: an arch without a Joey counterpart is refused before anything else
    symbols = {"unk_token": "<unk>", "unk_id": 0, "pad_token": "<pad>", "pad_id": 1, "bos_token": "<s>",
               "bos_id": 2, "eos_token": "</s>", "eos_id": 3}
    langs = ("el", "en")
    return {
        "name": name, "joeynmt_version": VERSION, "model_dir": str(model_dir), "use_cuda": False,
        "fp16": False, "random_seed": seed,
        "data": {"train": str(data["train"]), "dev": str(data["dev"]), "dataset_type": "plain",
                 "src": _side(langs[0], tokenizers[0], vocabs[0], task.max_len),
                 "trg": _side(langs[1], tokenizers[1], vocabs[1], task.max_len),
                 "special_symbols": symbols},
        "testing": {"n_best": 1, "beam_size": 1, "batch_size": task.max_tokens, "batch_type": "token",
                    "max_output_length": max_output_length, "eval_metrics": ["bleu"],
                    "sacrebleu_cfg": {"tokenize": "13a"}},
        "training": {"optimizer": "adam", "adam_betas": list(train.betas), "learning_rate": train.lr,
                     "learning_rate_min": 1e-9, "clip_grad_norm": train.clip_norm, "loss": "crossentropy",
                     "label_smoothing": task.label_smoothing, "normalization": "tokens",
                     "batch_size": task.max_tokens, "batch_type": "token", "batch_multiplier": 1,
                     "epochs": 100000, "validation_freq": 10**9, "logging_freq": 10,
                     "early_stopping_metric": "bleu", "shuffle": True, "overwrite": True,
                     "keep_best_ckpts": 1, "print_valid_sents": [], **_schedule(train)},
        "model": model,
    }


def write_config(cfg: dict, path: Path) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def parse_train_log(lines: list[str]) -> dict:
    """Joey's own numbers from its training log: logged target tokens/s per window of
    ``logging_freq`` updates (validation excluded) and the update count at the interrupt."""
    rates, last_step, interrupted = [], 0, None
    for line in lines:
        if (m := STEP_LINE.search(line)):
            last_step, rate = int(m.group(1)), float(m.group(2))
            rates.append(rate)
        elif (m := INTERRUPT_LINE.search(line)):
            interrupted = int(m.group(2))
    return {"rates": rates, "tokens_per_s": statistics.median(rates) if rates else float("nan"),
            "updates": interrupted if interrupted is not None else last_step}


def read_hypotheses(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()
