"""Property-based fuzzing of four surfaces, shared by tests/test_fuzz_surfaces.py (a few seconds
each, derandomized) and scripts/fuzz_census.py (the same properties, more cases, counted).

Each ``check_*`` runs one drawn case and returns how it ended ("ran", "refused"); a case that
breaks the rule raises ``Broken`` (a traceback, a second line, a wrong result):

* training: one training step of every task (adding, copy, recall, lm, translation) with
  task, model and train values drawn inside their ranges: ``seqlab train`` exits 0, or 2
  with one line;
* tokenizers: ``decode(encode(x)) == x`` for every valid string, for char, word, unigram and
  BPE tokenizers fitted on text with spaces and on text without; a lone surrogate is one
  ``SeqlabError``;
* report: a ``result.json`` with one field replaced by any JSON value renders, or is one
  ``SeqlabError`` naming that field;
* decoding: greedy and beam search with drawn beam, n_best, alpha, length ratio and offset
  return well-formed hypotheses or raise ``ValueError``.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

import torch
from hypothesis import strategies as st

from seqlab.errors import SeqlabError


class Broken(AssertionError):
    """A case broke the rule of its surface."""


VERSES = ["In the beginning God created the heavens and the earth.", "And God said, “Let there be light,”",
          "and there was light.", "Ἐν ἀρχῇ ἦν ὁ λόγος", "Now the earth was formless and void."]


@contextlib.contextmanager
def small_corpora(root: Path):
    """bsb_en reads a few verses (parsing the whole Bible would take most of a case's time); the
    tokenizer cache lives under ``root``."""
    import os

    import seqlab.data.corpora
    from seqlab.data.corpora.base import TextCorpus

    real = seqlab.data.corpora.load_corpus
    verses = TextCorpus("bsb_en", None, {s: [(f"{s} {i}", v) for i, v in enumerate(VERSES * 40)]
                                         for s in ("train", "dev", "test")})
    seqlab.data.corpora.load_corpus = lambda name: verses if name == "bsb_en" else real(name)
    saved = os.environ.get("SEQLAB_CACHE")
    os.environ["SEQLAB_CACHE"] = str(root / "cache")
    try:
        yield
    finally:
        seqlab.data.corpora.load_corpus = real
        if saved is None:
            os.environ.pop("SEQLAB_CACHE", None)
        else:
            os.environ["SEQLAB_CACHE"] = saved


def run_cli(args: list[str]) -> tuple[int, str]:
    """(exit status, stderr) of ``seqlab ARGS`` in this process."""
    from seqlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(args)
        except SystemExit as done:
            code = done.code
    return int(code or 0), err.getvalue()


def rule(code: int, err: str) -> str:
    """"ran" (exit 0) or "refused" (exit 2, one line); else ``Broken``."""
    if "Traceback" in err:
        raise Broken(err)
    if code == 0:
        return "ran"
    lines = [line for line in err.splitlines() if line.strip()]
    if code != 2 or len(lines) != 1:
        raise Broken(f"exit {code}: {err}")
    return "refused"


# ----------------------------------------------------------------------------- one training step
def mostly(common, rare):
    """``common`` three times in four, ``rare`` otherwise."""
    return st.one_of(common, common, common, rare)


# Every value is inside its key's range. Most cases draw sizes a step takes a moment with;
# one in four sets one key to a size no memory holds (a size that fits but takes minutes a
# step, 10**6 steps of a recurrence, is valid and left out of a quick fuzz).
HUGE = st.sampled_from([4 * 10**9, 2**40])
TASK_KEYS = {
    "adding": {"task.length": st.integers(2, 14)},
    "copy": {"task.delay": st.integers(1, 12), "task.num_symbols": st.integers(1, 5), "task.alphabet": st.integers(2, 8)},
    "recall": {"task.num_pairs": st.integers(1, 6), "task.num_keys": st.integers(1, 9),
               "task.num_values": st.integers(2, 8)},
    "lm": {"task.tokenizer": st.sampled_from(['"char"', '"word"', '"unigram"', '"bpe"']),
           "task.vocab_limit": mostly(st.integers(300, 400), st.just(10**6)), "task.seq_len": st.integers(2, 40),
           "task.eval_chars": mostly(st.integers(1000, 3000), st.just(10**9))},
    "translation": {"task.tokenizer": st.sampled_from(['"char"', '"word"', '"unigram"', '"bpe"']),
                    "task.src_vocab": mostly(st.integers(300, 400), st.sampled_from([261, 1 << 17])),
                    "task.tgt_vocab": st.integers(300, 400), "task.max_len": st.integers(1, 30),
                    "task.numbers_size": st.integers(10, 60), "task.numbers_min_words": st.integers(1, 2),
                    "task.numbers_max_words": st.integers(2, 5), "task.numbers_max_digits": st.integers(1, 24),
                    "task.max_tokens": st.integers(16, 300), "task.eval_sentences": mostly(st.integers(1, 4),
                                                                                        st.just(10**6)),
                    "task.max_len_ratio": st.floats(0.0, 10.0), "task.label_smoothing": st.floats(0.0, 0.99)},
}
SIZE_KEYS = {"adding": ["task.length", "train.batch_size", "model.hidden_size"],
             "copy": ["task.delay", "task.num_symbols", "train.batch_size"],
             "recall": ["task.num_keys", "train.batch_size"], "lm": ["task.seq_len", "train.batch_size"],
             "translation": ["task.max_tokens", "model.ff"]}
TASK_MODEL = {"model.arch": st.sampled_from(['"rnn_tanh"', '"lstm"', '"gru"', '"mingru"', '"minlstm"',
                                             '"transformer"']),
              "model.hidden_size": mostly(st.sampled_from([4, 8, 12]), st.integers(1, 16)),
              "model.num_layers": st.integers(1, 3), "model.bidirectional": mostly(st.just("false"), st.just("true")),
              "model.embed_dim": st.integers(1, 8), "model.backend": st.sampled_from(['"cell"', '"fused"']),
              "model.init": mostly(st.just('"default"'), st.sampled_from(['"orthogonal"', '"identity"'])),
              "train.batch_size": st.integers(1, 6), "train.tbptt_k1": mostly(st.just("off"), st.integers(1, 8))}
MT_MODEL = {"model.arch": st.sampled_from(['"seq2seq"', '"bahdanau"', '"luong"', '"transformer"', '"convs2s"']),
            "model.hidden": st.sampled_from([4, 8, 16]), "model.embed_dim": st.integers(1, 8),
            "model.layers": st.integers(1, 2), "model.heads": st.sampled_from([1, 2, 4]), "model.ff": st.integers(1, 32),
            "model.kernel": st.sampled_from([1, 3, 5]), "model.attention": st.sampled_from(['"global"', '"local-m"',
                                                                                            '"local-p"']),
            "model.half_width": st.integers(1, 4), "model.cell": st.sampled_from(['"lstm"', '"gru"'])}
BASE = {"translation": '[task]\nname = "translation"\ncorpus = "numbers"\n[model]\n[train]\n',
        "lm": '[task]\nname = "lm"\ncorpus = "bsb_en"\n[model]\n[train]\n'}
TRAIN = ["train.steps=1", "train.eval_every=1", "train.eval_batches=1", "train.progress=false",
         'train.device="cpu"', "train.batch_size=2"]


def training_cases():
    """(task name, its --set overrides) drawn over every task."""
    def case(name):
        keys = {**TASK_KEYS[name], **(MT_MODEL if name == "translation" else TASK_MODEL)}
        huge = mostly(st.just({}), st.tuples(st.sampled_from(SIZE_KEYS[name]), HUGE).map(lambda kv: dict([kv])))
        return st.tuples(st.fixed_dictionaries(keys), huge).map(
            lambda drawn: (name, [f"{k}={v}" for k, v in {**drawn[0], **drawn[1]}.items()]))
    return st.sampled_from(list(TASK_KEYS)).flatmap(case)


def check_training(root: Path, name: str, sets: list[str]) -> str:
    """One training step of task ``name`` with ``sets``; the CLI's rule."""
    recipe = root / f"{name}.toml"
    if not recipe.exists():
        recipe.write_text(BASE.get(name, f'[task]\nname = "{name}"\n[model]\n[train]\n'))
    run = Path(tempfile.mkdtemp(dir=root))
    args = ["train", str(recipe), "--out", str(run)]
    for item in [*TRAIN, *sets]:
        args += ["--set", item]
    return rule(*run_cli(args))


# ----------------------------------------------------------------------------- tokenizers
TOKENIZER_TEXTS = {
    "spaced": VERSES * 20,
    "unspaced": ["zwanzig", "einundzwanzig", "dreißig", "hundert", "zweihundertvierzig", "tausend"] * 20,
}


def tokenizers(root: Path) -> dict:
    """Every kind of tokenizer, fitted on text with spaces and on text without (cached under ``root``)."""
    from seqlab.data.tokenize import train_tokenizer

    out = {}
    for corpus, texts in TOKENIZER_TEXTS.items():
        for kind in ("char", "word", "unigram", "bpe"):
            vocab = 400 if kind in ("unigram", "bpe") else None
            out[f"{kind}/{corpus}"] = train_tokenizer(kind, texts, vocab, root / "tokenizers")
    return out


TEXT = st.one_of(st.text(), st.text(alphabet=" ▁\t\r\n\x00abzäß—Ἐ😀<>", max_size=30),
                 st.sampled_from(["zwanzig und", "a▁b", "▁", "  two  ", "<0x41>", "<s></s><pad>", "\u2581the"]))


def check_round_trip(tok, text: str) -> str:
    ids = tok.encode(text)
    if tok.decode(ids) != text or any(not 4 <= i < tok.vocab_size for i in ids):
        raise Broken(f"{tok.kind}: {text!r} -> {ids} -> {tok.decode(ids)!r}")
    return "ran"


def check_surrogate(tok, text: str) -> str:
    try:
        tok.encode(text)
    except SeqlabError:
        return "refused"
    raise Broken(f"{tok.kind} encoded {text!r}, which is not valid Unicode")


# ----------------------------------------------------------------------------- result.json for the report
FIELDS = ["claim_id", "claim", "setup", "profile", "config", "seed", "verdict", "criterion", "decided_by",
          "headline", "tables", "figures", "notes", "versions", "machine", "started", "wall_time", "error",
          "seeds", "gates", "timing"]
JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.floats() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=8)


def good_result() -> dict:
    from seqlab.experiments.core.base import Figure, finish, new_result

    r = new_result("C1", "a claim", "a setup", "quick", {"T": 10}, seeds=(0, 1))
    r.add_table("t", ["a", "b"], [[1, "x"], [2.5, None]])
    r.figures.append(Figure("f.png", "a caption"))  # not on disk: the report says it is missing
    return finish(r, "confirmed", "rule", "numbers", "headline").to_dict()


def check_report(root: Path, field: str, value) -> str:
    """``result.json`` with ``field`` set to ``value``: the report renders, or one error naming the field."""
    from seqlab.report import write_report

    run = Path(tempfile.mkdtemp(dir=root))
    (run / "C1").mkdir()
    (run / "C1" / "result.json").write_text(json.dumps({**good_result(), field: value}))
    try:
        page = write_report(run).read_text()
    except SeqlabError as err:
        if f"'{field}" not in str(err) and "the file" not in str(err):
            raise Broken(f"{field}={value!r}: the error does not name the field: {err}") from None
        return "refused"
    if "<script>" in page.split("<body>")[1] and "<script>" in json.dumps(value):
        raise Broken("unescaped text")
    return "ran"


# ----------------------------------------------------------------------------- decoding
def decode_models() -> dict:
    """One tiny encoder-decoder per architecture (untrained: any output is possible)."""
    from seqlab.build import build_translator
    from seqlab.translation.config import MTModel

    torch.manual_seed(0)
    return {arch: build_translator(MTModel(arch=arch, embed_dim=8, hidden=8, layers=1, heads=2, ff=16), 12, 12,
                                   max_positions=24).eval()
            for arch in ("seq2seq", "bahdanau", "luong", "transformer", "convs2s")}


DECODE = st.fixed_dictionaries({
    "arch": st.sampled_from(["seq2seq", "bahdanau", "luong", "transformer", "convs2s"]),
    "lengths": st.lists(st.integers(1, 6), min_size=1, max_size=3),
    "beam": mostly(st.integers(1, 6), st.sampled_from([-1, 0, 64, 65, 10**6])),
    "n_best": mostly(st.integers(1, 2), st.integers(-1, 7)),
    "alpha": mostly(st.floats(0.0, 2.0), st.sampled_from([math.nan, math.inf, -1.0])),
    "ratio": mostly(st.floats(0.0, 3.0), st.sampled_from([math.nan, math.inf, -1.0, 10.5, 1e6])),
    "offset": mostly(st.integers(0, 6), st.integers(-2, -1)),
})


def check_decode(models: dict, arch: str, lengths: list[int], beam: int, n_best: int, alpha: float, ratio: float,
                 offset: int) -> str:
    from seqlab.data.batching import pad_sequences
    from seqlab.decode import beam_search, greedy

    g = torch.Generator().manual_seed(sum(lengths))
    src, mask, _ = pad_sequences([torch.randint(4, 12, (n,), generator=g).tolist() for n in lengths])
    model = models[arch]
    try:
        if beam == 1:
            found = [[h] for h in greedy(model, src, mask, 1, 2, ratio, offset)]
        else:
            found = beam_search(model, src, mask, 1, 2, beam, alpha, ratio, offset, n_best=n_best)
    except ValueError:
        return "refused"
    cap = model.max_positions - 1 if hasattr(model, "max_positions") else math.inf
    for n, hyps in zip(lengths, found):
        limit = min(max(1, int(ratio * n) + offset), cap)
        if len(hyps) != (1 if beam == 1 else n_best) or any(len(h.tokens) > limit or {0, 1} & set(h.tokens)
                                                            for h in hyps):
            raise Broken(f"{arch} beam {beam}: {[h.tokens for h in hyps]} (limit {limit})")
    return "ran"
