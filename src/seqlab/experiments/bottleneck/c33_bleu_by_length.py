"""C33: the chapter's table of quality by sentence length, a seq2seq model against attention.

The chapter prints approximate BLEU of a seq2seq model without attention by sentence
length: 35-40 at 5-10 words, 28-32 at 15-20, 20-25 at 25-30 and below 15 past 40,
a steady fall to under half the short-sentence score; attention was the cure. The
table's *shape* is what a reproduction can test (its absolute BLEU depends on the
corpus): the no-attention model's score falls band by band to well under its
short-band score, and an attention model of the same size, trained alike, falls less.

Design: a GRU seq2seq (reversed source) and an attention model of the same width,
the same updates on the same batches (paired seeds), greedy decoding of the test
split, scores per 10-word source band (``seqlab.metrics``). Quick profile: the numbers
corpus (English -> German number words, 1-48 words), chrF per band deciding (exact
match beside it; a quick budget leaves exact match near zero), Luong general attention.
Full profile: Greek -> English NT, BLEU per band deciding, Bahdanau attention.
C12 tests the cliff itself with its own rule; this entry tests the table's shape.

Rule (fixed before the run), with ratio = score of the last band / score of the first:
- the seq2seq shape holds in a seed when its score never rises by more than ``rise``
  from one band to the next and its ratio is at most ``max_ratio`` (the chapter's table:
  about 15 / 37.5 = 0.4; ``max_ratio`` allows for a milder corpus);
- attention is flatter in a seed when its ratio exceeds the seq2seq's by ``min_gap``;
- confirmed when both hold in every seed; refuted when in every seed the seq2seq's
  ratio is at least ``flat_ratio`` (no fall) or attention is no flatter (ratio not
  above the seq2seq's); inconclusive otherwise.
Gates: both models competent on the first band (min over seeds) and trained (dev
curve gained at most ``converged`` over the last quarter).
"""

from __future__ import annotations

from dataclasses import dataclass

from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.band_runs import band_scores
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.experiments.core.nt_runs import NT, NUMBERS
from seqlab.metrics import LENGTH_BUCKETS, LONG_BUCKETS

CLAIM_ID = "C33"
CLAIM = ("The chapter's table of seq2seq quality by sentence length (\"5-10 words 35-40\" BLEU ... \"40+ words < 15\") "
         "and attention as its cure: the no-attention score falls band by band, attention's falls less. Real data: "
         "numbers corpus (quick), Greek -> English NT (full).")
SEQ2SEQ, ATTENTION = "seq2seq", "attention"


@dataclass(frozen=True)
class Config:
    data: tuple = tuple({**NUMBERS, "numbers_size": 3000}.items())
    attention: str = "luong"
    embed_dim: int = 32
    hidden: int = 64
    steps: int = 200
    max_tokens: int = 512
    lr: float = 3e-3
    eval_sentences: int = 40
    test_limit: int | None = 200
    long: bool = True  # 10-word bands up to 41+ (numbers); False: 1-10 .. 31+ (NT)
    metric: str = "chrf"
    competent: float = 40.0  # score on the first band, both models, every seed
    converged: float = 2.0  # dev-curve points the last quarter may add
    rise: float = 2.0  # the seq2seq score may rise this much from one band to the next
    max_ratio: float = 0.6
    min_gap: float = 0.2
    flat_ratio: float = 0.85


PROFILES = {"quick": Config(),
            "full": Config(data=tuple(NT.items()), attention="bahdanau", embed_dim=256, hidden=512, steps=6000,
                           max_tokens=4096, lr=1e-3, eval_sentences=200, test_limit=None, long=False, metric="bleu",
                           competent=10.0, converged=1.0, rise=1.0)}
TINY = Config(data=tuple({**NUMBERS, "numbers_size": 300, "numbers_max_words": 24, "numbers_max_digits": 12}.items()),
              embed_dim=8, hidden=8, steps=4, max_tokens=512, eval_sentences=8, test_limit=40, long=False)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def specs(cfg: Config) -> dict[str, dict]:
    common = {"embed_dim": cfg.embed_dim, "hidden": cfg.hidden, "layers": 1, "cell": "gru"}
    attention = {"arch": "bahdanau"} if cfg.attention == "bahdanau" else {
        "arch": "luong", "score": "general", "input_feed": False}
    return {SEQ2SEQ: {"arch": "seq2seq", "reverse_source": True, **common}, ATTENTION: {**attention, **common}}


RULE = ("metric", "competent", "converged", "rise", "max_ratio", "min_gap", "flat_ratio")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (model, seed)."""
    cfg = PROFILES[check_profile(profile)]
    args = {"cfg": settings(cfg, RULE)}
    return [Unit(f"{label}-s{s}", "train_model", {**args, "label": label, "seed": s}, seed=s,
                 flops=flops.corpus_translation(spec, dict(cfg.data), cfg.steps, cfg.max_tokens))
            for s in rules.seeds(profile) for label, spec in specs(cfg).items()]


def train_model(cfg: dict, label: str, seed: int) -> dict:
    """Model ``label`` trained with ``seed``; BLEU, chrF and exact match per 10-word source band."""
    cfg = config_of(Config, cfg)
    b = band_scores(label, dict(cfg.data), specs(cfg)[label], cfg.steps, seed,
                    LONG_BUCKETS if cfg.long else LENGTH_BUCKETS, eval_sentences=cfg.eval_sentences,
                    max_tokens=cfg.max_tokens, lr=cfg.lr, limit=cfg.test_limit)
    return {"bands": b.bands, "n": b.n, "bleu": b.bleu, "chrf": b.chrf, "exact": b.exact, "curve": b.curve,
            "seconds": b.seconds}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    data = dict(cfg.data)
    result = new_result(CLAIM_ID, CLAIM, (
        f"{data['corpus']} (test split{'' if cfg.test_limit is None else f', first {cfg.test_limit} pairs'}): GRU "
        f"seq2seq (reversed source) vs {cfg.attention} attention, embeddings {cfg.embed_dim}, hidden {cfg.hidden}, "
        f"{cfg.steps} updates of {cfg.max_tokens} tokens, lr {cfg.lr}, seeds {list(seeds)}; greedy decoding, "
        f"{cfg.metric} per 10-word source band decides, the other scores beside it."), profile, config(profile),
        seeds=seeds)
    runs = {(label, s): results[f"{label}-s{s}"] for s in seeds for label in (SEQ2SEQ, ATTENTION)}
    names = runs[SEQ2SEQ, seeds[0]]["bands"]
    for metric in ("bleu", "chrf", "exact"):
        result.add_table(f"{metric} by source band (words)", ["model", "seed", *names, "training s"],
                         [[label, s, *r[metric], r["seconds"]] for (label, s), r in runs.items()],
                         timing=["training s"])
    result.add_table("sentences per band", ["band", "n"], [[b, n] for b, n in zip(names, runs[SEQ2SEQ, seeds[0]]["n"])])
    result.add_figure("score_by_length", f"{cfg.metric} by source band, per model and seed.",
                      line_plot({f"{label} seed {s}": (list(range(len(r["bands"]))), r[cfg.metric])
                                 for (label, s), r in runs.items()}, "quality by sentence length",
                                "band (" + ", ".join(names) + ")", cfg.metric))
    score = {key: r[cfg.metric] for key, r in runs.items()}
    gates = [rules.at_least(f"{label} competent on the first band (min {cfg.metric} over seeds)",
                            min(score[label, s][0] for s in seeds), cfg.competent) for label in (SEQ2SEQ, ATTENTION)]
    gates += [rules.converged(f"{label} seed {s} trained (dev curve)", runs[label, s]["curve"], cfg.converged)
              for label in (SEQ2SEQ, ATTENTION) for s in seeds]
    r = rule([score[SEQ2SEQ, s] for s in seeds], [score[ATTENTION, s] for s in seeds], cfg)
    return _verdict(result, r, cfg, gates)


def ratio(scores: list[float]) -> float:
    return scores[-1] / scores[0] if scores[0] > 0 else float("nan")


def rule(seq2seq: list[list[float]], attention: list[list[float]], cfg: Config) -> dict:
    """The rule on measured per-band scores: one list of bands per seed, for each model."""
    rs, ra = [ratio(s) for s in seq2seq], [ratio(a) for a in attention]
    falls = [all(b - a <= cfg.rise for a, b in zip(s, s[1:])) and r <= cfg.max_ratio for s, r in zip(seq2seq, rs)]
    flatter = [a - s >= cfg.min_gap for s, a in zip(rs, ra)]
    no_fall = all(r >= cfg.flat_ratio for r in rs)
    no_flatter = all(a <= s for s, a in zip(rs, ra))
    return {"seq2seq_ratio": rs, "attention_ratio": ra, "falls": rules.count(falls), "flatter": rules.count(flatter),
            "margin": cfg.max_ratio - max(rs), "gap_margin": min(a - s for s, a in zip(rs, ra)) - cfg.min_gap,
            "confirmed": all(falls) and all(flatter), "refuted": no_fall or no_flatter, "seeds": len(rs)}


def _verdict(result, r: dict, cfg: Config, gates):
    verdict = judge(enough=rules.gates_pass(gates), confirmed=r["confirmed"], refuted=r["refuted"])
    worst = max(r["seq2seq_ratio"])
    result.add_table("margin of the deciding numbers", ["quantity", "value", "threshold", "margin",
                                                        "margin (fraction)"],
                     [["seq2seq last / first band, worst seed", worst, cfg.max_ratio, r["margin"],
                       r["margin"] / cfg.max_ratio],
                      ["attention ratio - seq2seq ratio, worst seed", r["gap_margin"] + cfg.min_gap, cfg.min_gap,
                       r["gap_margin"], r["gap_margin"] / cfg.min_gap]])
    return finish(result, verdict,
                  f"ratio = {cfg.metric} of the last band / the first. Gates: both models score >= {cfg.competent} "
                  f"on the first band in every seed; every dev curve gains <= {cfg.converged} over the last quarter. "
                  f"Confirmed when in every seed the seq2seq score never rises by more than {cfg.rise} from band to "
                  f"band with ratio <= {cfg.max_ratio}, and attention's ratio exceeds it by >= {cfg.min_gap}; refuted "
                  f"when in every seed the seq2seq ratio is >= {cfg.flat_ratio}, or attention's ratio is no higher.",
                  "ratio per seed: seq2seq " + ", ".join(f"{x:.2f}" for x in r["seq2seq_ratio"]) + "; attention "
                  + ", ".join(f"{x:.2f}" for x in r["attention_ratio"]) + f"; falls band by band in {r['falls']}/"
                  f"{r['seeds']} seeds, attention flatter in {r['flatter']}/{r['seeds']}; margins: ratio "
                  f"{r['margin']:+.2f} ({r['margin'] / cfg.max_ratio:+.0%}), gap {r['gap_margin']:+.2f}",
                  f"last/first band {cfg.metric}: seq2seq {min(r['seq2seq_ratio']):.2f}-{worst:.2f}, attention "
                  f"{min(r['attention_ratio']):.2f}-{max(r['attention_ratio']):.2f}", gates=gates,
                  margins=[rules.Margin("seq2seq last / first band, worst seed", worst, cfg.max_ratio, "ratio",
                                        noise=rules.seed_noise(r["seq2seq_ratio"])),
                           rules.Margin("attention ratio - seq2seq ratio, worst seed", r["gap_margin"] + cfg.min_gap,
                                        cfg.min_gap, "ratio", noise=rules.seed_noise(
                                            a - s for s, a in zip(r["seq2seq_ratio"], r["attention_ratio"])))])
