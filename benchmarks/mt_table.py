"""The translation table: train each recipe, score its test split, print one row per model.

Columns: model, parameters, training time (evaluations left out), target tokens/s, test
BLEU, chrF, BLEU per source-length bucket, attention AER (and the diagonal aligner's).
Each recipe trains for its own ``train.max_minutes`` unless --minutes overrides it; the
rows and the learning curves (dev BLEU / chrF against wall-clock minutes) go to table.json
and two PNGs.

    python benchmarks/mt_table.py configs/mt-nt-*.toml --threads 2 --minutes 30 --out runs/mt-table
    python benchmarks/mt_table.py configs/mt-nt-transformer.toml --minutes 1 --limit 50   # smoke run
    python benchmarks/mt_table.py --merge runs/a/table.json runs/b/table.json --out runs/mt-table
"""

from __future__ import annotations

import dataclasses
import json
import math
import sys
from pathlib import Path

import torch

from seqlab.cli import Parser, at_least_one, one_line_errors
from seqlab.decode import MAX_BEAM
from seqlab.errors import SeqlabError
from seqlab.diagnostics.plots import line_plot
from seqlab.recipe import load_recipe
from seqlab.translation.data import load_pairs
from seqlab.translation.evaluate import evaluate_split
from seqlab.translation.loop import load_translator, train_translator


def curves_png(histories: dict[str, list[dict]], key: str) -> bytes:
    """Dev score (``key``: dev_bleu or dev_chrf) against wall-clock minutes, one line per model."""
    curves = {name: ([h["minutes"] for h in rows], [h[key] for h in rows]) for name, rows in histories.items()}
    return line_plot(curves, "learning curves", "minutes", key.replace("_", " "))


def by_length(scores: dict, key: str) -> dict:
    return {b["bucket"]: {"n": b["n"], "score": b["score"]} for b in scores[key]}


def row(name: str, corpus: str, parameters: int, result, scores: dict) -> dict:
    aer = scores["aer"] or {}
    return {"model": name, "corpus": corpus, "parameters": parameters,
            "train_minutes": result.train_seconds / 60, "tokens_per_s": result.targets_per_second,
            "bleu": scores["bleu"], "chrf": scores["chrf"], "accuracy": scores["accuracy"],
            "bleu_by_length": by_length(scores, "bleu_by_length"),
            "chrf_by_length": by_length(scores, "chrf_by_length"),
            "accuracy_by_length": by_length(scores, "accuracy_by_length"),
            "aer": aer.get("aer", math.nan), "diagonal_aer": aer.get("diagonal_aer", math.nan),
            "bleu_signature": scores["bleu_signature"], "chrf_signature": scores["chrf_signature"]}


def _cells(buckets: dict) -> list[str]:
    return [f"{b['score']:.2f}" if b["n"] else "-" for b in buckets.values()]


def _aer(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"  # "-": no attention to align with


def render(rows: list[dict]) -> str:
    """One markdown table: BLEU by length and AER for NT; exact match and chrF by length for numbers."""
    if not rows:
        return ""
    numbers = rows[0]["corpus"] == "numbers"
    first = rows[0]["accuracy_by_length" if numbers else "bleu_by_length"]
    lead = ["model", "params", "train min", "tgt tok/s"]
    if numbers:
        head = [*lead, "exact %", "chrF", *(f"exact {b}" for b in first), *(f"chrF {b}" for b in first)]
    else:
        head = [*lead, "BLEU", "chrF", *(f"BLEU {b}" for b in first), "AER", "diag AER"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r["model"], f"{r['parameters']:,}", f"{r['train_minutes']:.1f}", f"{r['tokens_per_s']:,.0f}"]
        if numbers:
            cells += [f"{r['accuracy']:.1f}", f"{r['chrf']:.2f}", *_cells(r["accuracy_by_length"]),
                      *_cells(r["chrf_by_length"])]
        else:
            cells += [f"{r['bleu']:.2f}", f"{r['chrf']:.2f}", *_cells(r["bleu_by_length"]), _aer(r["aer"]),
                      _aer(r["diagonal_aer"])]
        lines.append("| " + " | ".join(cells) + " |")
    counts = ", ".join(f"{k}: {v['n']}" for k, v in first.items())
    return "\n".join(lines) + f"\n\ntest sentences per source-length bucket: {counts}"


def render_curves(histories: dict[str, list[dict]], key: str) -> str:
    """The learning curves as text: per model, ``minutes: score`` at each dev evaluation (wall-clock
    minutes of the run, evaluations included)."""
    lines = [f"dev {key.removeprefix('dev_')} against minutes:"]
    for name, rows in histories.items():
        points = ", ".join(f"{h['minutes']:.1f}: {h[key]:.2f}" for h in rows)
        lines.append(f"  {name}: {points}")
    return "\n".join(lines)


def write(out: Path, rows: list[dict], histories: dict[str, list[dict]]) -> None:
    """table.json, table.md (table and learning curves) and the two learning-curve PNGs under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "table.json").write_text(json.dumps({"rows": rows, "curves": histories}, indent=2) + "\n")
    key = "dev_chrf" if rows and rows[0]["corpus"] == "numbers" else "dev_bleu"
    (out / "table.md").write_text(render(rows) + "\n\n" + render_curves(histories, key) + "\n")
    for key in ("dev_bleu", "dev_chrf"):
        (out / f"{key}_curves.png").write_bytes(curves_png(histories, key))


def merge(tables: list[str], out: Path) -> int:
    """Join the rows and curves of earlier runs' table.json files into one table."""
    rows, histories = [], {}
    for path in tables:
        try:
            data = json.loads(Path(path).read_bytes())
            part_rows, curves = data["rows"], data["curves"]
            if not (isinstance(part_rows, list) and all(isinstance(r, dict) for r in part_rows)
                    and isinstance(curves, dict)):
                raise TypeError("'rows' must be a list of tables of keys and 'curves' a table")
        except (ValueError, KeyError, TypeError) as err:
            raise SeqlabError(f"{path} is not a table.json of mt_table.py ({type(err).__name__}: {err})") from None
        rows += part_rows
        histories.update(curves)
    write(out, rows, histories)
    print((out / "table.md").read_text())
    return 0


@one_line_errors("mt_table.py")
def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="mt_table.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("recipes", nargs="+", help="translation recipes (TOML/YAML), or table.json files with --merge")
    parser.add_argument("--merge", action="store_true", help="join earlier table.json files instead of training")
    parser.add_argument("--minutes", type=float, default=None, help="override every recipe's train.max_minutes")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override for every recipe (named in the model column)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="score only the first N test pairs")
    parser.add_argument("--out", default="runs/mt-table", help="folder for the runs and table.json")
    args = parser.parse_args(argv)
    at_least_one(args, "threads", "beam", "limit")
    if args.beam > MAX_BEAM:
        raise SeqlabError(f"--beam must be between 1 and {MAX_BEAM}, got {args.beam}")
    if args.minutes is not None and not 0 < args.minutes < math.inf:
        raise SeqlabError(f"--minutes must be a number above 0, got {args.minutes}")
    if args.merge:
        return merge(args.recipes, Path(args.out))
    if args.threads:
        torch.set_num_threads(args.threads)
    out, rows, histories = Path(args.out), [], {}
    for path in args.recipes:
        recipe = load_recipe(path, args.set)
        if args.minutes is not None:
            recipe = dataclasses.replace(recipe, train=dataclasses.replace(recipe.train, max_minutes=args.minutes))
        name = Path(path).stem + "".join(f" {o}" for o in args.set)
        run_dir = out / Path(path).stem
        result = train_translator(recipe, run_dir, overwrite=True)  # a re-run of the table replaces its runs
        model, src_tok, tgt_tok, _ = load_translator(run_dir)
        corpus = load_pairs(recipe.task)
        scores = evaluate_split(model, corpus, "test", src_tok, tgt_tok, next(model.parameters()).device,
                                beam=args.beam, max_len_ratio=recipe.task.max_len_ratio, limit=args.limit)
        rows.append(row(name, corpus.name, sum(p.numel() for p in model.parameters()), result, scores))
        histories[name] = result.history
        print(render(rows[-1:]), flush=True)
    write(out, rows, histories)
    print(f"\n{(out / 'table.md').read_text()}\nBLEU: {rows[0]['bleu_signature']}\nchrF: {rows[0]['chrf_signature']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
