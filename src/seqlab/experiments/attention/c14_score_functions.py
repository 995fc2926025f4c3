"""C14: Luong's dot score works nearly as well as the additive score, and is faster.

Two parts, each decided on its own terms:

- Quality: the same Luong model (global attention, no input feeding) with the dot
  h_t^T h_s and concat (additive) v^T tanh(W [h_t; h_s]) scores (and, in the full
  profile, general h_t^T W h_s and Bahdanau's model beside), trained the same number
  of updates on paired seeds. "Nearly as well" is a paired difference dot - concat
  whose bootstrap interval lies above -tolerance (dot may do better; it may not do
  worse by more than the tolerance).
  Quick profile: a synthetic translation with reordering (``seqlab.data.transduction``),
  greedy token accuracy. Full profile: the real English -> German number words
  (``experiments.nt_runs.NUMBERS``, C12's corpus and model sizes): greedy exact match on
  the test split decides, chrF and exact match per source band beside it. Numbers,
  not NT: a number has one right German spelling, so exact match is a sharp score of
  the translation itself, where NT's BLEU at these budgets is a coarse one (C13 only
  asks it to reach 10) and a tolerance in BLEU points would be arbitrary; the German
  order (units before tens, "einundzwanzig") still needs attention that reorders; and
  an update costs less (vocabularies of 500 against 4,000). The competence gate reads
  numbers of 1-10 English words (C12's gate on the same models); the tolerance is 5
  exact-match points, wider than the quick profile's 0.03 token accuracy because one
  wrong token fails a whole number.
- Cost: the score computation alone (scores for every (target, source) pair of a
  batch, forward + backward), dot vs concat, timed in interleaved rounds; "faster" is a
  ratio of medians above a stated margin with the rounds apart (upper quartile of dot
  below the lower quartile of concat).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, replace

import torch

from seqlab.config import to_dict
from seqlab.data.transduction import Transduction
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.nt_runs import NUMBERS, recipe, train_and_score
from seqlab.experiments.core.timing import interleaved, median_ms, range_ms
from seqlab.experiments.core.transduction_runs import bucket_scores, train
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.metrics import LENGTH_BUCKETS, bucket_label
from seqlab.nn.luong import make_score

CLAIM_ID = "C14"
CLAIM = "Dot-product attention scores translate nearly as well as additive ones and cost less."
DOT, ADDITIVE = "dot", "concat"
TIMED = True  # the verdict rests on measured times: the runner runs this claim alone


@dataclass(frozen=True)
class Config:
    vocab: int = 16
    min_len: int = 4
    max_len: int = 12
    modifier: float = 0.25
    scores: tuple[str, ...] = ("dot", "concat")  # the two the claim compares; TINY adds general
    bahdanau: bool = False  # Bahdanau's model (additive score, its own decoder) beside, reported
    hidden: int = 64
    embed_dim: int = 32
    steps: int = 400
    batch_size: int = 64
    lr: float = 1e-2
    test_sentences: int = 200
    competent: float = 0.9  # greedy token accuracy the best score must reach
    converged: float = 0.05  # the last quarter may beat the best earlier dev accuracy by at most this
    tolerance: float = 0.03  # "nearly as well": dot at most this much token accuracy below concat
    timing_shape: tuple[int, int, int] = (64, 16, 16)  # (B, T, S) of the timed score computation
    timing_rounds: int = 15
    speed_margin: float = 1.5  # dot must be this many times faster (medians), rounds apart


@dataclass(frozen=True)
class CorpusConfig:
    """The full profile: English -> German number words, C12's corpus and model sizes.

    Exact match is in percent (``seqlab.metrics.exact_match``), chrF in chrF points.
    """

    data: tuple = tuple(NUMBERS.items())
    scores: tuple[str, ...] = ("dot", "general", "concat")
    bahdanau: bool = True  # Bahdanau's model beside, reported (not gated, not compared)
    embed_dim: int = 128
    hidden: int = 256
    steps: int = 3000  # updates of max_tokens padded tokens, as C12's numbers models
    max_tokens: int = 4096
    lr: float = 1e-3
    eval_sentences: int = 200  # dev pairs behind each point of the dev chrF curve
    test_limit: int | None = None  # all test pairs
    competent: float = 80.0  # exact match (%) the best score reaches on numbers of 1-10 English words
    converged: float = 1.0  # dev chrF the last quarter may gain over the best earlier point
    tolerance: float = 5.0  # "nearly as well": dot at most this many exact-match points below concat
    timing_shape: tuple[int, int, int] = (64, 40, 40)  # (B, T, S) of the timed score computation
    timing_rounds: int = 30
    speed_margin: float = 1.5


PROFILES = {"quick": Config(), "full": CorpusConfig()}
TINY = Config(scores=("dot", "general", "concat"), bahdanau=True, vocab=6, min_len=2, max_len=5, hidden=8,
              embed_dim=4, steps=8, batch_size=8, test_sentences=4, timing_shape=(2, 3, 4), timing_rounds=3)
# the corpus path at a size the tests can run (tests/test_translation_experiments.py; C12's tiny numbers)
TINY_CORPUS = CorpusConfig(data=tuple({**NUMBERS, "numbers_size": 300, "numbers_max_words": 24,
                                       "numbers_max_digits": 12}.items()),
                           embed_dim=8, hidden=8, steps=4, max_tokens=512, eval_sentences=8, test_limit=40,
                           timing_shape=(2, 3, 4), timing_rounds=3)
# how the rule, the gates and the table name the metrics of each profile's config
WORDS = {Config: {"competence": "greedy token accuracy", "gate": "token accuracy", "curve": "dev accuracy",
                  "curve gate": "dev token accuracy", "diff": "dot - concat", "unit": "token accuracy"},
         CorpusConfig: {"competence": "greedy exact match (%) on numbers of 1-10 English words",
                        "gate": "exact match % on 1-10 words", "curve": "dev chrF", "curve gate": "dev chrF",
                        "diff": "dot - concat (greedy exact match %, whole test split)",
                        "unit": "exact-match points"}}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


RULE = ("scores", "bahdanau", "competent", "converged", "tolerance", "timing_rounds", "timing_shape", "speed_margin")


def units(profile: str, done: dict) -> list[Unit]:
    """One training unit per (model, seed), and one timed unit for the score computations."""
    cfg = PROFILES[check_profile(profile)]
    args = {"cfg": settings(cfg, RULE)}
    if isinstance(cfg, Config):
        fn, cost = "train_quick", lambda spec: flops.synthetic_translation(spec, cfg.vocab, cfg.min_len, cfg.max_len,
                                                                            cfg.batch_size, cfg.steps)
    else:
        fn, cost = "train_numbers", lambda spec: flops.corpus_translation(spec, dict(cfg.data), cfg.steps,
                                                                           cfg.max_tokens)
    train = [Unit(f"{label}-s{seed}", fn, {**args, "label": label, "seed": seed}, seed=seed, flops=cost(spec))
             for seed in rules.seeds(profile) for label, spec in _specs(cfg).items()]
    B, T, S = cfg.timing_shape
    timed = {"hidden": cfg.hidden, "scores": cfg.scores, "timing_shape": cfg.timing_shape,
             "timing_rounds": cfg.timing_rounds}
    return train + [Unit("time-scores", "time_scores", timed, timed=True,
                         flops=(cfg.timing_rounds + 2) * len(cfg.scores) * flops.TRAIN * 4 * B * T * S * cfg.hidden)]


def train_quick(cfg: dict, label: str, seed: int) -> dict:
    """Model ``label`` trained with ``seed`` on the synthetic translation: greedy token accuracy, dev curve."""
    cfg = config_of(Config, cfg)
    task = Transduction(cfg.vocab, cfg.min_len, cfg.max_len, modifier=cfg.modifier)
    t = train(_spec(cfg, label), task, cfg.steps, seed, cfg.lr, cfg.batch_size)
    acc = bucket_scores(t.model, task, [(cfg.min_len, cfg.max_len)], cfg.test_sentences)[0]["token"]
    return {"acc": acc, "curve": t.curve, "row": [label, seed, t.parameters, acc, t.train_seconds]}


def train_numbers(cfg: dict, label: str, seed: int) -> dict:
    """Model ``label`` trained with ``seed`` on the numbers corpus: exact match decides, its 1-10 band gates."""
    cfg = config_of(CorpusConfig, cfg)
    r = train_and_score(label, recipe(dict(cfg.data), _spec(cfg, label), cfg.steps, seed, cfg.eval_sentences, cfg.max_tokens,
                                      cfg.lr), cfg.test_limit, LENGTH_BUCKETS)
    bands = [b["score"] for b in r.scores["accuracy_by_length"]]  # exact match % per band (NaN: empty)
    return {"acc": r.scores["accuracy"], "competence": bands[0], "curve": r.curve,  # dev chrF
            "row": [label, seed, r.parameters, r.scores["accuracy"], r.scores["chrf"], *bands, r.train_seconds]}


def time_scores(hidden: int, scores: list, timing_shape: list, timing_rounds: int) -> dict:
    """Seconds per round of each score function's forward + backward (see :func:`score_times`)."""
    return score_times(Config(hidden=hidden, scores=tuple(scores), timing_shape=tuple(timing_shape),
                              timing_rounds=timing_rounds))


def _specs(cfg) -> dict[str, dict]:
    """Label -> model spec: one Luong model per score (GRU, no input feeding), Bahdanau's if asked."""
    common = {"embed_dim": cfg.embed_dim, "hidden": cfg.hidden, "layers": 1, "cell": "gru"}
    specs = {score: {"arch": "luong", "score": score, "input_feed": False, **common} for score in cfg.scores}
    if cfg.bahdanau:
        specs["bahdanau"] = {"arch": "bahdanau", **common}
    return specs


def _spec(cfg, label: str) -> dict:
    """The spec of one label of :func:`_specs` (a score, or "bahdanau")."""
    return _specs(replace(cfg, scores=() if label == "bahdanau" else (label,), bahdanau=label == "bahdanau"))[label]


BANDS = [bucket_label(lo, hi) for lo, hi in LENGTH_BUCKETS]  # English words per source: 1-10, ..., 31+


def _setup(cfg, seeds) -> str:
    if isinstance(cfg, Config):
        return (f"Luong global attention (GRU, hidden {cfg.hidden}, no input feeding) with the {', '.join(cfg.scores)} "
                f"scores{' and Bahdanau (reported beside)' if cfg.bahdanau else ''} on synthetic translation with "
                f"reordering (vocabulary {cfg.vocab}, lengths {cfg.min_len}-{cfg.max_len}), {cfg.steps} updates each, "
                f"seeds {list(seeds)}; greedy token accuracy on {cfg.test_sentences} fixed test sentences. Cost: the "
                f"scores of a (B, T, S) = {cfg.timing_shape} batch, forward + backward, {cfg.timing_rounds} "
                "interleaved rounds.")
    data = dict(cfg.data)
    return (f"English -> German number words (numbers of 1-{data['numbers_max_digits']} digits, "
            f"{data['numbers_min_words']}-{data['numbers_max_words']} English words, "
            f"up to {data['numbers_size']} numbers). Luong global attention (GRU, embeddings {cfg.embed_dim}, hidden "
            f"{cfg.hidden}, no input feeding) with the {', '.join(cfg.scores)} scores"
            f"{' and Bahdanau (reported beside)' if cfg.bahdanau else ''}, {cfg.steps} updates of {cfg.max_tokens} "
            f"tokens each (lr {cfg.lr}), seeds {list(seeds)}; greedy decoding of the test split "
            f"({cfg.test_limit or 'all'} pairs): exact match decides, chrF and exact match per source band beside. "
            f"Cost: the scores of a (B, T, S) = {cfg.timing_shape} batch (hidden {cfg.hidden}), forward + backward, "
            f"{cfg.timing_rounds} interleaved rounds.")


def _columns(cfg) -> list[str]:
    if isinstance(cfg, Config):
        return ["score", "seed", "parameters", "token accuracy", "training s"]
    return ["score", "seed", "parameters", "exact match %", "chrF", *(f"exact % {b}" for b in BANDS), "training s"]


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, _setup(cfg, seeds), profile, to_dict(cfg), seeds=seeds)
    trained = {"acc": {}, "curves": {}, "rows": [], "competence": {}}
    for seed in seeds:
        for label in _specs(cfg):
            r = results[f"{label}-s{seed}"]
            trained["acc"][label, seed], trained["curves"][label, seed] = r["acc"], r["curve"]
            trained["competence"][label, seed] = r.get("competence")
            trained["rows"].append(r["row"])
    if isinstance(cfg, Config):
        trained["competence"] = None
    result.add_table("quality at equal updates", _columns(cfg), trained["rows"], timing=["training s"])
    times = results["time-scores"]
    result.add_table("cost of the score computation (forward + backward)", ["score", "median ms", "min-max ms"],
                     [[s, median_ms(t), range_ms(t)] for s, t in times.items()], timing=["median ms", "min-max ms"])
    return _verdict(result, trained["acc"], trained["curves"], times, cfg, seeds, trained["competence"])


def score_times(cfg: Config) -> dict[str, list[float]]:
    """Seconds per forward + backward of each score function over a (B, T, S) batch of pairs."""
    B, T, S = cfg.timing_shape
    g = torch.Generator().manual_seed(0)
    query = torch.randn(B, T, cfg.hidden, generator=g, requires_grad=True)
    keys = torch.randn(B, S, cfg.hidden, generator=g, requires_grad=True)
    mask = torch.ones(B, S, dtype=torch.bool)
    fns = {}
    for name in cfg.scores:
        scorer = make_score(name, cfg.hidden)

        def step(scorer=scorer):
            weights = scorer.scores(query, scorer.project_keys(keys), mask)  # (B, T, S)
            weights.square().sum().backward()

        fns[name] = step
    return interleaved(fns, torch.device("cpu"), cfg.timing_rounds, warmup=2)


def _verdict(result, acc: dict, curves: dict, times: dict, cfg, seeds, competence: dict | None = None):
    """Gates, then the rule. ``acc``: (score, seed) -> the compared quality; ``competence``:
    what the competence gate reads (default ``acc``; the full profile: exact match on 1-10 words)."""
    competence = acc if competence is None else competence
    words = WORDS[type(cfg)]
    best = max(cfg.scores, key=lambda s: min(competence[s, k] for k in seeds))
    gates = [rules.at_least(f"the task is learnable at this budget: {best} (the best score) translates "
                            f"(min {words['gate']} over seeds)", min(competence[best, k] for k in seeds),
                            cfg.competent)]
    gates += [rules.converged(f"{s} seed {k} trained ({words['curve gate']})", curves[s, k], cfg.converged)
              for s in cfg.scores for k in seeds]
    diffs = [acc[DOT, k] - acc[ADDITIVE, k] for k in seeds]
    lo, hi = rules.bootstrap_interval(diffs)
    close = lo >= -cfg.tolerance  # dot loses at most the tolerance (doing better counts as "as well")
    worse = hi < -cfg.tolerance
    faster = rules.clearly_faster(times[DOT], times[ADDITIVE], cfg.speed_margin)
    slower = not rules.clearly_faster(times[DOT], times[ADDITIVE], 1.0)
    verdict = judge(enough=rules.gates_pass(gates), confirmed=close and faster, refuted=worse or slower)
    ratio = statistics.median(times[ADDITIVE]) / statistics.median(times[DOT])
    result.timing = ["headline", "decided_by"]
    return finish(result, verdict,
                  f"gates: the best score reaches {words['competence']} >= {cfg.competent} in every seed (the task "
                  f"can be learned at this budget), and every score improves on its best earlier {words['curve']} by "
                  f"at most {cfg.converged} in its last quarter of updates (each is trained, not cut short). Confirmed "
                  f"when the bootstrap 95% interval of the paired differences {words['diff']} lies above "
                  f"-{cfg.tolerance} and dot's score computation is at least {cfg.speed_margin}x faster than concat's "
                  f"(medians, with the rounds' quartiles apart); refuted when the interval lies below -{cfg.tolerance} "
                  "or dot is not faster at all.",
                  f"dot - concat {words['unit']} per seed: {', '.join(f'{d:+.3f}' for d in diffs)} (95% interval "
                  f"{lo:+.3f}..{hi:+.3f}); score computation dot {median_ms(times[DOT]):.3g} ms vs concat "
                  f"{median_ms(times[ADDITIVE]):.3g} ms (x{ratio:.1f})",
                  f"dot - concat = {statistics.median(diffs):+.3f} {words['unit']} (median of {len(seeds)} seeds); "
                  f"scores x{ratio:.1f} faster", gates=gates)
