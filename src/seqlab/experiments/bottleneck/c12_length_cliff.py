"""C12: without attention, quality falls sharply as sources grow; attention flattens the curve.

Quick profile: a controlled translation of random symbols (``seqlab.data.transduction``,
a lexical copy) where the information the decoder needs grows with the source length
while a seq2seq model's fixed vector does not. An LSTM seq2seq (source reversed, as
Sutskever et al. found best) and a Luong attention model of the same hidden size train
the same number of updates on lengths 4-24, three paired seeds, and are scored by greedy
decoding per length bucket (token accuracy and exact match).

Full profile: real corpora. English -> German number words (1-48 English words, equally
many sources in each 10-word band; ``seqlab.data.corpora.numbers``), GRU seq2seq vs
Bahdanau at equal size and updates, five paired seeds, exact match per 10-word band
(where the cliff shows; chrF beside it) decides by the same rule; Greek -> English NT
BLEU by source length (seed 0) is reported beside it (``experiments.nt_runs``).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from seqlab.config import to_dict
from seqlab.data.transduction import Transduction
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.nt_runs import NT, NUMBERS, recipe, train_and_score
from seqlab.experiments.core.transduction_runs import bucket_scores, train
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.metrics import LENGTH_BUCKETS, LONG_BUCKETS

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
    metric: str = "token"  # what the rule reads per bucket: token accuracy


@dataclass(frozen=True)
class CorpusConfig:
    """The full profile: numbers decide by exact match per 10-word band; NT BLEU by length is reported."""

    numbers: tuple = tuple(NUMBERS.items())
    nt: tuple = tuple(NT.items())
    embed_dim: int = 128
    hidden: int = 256
    steps: int = 3000  # updates of max_tokens padded tokens
    nt_steps: int = 4000  # the NT pair (seed 0 only, reported)
    max_tokens: int = 4096
    lr: float = 1e-3
    eval_sentences: int = 200
    test_limit: int | None = None  # all test pairs
    # exact match is a percentage (seqlab.metrics.exact_match), so these are in points
    competent: float = 80.0  # exact match % both models need on the 1-10 word band
    converged: float = 1.0  # dev chrF the last quarter may gain over the best earlier point
    min_drop: float = 30.0  # seq2seq exact match (points) lost from the 1-10 band to the 41+ band
    min_gap: float = 20.0  # ... and this many points more than attention
    metric: str = "exact"


PROFILES = {"quick": Config(), "full": CorpusConfig()}
# the corpus path at a size the tests can run (tests/test_translation_experiments.py)
TINY_CORPUS = CorpusConfig(numbers=tuple({**NUMBERS, "numbers_size": 300, "numbers_max_words": 24,
                                          "numbers_max_digits": 12}.items()),
                           embed_dim=8, hidden=8, steps=4, nt_steps=0, max_tokens=512, eval_sentences=8,
                           test_limit=40)
TINY = Config(vocab=6, max_len=6, buckets=((2, 3), (5, 6)), min_len=2, hidden=8, embed_dim=4, steps=8,
              batch_size=8, test_sentences=4)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def models(cfg: Config) -> dict[str, dict]:
    common = {"embed_dim": cfg.embed_dim, "hidden": cfg.hidden, "layers": 1, "cell": cfg.cell}
    return {SEQ2SEQ: {"arch": "seq2seq", "reverse_source": True, **common},
            ATTENTION: {"arch": "luong", "score": "general", "input_feed": False, **common}}


RULE = ("competent", "converged", "min_drop", "min_gap", "metric")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (model, seed); the full profile adds the NT pair (seed 0), one unit per model."""
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    args = {"cfg": settings(cfg, RULE)}
    if isinstance(cfg, Config):
        return [Unit(f"{label}-s{seed}", "train_quick", {**args, "label": label, "seed": seed}, seed=seed,
                     flops=flops.synthetic_translation(spec, cfg.vocab, cfg.min_len, cfg.max_len, cfg.batch_size,
                                                       cfg.steps))
                for seed in seeds for label, spec in models(cfg).items()]
    specs = corpus_models(cfg)
    out = [Unit(f"numbers-{label}-s{seed}", "train_numbers", {**args, "label": label, "seed": seed}, seed=seed,
                flops=flops.corpus_translation(spec, dict(cfg.numbers), cfg.steps, cfg.max_tokens))
           for seed in seeds for label, spec in specs.items()]
    if cfg.nt_steps:
        out += [Unit(f"nt-{label}", "train_nt", {**args, "label": label, "seed": seeds[0]}, seed=seeds[0],
                     flops=flops.corpus_translation(spec, dict(cfg.nt), cfg.nt_steps, cfg.max_tokens))
                for label, spec in specs.items()]
    return out


def train_quick(cfg: dict, label: str, seed: int) -> dict:
    """Model ``label`` trained with ``seed`` on the synthetic translation; greedy scores per bucket."""
    cfg = config_of(Config, cfg)
    task = Transduction(cfg.vocab, cfg.min_len, cfg.max_len)
    trained = train(models(cfg)[label], task, cfg.steps, seed, cfg.lr, cfg.batch_size)
    return {"buckets": bucket_scores(trained.model, task, cfg.buckets, cfg.test_sentences), "curve": trained.curve,
            "train_seconds": trained.train_seconds}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    if isinstance(cfg, CorpusConfig):
        return decide_corpus(cfg, profile, results)
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Random-symbol translation (vocabulary {cfg.vocab}, lengths {cfg.min_len}-{cfg.max_len}, a lexical copy). "
        f"{cfg.cell.upper()} seq2seq (reversed source) vs Luong general attention, hidden {cfg.hidden}, "
        f"{cfg.steps} updates of {cfg.batch_size} sentences each, lr {cfg.lr}, seeds {list(seeds)}; greedy decoding "
        f"of {cfg.test_sentences} fixed test sources per length bucket."), profile, to_dict(cfg), seeds=seeds)
    scores, curves, rows = {}, {}, []
    for seed in seeds:
        for label in models(cfg):
            r = results[f"{label}-s{seed}"]
            scores[label, seed], curves[label, seed] = r["buckets"], r["curve"]
            rows.append([label, seed, *(b["token"] for b in scores[label, seed]),
                         *(b["exact"] for b in scores[label, seed]), r["train_seconds"]])
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


def drops(scores: dict, metric: str = "token") -> dict:
    """(label, seed) -> ``metric`` on the shortest bucket minus the longest (buckets with sentences)."""
    present = {key: [b for b in rows if b.get("n", 1)] for key, rows in scores.items()}
    return {key: rows[0][metric] - rows[-1][metric] for key, rows in present.items()}


NAMES = {"token": ("token accuracy", "dev token accuracy"), "exact": ("exact match", "dev chrF")}


def corpus_models(cfg: CorpusConfig) -> dict[str, dict]:
    common = {"embed_dim": cfg.embed_dim, "hidden": cfg.hidden, "layers": 1, "cell": "gru"}
    return {SEQ2SEQ: {"arch": "seq2seq", "reverse_source": True, **common}, ATTENTION: {"arch": "bahdanau", **common}}


def train_numbers(cfg: dict, label: str, seed: int) -> dict:
    """Model ``label`` trained with ``seed`` on the numbers corpus; exact match and chrF per source band."""
    cfg = config_of(CorpusConfig, cfg)
    r = train_and_score(label, recipe(dict(cfg.numbers), corpus_models(cfg)[label], cfg.steps, seed,
                                      cfg.eval_sentences, cfg.max_tokens, cfg.lr), cfg.test_limit, LONG_BUCKETS)
    bands = zip(r.scores["accuracy_by_length"], r.scores["chrf_by_length"])
    return {"bands": [{"bucket": a["bucket"], "exact": a["score"], "chrf": c["score"], "n": a["n"]} for a, c in bands],
            "curve": r.curve, "train_seconds": r.train_seconds}


def train_nt(cfg: dict, label: str, seed: int) -> dict:
    """Model ``label`` trained on NT Greek -> English (reported): test BLEU, and BLEU by source length."""
    cfg = config_of(CorpusConfig, cfg)
    r = train_and_score(label, recipe(dict(cfg.nt), corpus_models(cfg)[label], cfg.nt_steps, seed,
                                      cfg.eval_sentences, cfg.max_tokens, cfg.lr), cfg.test_limit, LENGTH_BUCKETS)
    return {"bleu": r.scores["bleu"], "by_length": r.scores["bleu_by_length"], "train_seconds": r.train_seconds}


def decide_corpus(cfg: CorpusConfig, profile: str, results: dict):
    """The full profile: numbers decide (exact match per 10-word band), NT BLEU by length is reported."""
    seeds = rules.seeds(profile)
    specs = corpus_models(cfg)
    result = new_result(CLAIM_ID, CLAIM, (
        f"English -> German number words, 1-{dict(cfg.numbers)['numbers_max_words']} English words (equal 10-word "
        f"bands). GRU seq2seq (reversed source) vs Bahdanau, embeddings {cfg.embed_dim}, hidden {cfg.hidden}, "
        f"{cfg.steps} updates of {cfg.max_tokens} tokens, seeds {list(seeds)}; greedy decoding of the test split, "
        f"exact match and chrF per source band. NT Greek -> English, {cfg.nt_steps} updates, seed {seeds[0]}: "
        "test BLEU by source length, reported."), profile, to_dict(cfg), seeds=seeds)
    scores, curves, rows = {}, {}, []
    for seed in seeds:
        for label in specs:
            r = results[f"numbers-{label}-s{seed}"]
            scores[label, seed], curves[label, seed] = r["bands"], r["curve"]
            rows.append([label, seed, *(b["exact"] for b in scores[label, seed]),
                         *(b["chrf"] for b in scores[label, seed]), r["train_seconds"]])
    names = [b["bucket"] for b in scores[SEQ2SEQ, seeds[0]]]
    result.add_table("numbers: greedy decoding by source band (exact match, then chrF)",
                     ["model", "seed", *(f"exact {n}" for n in names), *(f"chrF {n}" for n in names),
                      "training s"], rows, timing=["training s"])
    if cfg.nt_steps:
        nt = {label: results[f"nt-{label}"] for label in specs}
        first = next(iter(nt.values()))
        result.add_table(f"NT Greek -> English test BLEU by source length (seed {seeds[0]}, reported)",
                         ["model", "BLEU", *(b["bucket"] for b in first["by_length"]), "training s"],
                         [[label, r["bleu"], *(b["score"] for b in r["by_length"]), r["train_seconds"]]
                          for label, r in nt.items()], timing=["training s"])
    return _verdict(result, scores, curves, cfg, seeds)


def _verdict(result, scores: dict, curves: dict, cfg, seeds):
    metric, curve_name = NAMES[cfg.metric]
    d = drops(scores, cfg.metric)
    gates = [rules.at_least(f"{label} competent on the shortest bucket (min {metric} over seeds)",
                            min(scores[label, s][0][cfg.metric] for s in seeds), cfg.competent)
             for label in (SEQ2SEQ, ATTENTION)]
    gates += [rules.converged(f"{label} seed {s} trained ({curve_name})", curves[label, s], cfg.converged)
              for label in (SEQ2SEQ, ATTENTION) for s in seeds]
    gaps = {s: d[SEQ2SEQ, s] - d[ATTENTION, s] for s in seeds}
    confirmed = all(d[SEQ2SEQ, s] >= cfg.min_drop and gaps[s] >= cfg.min_gap for s in seeds)
    refuted = all(gaps[s] < cfg.min_gap / 2 for s in seeds)
    verdict = judge(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    med = {label: statistics.median(d[label, s] for s in seeds) for label in (SEQ2SEQ, ATTENTION)}
    return finish(result, verdict,
                  f"gates: both models reach {metric} >= {cfg.competent} on the shortest bucket in every seed, "
                  f"and no model improves on its best earlier {curve_name} by more than {cfg.converged} in the last "
                  "quarter of its updates. "
                  f"Confirmed when, in every seed, seq2seq loses >= {cfg.min_drop} {metric} from the shortest to "
                  f"the longest bucket and >= {cfg.min_gap} more than attention; refuted when in every seed it loses "
                  f"less than {cfg.min_gap / 2} more than attention.",
                  "drop (shortest - longest bucket) per seed: "
                  + "; ".join(f"seed {s}: seq2seq {d[SEQ2SEQ, s]:.2f}, attention {d[ATTENTION, s]:.2f}" for s in seeds),
                  f"seq2seq loses {med[SEQ2SEQ]:.2f} {metric} from short to long sources, attention "
                  f"{med[ATTENTION]:.2f} (median of {len(seeds)} seeds)", gates=gates)
