"""``seqlab data check RECIPE``: what a recipe's data will be, before training on them.

The data are read and checked as ``seqlab train`` reads them (the same one-line errors),
the tokenizers fitted on the train split (cached, so training finds them ready), and then
printed: the files with their SHA-256 and the split rule; per split its size, its length
percentiles (p50 / p90 / p99 / max) and the share of tokens the tokenizer's vocabulary
covers (the rest is spelled in byte-fallback ids); the labels per class; a few examples.
"""

from __future__ import annotations

import numpy as np

from seqlab.data.corpora import SPLITS
from seqlab.data.tokenize import BYTE_OFFSET, FIRST_SYMBOL

LENGTH_LINES = 1_000_000  # lines per split read for the LM's length percentiles
COVERAGE_CHUNK = 1 << 24  # token ids counted at a time
NEWLINE = BYTE_OFFSET + ord("\n")  # the byte-fallback id of a newline


def percentiles(lengths) -> str:
    """"p50 / p90 / p99 / max" of a list of lengths."""
    if len(lengths) == 0:
        return "-"
    p = np.percentile(np.asarray(lengths), [50, 90, 99])
    return " / ".join(f"{v:,.0f}" for v in p) + f" / {max(lengths):,}"


def coverage(ids) -> str:
    """The share of ids the vocabulary covers: every id but the byte-fallback ones, save the
    newline's (tokenizers are fitted on lines, so the newline between lines is always one
    byte id: one id for one character, nothing lost)."""
    total = spelled = 0
    for i in range(0, len(ids), COVERAGE_CHUNK):
        part = np.asarray(ids[i: i + COVERAGE_CHUNK])
        total += len(part)
        spelled += int(np.count_nonzero((part >= BYTE_OFFSET) & (part < FIRST_SYMBOL) & (part != NEWLINE)))
    return f"{1 - spelled / total:.2%}" if total else "-"


def table(header: list[str], rows: list[list]) -> list[str]:
    cells = [header] + [[f"{c:,}" if isinstance(c, int) else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]


def tokenizer_line(tok, fitted_on: str) -> str:
    learned = tok.vocab_size - FIRST_SYMBOL
    return (f"tokenizer: {tok.kind}, {tok.vocab_size:,} ids ({learned:,} fitted on {fitted_on}, "
            f"{FIRST_SYMBOL - BYTE_OFFSET} byte-fallback ids, {BYTE_OFFSET} specials)")


def header_lines(name: str, record: dict) -> list[str]:
    lines = [f"task {name}: corpus {record['corpus']}"]
    lines += [f"  file {path}  sha256 {digest[:16]}" for path, digest in record.get("files", {}).items()]
    if "content_hash" in record:
        lines.append(f"  content hash {record['content_hash']}")
    lines.append(f"  split rule: {record['split_rule']}")
    for split, where in record.get("splits", {}).items():
        file = where["file"] if isinstance(where["file"], str) else " + ".join(where["file"].values())
        text = where["lines"] if len(where["lines"]) <= 60 else where["lines"][:57] + "..."
        lines.append(f"  {split:<5} lines {text} of {file}")
    return lines


def lm_lines(task, n: int) -> list[str]:
    src, rows = task.source, []
    for split in SPLITS:
        file = task.token_file(split)
        lengths = [len(t) for _, t in zip(range(LENGTH_LINES), src.units(split))]
        rows.append([split, src.split_lines(split), file.chars, file.tokens, percentiles(lengths), coverage(file.ids)])
    out = table(["split", "lines", "characters", "tokens", "characters per line p50/p90/p99/max", "in vocabulary"],
                rows)
    if task.eval_chars is not None:
        out.append(f"(dev and test: their first {task.eval_chars:,} characters at most, task.eval_chars)")
    out.append(tokenizer_line(task.tokenizer_obj, "the train split"))
    out.append("examples (train):")
    return out + [f"  {t}" for _, t in zip(range(n), src.units("train"))]


def translation_lines(task, n: int) -> list[str]:
    from seqlab.data.tokenize import train_tokenizer
    from seqlab.translation.data import load_pairs

    corpus = load_pairs(task)
    toks = {side: train_tokenizer(task.tokenizer, corpus.texts("train", side), getattr(task, f"{side}_vocab"))
            for side in ("src", "tgt")}
    rows = []
    for split in SPLITS:
        row = [split, len(corpus.splits[split])]
        for side, tok in toks.items():
            ids = [tok.encode(t) for t in corpus.texts(split, side)]
            row += [percentiles([len(i) for i in ids]), coverage(np.fromiter((x for i in ids for x in i), np.int64))]
        rows.append(row)
    out = table(["split", "pairs", "source tokens p50/p90/p99/max", "in vocabulary",
                 "target tokens p50/p90/p99/max", "in vocabulary"], rows)
    out += [tokenizer_line(toks["src"], "the train sources"), tokenizer_line(toks["tgt"], "the train targets")]
    return out + ["examples (train):"] + ["  " + e.replace("\n", "\n  ") for e in corpus.examples("train", n)]


def classify_lines(task, n: int) -> list[str]:
    source, rows = task.source, []
    for split in SPLITS:
        items = task.items[split]
        counts = np.bincount([y for _, y in items], minlength=len(source.classes))
        if task.text:
            full = [len(task.tokenizer_obj.encode(t)) for t in source.texts(split)]
            ids = np.fromiter((t for x, _ in items for t in x), np.int64)
            extra = [percentiles(full), sum(k > task.max_len for k in full), coverage(ids)]
        else:
            extra = [percentiles([len(x) for x, _ in items]), 0, "-"]
        rows.append([split, len(items), *extra, " ".join(f"{c}:{k}" for c, k in zip(source.classes, counts))])
    unit = "tokens" if task.text else "steps"
    out = table(["split", "items", f"{unit} p50/p90/p99/max", f"cut at {task.max_len}", "in vocabulary",
                 "items per class"], rows)
    if task.text:
        out.append(tokenizer_line(task.tokenizer_obj, "the train texts"))
    return out + ["examples (train):"] + [f"  {e}" for e in source.examples("train", n)]


def forecast_lines(task, n: int) -> list[str]:
    series, (_, _, origins) = task.source, task._windows
    rows = [[split, hi - lo, len(origins[split]), f"{series.values[lo:hi].min():.4g}",
             f"{series.values[lo:hi].mean():.4g}", f"{series.values[lo:hi].max():.4g}"]
            for split, (lo, hi) in series.bounds.items()]
    out = table(["split", "steps", f"windows ({task.context} + {task.horizon})", "min", "mean", "max"], rows)
    out.append(f"scale: values relative to a window's last one, in units of {task.scale:.4g} "
               "(the train split's mean absolute step)")
    return out + ["examples (train):"] + [f"  {e}" for e in series.examples("train", n)]


def check_lines(recipe, n: int) -> list[str]:
    """What ``seqlab data check`` prints for a recipe (its data read and checked first)."""
    from seqlab.classify import Classification
    from seqlab.data.lm import CorpusLM
    from seqlab.recipe import task_name
    from seqlab.timeseries.task import Forecast
    from seqlab.translation.config import Translation

    task, name = recipe.task, task_name(recipe.task)
    if not hasattr(task, "data_record"):
        return [f"task {name}: synthetic data, drawn with a seed for each batch; there is no corpus to check"]
    if hasattr(task, "prepare"):
        task.prepare(recipe.train.batch_size)
    describe = {CorpusLM: lm_lines, Translation: translation_lines, Classification: classify_lines,
                Forecast: forecast_lines}[type(task)]
    body = describe(task, n)  # before the record: a corpus of files is read (and checked) here
    return header_lines(name, task.data_record()) + body
