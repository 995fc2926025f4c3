"""C12: without attention, quality falls sharply as sources grow; attention flattens the curve.

Quick profile: a controlled translation of random symbols (``seqlab.data.transduction``,
a lexical copy) where the information the decoder needs grows with the source length
while a seq2seq model's fixed vector does not. An LSTM seq2seq (source reversed, as
Sutskever et al. found best) and a Luong attention model of the same hidden size train
the same number of updates on lengths 4-24, three paired seeds, and are scored by greedy
decoding per length bucket (token accuracy and exact match).

Full profile: the same comparison at a larger size (vocabulary 32, lengths up to 48,
hidden 128, 3,000 updates, five seeds). The real-corpus version of the curve (numbers
and NT by length) is ``benchmarks/mt_table.py``'s table; it does not feed the verdict.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from seqlab.config import to_dict
from seqlab.data.transduction import Transduction
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments import rules
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.transduction_runs import bucket_scores, train

CLAIM_ID = "C12"
CLAIM = ("An encoder-decoder that squeezes the source into one vector loses quality quickly as sentences get "
         "longer; attention keeps long sentences close to short ones.")
SEQ2SEQ, ATTENTION = "seq2seq", "attention"


@dataclass(frozen=True)
class Config:
    vocab: int = 12
    min_len: int = 4
    max_len: int = 24
    buckets: tuple = ((4, 8), (10, 14), (20, 24))
    hidden: int = 64
    embed_dim: int = 32
    cell: str = "lstm"
    steps: int = 500
    batch_size: int = 64
    lr: float = 1e-2
    test_sentences: int = 100  # per bucket
    competent: float = 0.9  # token accuracy both models need on the shortest bucket
    converged: float = 0.05  # the last quarter may beat the best earlier dev accuracy by at most this
    min_drop: float = 0.3  # seq2seq must lose this much token accuracy from shortest to longest bucket
    min_gap: float = 0.2  # ... and this much more than attention


PROFILES = {"quick": Config(), "full": Config(vocab=32, max_len=48, buckets=((4, 10), (20, 26), (42, 48)),
                                             hidden=128, steps=3000, test_sentences=300)}
TINY = Config(vocab=6, max_len=6, buckets=((2, 3), (5, 6)), min_len=2, hidden=8, embed_dim=4, steps=8,
              batch_size=8, test_sentences=4)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def models(cfg: Config) -> dict[str, dict]:
    common = {"embed_dim": cfg.embed_dim, "hidden": cfg.hidden, "layers": 1, "cell": cfg.cell}
    return {SEQ2SEQ: {"arch": "seq2seq", "reverse_source": True, **common},
            ATTENTION: {"arch": "luong", "score": "general", "input_feed": False, **common}}


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    task = Transduction(cfg.vocab, cfg.min_len, cfg.max_len)
    specs = models(cfg)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Random-symbol translation (vocabulary {cfg.vocab}, lengths {cfg.min_len}-{cfg.max_len}, a lexical copy). "
        f"{cfg.cell.upper()} seq2seq (reversed source) vs Luong general attention, hidden {cfg.hidden}, "
        f"{cfg.steps} updates of {cfg.batch_size} sentences each, lr {cfg.lr}, seeds {list(seeds)}; greedy decoding "
        f"of {cfg.test_sentences} fixed test sources per length bucket."), profile, to_dict(cfg), seeds=seeds)
    scores, curves, rows = {}, {}, []
    for seed in seeds:
        for label, spec in specs.items():
            trained = train(spec, task, cfg.steps, seed, cfg.lr, cfg.batch_size)
            scores[label, seed] = bucket_scores(trained.model, task, cfg.buckets, cfg.test_sentences)
            curves[label, seed] = trained.curve
            rows.append([label, seed, *(b["token"] for b in scores[label, seed]),
                         *(b["exact"] for b in scores[label, seed]), trained.train_seconds])
    names = [f"{lo}-{hi}" for lo, hi in cfg.buckets]
    result.add_table("greedy decoding by source length (token accuracy, then exact match)",
                     ["model", "seed", *(f"token {n}" for n in names), *(f"exact {n}" for n in names),
                      "training s"], rows, timing=["training s"])
    result.add_figure("length_cliff", "Token accuracy by source length, per model and seed.", _plot(scores, cfg))
    return _verdict(result, scores, curves, cfg, seeds)


def _plot(scores: dict, cfg: Config) -> bytes:
    mids = [(lo + hi) / 2 for lo, hi in cfg.buckets]  # the x of each bucket
    lines = {f"{label} seed {s}": (mids, [b["token"] for b in scores[label, s]]) for label, s in scores}
    return line_plot(lines, "the length cliff", "source length (bucket middle)", "token accuracy (greedy)")


def drops(scores: dict) -> dict:
    """(label, seed) -> token accuracy on the shortest bucket minus the longest."""
    return {key: rows[0]["token"] - rows[-1]["token"] for key, rows in scores.items()}


def _verdict(result, scores: dict, curves: dict, cfg: Config, seeds):
    d = drops(scores)
    gates = [rules.at_least(f"{label} competent on the shortest bucket (min over seeds)",
                            min(scores[label, s][0]["token"] for s in seeds), cfg.competent)
             for label in (SEQ2SEQ, ATTENTION)]
    gates += [rules.converged(f"{label} seed {s} trained (dev token accuracy)", curves[label, s], cfg.converged)
              for label in (SEQ2SEQ, ATTENTION) for s in seeds]
    gaps = {s: d[SEQ2SEQ, s] - d[ATTENTION, s] for s in seeds}
    confirmed = all(d[SEQ2SEQ, s] >= cfg.min_drop and gaps[s] >= cfg.min_gap for s in seeds)
    refuted = all(gaps[s] < cfg.min_gap / 2 for s in seeds)
    verdict = decide(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    med = {label: statistics.median(d[label, s] for s in seeds) for label in (SEQ2SEQ, ATTENTION)}
    return finish(result, verdict,
                  f"gates: both models reach token accuracy >= {cfg.competent} on the shortest bucket in every seed, "
                  f"and no model improves on its best earlier dev accuracy by more than {cfg.converged} in the last "
                  "quarter of its updates. "
                  f"Confirmed when, in every seed, seq2seq loses >= {cfg.min_drop} token accuracy from the shortest to "
                  f"the longest bucket and >= {cfg.min_gap} more than attention; refuted when in every seed it loses "
                  f"less than {cfg.min_gap / 2} more than attention.",
                  "drop (shortest - longest bucket) per seed: "
                  + "; ".join(f"seed {s}: seq2seq {d[SEQ2SEQ, s]:.2f}, attention {d[ATTENTION, s]:.2f}" for s in seeds),
                  f"seq2seq loses {med[SEQ2SEQ]:.2f} token accuracy from short to long sources, attention "
                  f"{med[ATTENTION]:.2f} (median of {len(seeds)} seeds)", gates=gates)
