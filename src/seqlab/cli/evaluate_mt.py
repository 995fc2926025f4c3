"""Scores of a translation run, behind ``seqlab evaluate`` (BLEU, chrF, by length, AER)."""

from __future__ import annotations

import json
import math


def _fmt(x: float) -> str:
    return "     -" if math.isnan(x) else f"{x:6.2f}"


def run(args) -> int:
    from seqlab.recipe import check_same_data
    from seqlab.translation.data import load_pairs
    from seqlab.translation.evaluate import evaluate_split
    from seqlab.translation.loop import load_translator

    model, src_tok, tgt_tok, recipe = load_translator(args.run_dir, args.device)
    device = next(model.parameters()).device
    corpus = load_pairs(recipe.task)
    check_same_data(args.run_dir, recipe.task, f"the {args.split} split would not be the run's")
    scores = evaluate_split(model, corpus, args.split, src_tok, tgt_tok, device, beam=args.beam, alpha=args.alpha,
                            max_len_ratio=recipe.task.max_len_ratio, limit=args.limit, aer=not args.no_aer)
    print(f"{recipe.model.arch} on {corpus.name} {args.split} ({scores['sentences']} sentences, beam {args.beam})")
    print(f"BLEU  {scores['bleu']:6.2f}   {scores['bleu_signature']}")
    print(f"chrF  {scores['chrf']:6.2f}   {scores['chrf_signature']}")
    print(f"exact {scores['accuracy']:6.2f} %")
    print("source words     n   BLEU   chrF exact%")
    rows = zip(scores["bleu_by_length"], scores["chrf_by_length"], scores["accuracy_by_length"])
    for b, c, a in rows:
        print(f"{b['bucket']:>12} {b['n']:>5} {_fmt(b['score'])} {_fmt(c['score'])} {_fmt(a['score'])}")
    aer = scores["aer"]
    if aer:
        print(f"AER   {aer['aer']:.3f} (precision {aer['precision']:.3f}, recall {aer['recall']:.3f}; "
              f"diagonal aligner {aer['diagonal_aer']:.3f}; {aer['sentences']} gold-aligned sentences)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(scores, fh, indent=2, ensure_ascii=False)
    return 0
