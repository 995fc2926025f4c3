"""C37: the failure table's remaining rows, and "word order swaps invert meaning", as template tasks.

C30 tests two rows of the chapter's table of real-world failures (coreference, a clause
far from the answer). This entry takes the others, each a controlled task written from
templates over real BSB words (:mod:`seqlab.data.failure_rows`): a garden-path sentence,
a summary that must name the first paragraph's topic, a question about the first
sentence asked at the end, the chapter's sentiment example as printed (the last clause
decides: "bad, but ... amazing" is positive), and a word-order swap ("A gave B" vs "B
gave A"). In every row the deciding words sit at least ``gap`` tokens before the question.

The chapter's prediction per row: the RNN fails ("whenever the answer or critical
information is far from where it's needed, RNNs fail"), and attention, the fix the
chapter builds towards, solves it. A tanh RNN and one causal Transformer layer train on
the same batches (paired seeds) for the same updates, with C30's settings and machinery
(``c30_failure_table.train``).

Rule, fixed before the run, per row and "in a majority of seeds": *as predicted* when the
RNN's accuracy is < 0.75 and attention's >= 0.9; *contradicted* when the RNN reaches >=
0.9 or attention stays < 0.75. The entry is confirmed when every row is as predicted,
refuted when any row is contradicted (one verdict per row in the table). Gates, as in
C30: the RNN learns each row's rule on a short version (``control_length`` tokens, the
deciding words next to the question: >= 0.9 in every seed), so a failure is about
distance; each model whose failure decides gains <= 0.05 dev accuracy over its last quarter.
"""

from __future__ import annotations

import statistics

import torch

from seqlab.data.failure_rows import ROWS, FailureRow, show
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.problem import c30_failure_table as c30

CLAIM_ID = "C37"
QUOTE = ("Translation \"The old man the boats\" → mistranslated as elderly person; Summarization First paragraph of "
         "article ignored in summary; Question Answering Answer found in first sentence, question asks about it at "
         "the end; Sentiment \"I thought the movie would be bad, but it was actually amazing\" → negative; Subtle "
         "word order swaps invert meaning")
CLAIM = (f"The chapter's failure table, remaining rows, and its typical failure modes (\"{QUOTE}\"): where the "
         "deciding words are far from the question, an RNN fails and attention solves it. Controlled tasks from "
         "templates over real BSB words.")
RNN, ATTENTION = c30.RNN, c30.ATTENTION
ARCHS = (RNN, ATTENTION)

Config = c30.Config  # the same sizes and settings as C30
PROFILES = {"quick": c30.Config(steps=150),
            "full": c30.PROFILES["full"]}
TINY = c30.TINY


def config(profile: str) -> dict:
    from seqlab.config import to_dict

    return {**to_dict(PROFILES[check_profile(profile)]), "rows": list(ROWS)}


def task(cfg: Config, row: str, short: bool = False) -> FailureRow:
    """The row's task at the configured length, or its short control (the deciding words next to the question)."""
    if short:
        return FailureRow(row, cfg.control_length, gap=1)
    return FailureRow(row, cfg.length, cfg.gap)


def row_outcome(acc: dict, row: str, cfg: Config, seeds) -> dict:
    a = {arch: [acc[row, arch, s] for s in seeds] for arch in ARCHS}
    major = c30._majority
    return {"rnn fails": major(v < cfg.fails for v in a[RNN]),
            "attention solves": major(v >= cfg.solves for v in a[ATTENTION]),
            "rnn solves": major(v >= cfg.solves for v in a[RNN]),
            "attention fails": major(v < cfg.fails for v in a[ATTENTION])}


def row_verdict(o: dict) -> str:
    if o["rnn solves"] or o["attention fails"]:
        return "contradicted"
    return "as predicted" if o["rnn fails"] and o["attention solves"] else "unclear"


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Five template tasks ({', '.join(ROWS)}) over BSB words, {cfg.length} tokens, the deciding words >= "
        f"{cfg.gap} tokens before the question. tanh RNN (Adam lr {cfg.lr}) and one causal Transformer layer "
        f"({cfg.heads} heads, lr {cfg.attention_lr}); hidden {cfg.hidden}, clip 1.0, {cfg.steps} updates of "
        f"{cfg.batch_size} on the same batches, seeds {list(seeds)}; accuracy on {cfg.test_batches * 64} test "
        f"sequences. Control: the RNN on {cfg.control_length}-token versions."), profile, config(profile), seeds=seeds)
    acc, curves, control, rows = {}, {}, {}, []
    for row in ROWS:
        for seed in seeds:
            for arch in ARCHS:
                acc[row, arch, seed], curves[row, arch, seed], secs = c30.train(cfg, arch, task(cfg, row), seed)
                rows.append([row, arch, seed, acc[row, arch, seed], round(secs, 1)])
            control[row, seed] = c30.train(cfg, RNN, task(cfg, row, short=True), seed)[0]
    result.add_table("test accuracy per row, model and seed", ["row", "model", "seed", "accuracy", "train s"], rows,
                     timing=["train s"])
    result.add_table(f"control: the RNN on the {cfg.control_length}-token version", ["row", *(f"seed {s}" for s in seeds)],
                     [[r, *(control[r, s] for s in seeds)] for r in ROWS])
    g = torch.Generator().manual_seed(0)
    result.add_table("one generated example per row (the question is '?', the answer read there)",
                     ["row", "example", "answer class"],
                     [[r, show(b := task(cfg, r).sample(1, g)), int(b.y[0, -1])] for r in ROWS])
    return _verdict(result, acc, curves, control, cfg, seeds)


def _verdict(result, acc: dict, curves: dict, control: dict, cfg: Config, seeds):
    out = {row: row_outcome(acc, row, cfg, seeds) for row in ROWS}
    verdicts = {row: row_verdict(o) for row, o in out.items()}
    gates = [rules.at_least(f"RNN learns the {row} rule at {cfg.control_length} tokens (min over seeds)",
                            min(control[row, s] for s in seeds), cfg.solves) for row in ROWS]
    for row, o in out.items():
        failing = ([RNN] if o["rnn fails"] else []) + ([ATTENTION] if o["attention fails"] else [])
        gates += [rules.converged(f"{arch} seed {s} trained on {row} (dev accuracy)", curves[row, arch, s],
                                  cfg.converged) for arch in failing for s in seeds]
    med = {(r, a): statistics.median(acc[r, a, s] for s in seeds) for r in ROWS for a in ARCHS}
    margins = {r: (cfg.fails - med[r, RNN], med[r, ATTENTION] - cfg.solves) for r in ROWS}
    result.add_table("per row: the chapter's prediction (RNN fails, attention solves) against the measurement",
                     ["row", "median RNN", "median attention", "RNN margin below 0.75 (fraction)",
                      "attention margin above 0.9 (fraction)", "row verdict"],
                     [[r, med[r, RNN], med[r, ATTENTION], f"{margins[r][0]:+.3f} ({margins[r][0] / cfg.fails:+.0%})",
                       f"{margins[r][1]:+.3f} ({margins[r][1] / cfg.solves:+.0%})", verdicts[r]] for r in ROWS])
    verdict = judge(enough=rules.gates_pass(gates), confirmed=all(v == "as predicted" for v in verdicts.values()),
                     refuted=any(v == "contradicted" for v in verdicts.values()))
    return finish(
        result, verdict,
        f"per row, each part in a majority of seeds: as predicted when RNN accuracy < {cfg.fails} and attention >= "
        f"{cfg.solves}; contradicted when the RNN reaches >= {cfg.solves} or attention stays < {cfg.fails}. "
        "Confirmed when every row is as predicted, refuted when any row is contradicted. Gates: the RNN >= "
        f"{cfg.solves} on the {cfg.control_length}-token version of each row in every seed; each model whose failure "
        f"decides gains <= {cfg.converged} dev accuracy over its last quarter.",
        "; ".join(f"{r}: {verdicts[r]} (RNN {med[r, RNN]:.2f}, attention {med[r, ATTENTION]:.2f}; margins "
                  f"{margins[r][0]:+.2f} / {margins[r][1]:+.2f})" for r in ROWS),
        ", ".join(f"{r} {verdicts[r]}" for r in ROWS), gates=gates)
