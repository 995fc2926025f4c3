"""C14: Luong's dot score works nearly as well as the additive score, and is faster.

Two parts, each decided on its own terms:

- Quality: the same Luong model (global attention, no input feeding) with the dot
  h_t^T h_s and concat (additive) v^T tanh(W [h_t; h_s]) scores (and, in the full
  profile, general h_t^T W h_s),
  trained the same number of updates on paired seeds (synthetic translation with
  reordering, ``seqlab.data.transduction``), scored by greedy token accuracy. "Nearly
  as well" is a paired difference dot - concat whose bootstrap interval lies
  above -tolerance (dot may do better; it may not do worse by more than the tolerance).
- Cost: the score computation alone (scores for every (target, source) pair of a
  batch, forward + backward), dot vs concat, timed in interleaved rounds; "faster" is a
  ratio of medians above a stated margin with the rounds apart (upper quartile of dot
  below the lower quartile of concat).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import torch

from seqlab.config import to_dict
from seqlab.data.transduction import Transduction
from seqlab.experiments import rules
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.timing import interleaved, median_ms, range_ms
from seqlab.experiments.transduction_runs import bucket_scores, train
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
    scores: tuple[str, ...] = ("dot", "concat")  # the two the claim compares; full adds general
    bahdanau: bool = False  # full: Bahdanau's model (additive score, its own decoder) beside, reported
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


PROFILES = {"quick": Config(),
            "full": Config(scores=("dot", "general", "concat"), bahdanau=True, vocab=32, max_len=40, hidden=256, steps=3000,
                           test_sentences=500, timing_shape=(64, 40, 40), timing_rounds=30)}
TINY = Config(scores=("dot", "general", "concat"), bahdanau=True, vocab=6, min_len=2, max_len=5, hidden=8,
              embed_dim=4, steps=8, batch_size=8, test_sentences=4, timing_shape=(2, 3, 4), timing_rounds=3)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def prepare(profile: str = "quick") -> dict:
    """The untimed part: every model trained and scored (token accuracy, dev curve, table rows).

    The runner runs it beside the training claims; ``run`` then only times and decides.
    """
    cfg = PROFILES[check_profile(profile)]
    task = Transduction(cfg.vocab, cfg.min_len, cfg.max_len, modifier=cfg.modifier)
    acc, curves, rows = {}, {}, []
    common = {"embed_dim": cfg.embed_dim, "hidden": cfg.hidden, "layers": 1, "cell": "gru"}
    specs = {score: {"arch": "luong", "score": score, "input_feed": False, **common} for score in cfg.scores}
    if cfg.bahdanau:
        specs["bahdanau"] = {"arch": "bahdanau", **common}
    for seed in rules.seeds(profile):
        for score, spec in specs.items():
            t = train(spec, task, cfg.steps, seed, cfg.lr, cfg.batch_size)
            acc[score, seed] = bucket_scores(t.model, task, [(cfg.min_len, cfg.max_len)], cfg.test_sentences)[0]["token"]
            curves[score, seed] = t.curve
            rows.append([score, seed, t.parameters, acc[score, seed], t.train_seconds])
    return {"acc": acc, "curves": curves, "rows": rows}


def run(profile: str = "quick", prepared: dict | None = None):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    result = new_result(CLAIM_ID, CLAIM, (
        f"Luong global attention (GRU, hidden {cfg.hidden}, no input feeding) with the {', '.join(cfg.scores)} "
        f"scores{' and Bahdanau (reported beside)' if cfg.bahdanau else ''} on synthetic translation with "
        f"reordering (vocabulary {cfg.vocab}, lengths {cfg.min_len}-{cfg.max_len}), {cfg.steps} updates each, seeds "
        f"{list(seeds)}; greedy token accuracy on {cfg.test_sentences} fixed test sentences. Cost: the scores of a "
        f"(B, T, S) = {cfg.timing_shape} batch, forward + backward, {cfg.timing_rounds} interleaved rounds."),
        profile, to_dict(cfg), seeds=seeds)
    trained = prepared if prepared is not None else prepare(profile)
    result.add_table("quality at equal updates", ["score", "seed", "parameters", "token accuracy", "training s"],
                     trained["rows"], timing=["training s"])
    times = score_times(cfg)
    result.add_table("cost of the score computation (forward + backward)", ["score", "median ms", "min-max ms"],
                     [[s, median_ms(t), range_ms(t)] for s, t in times.items()], timing=["median ms", "min-max ms"])
    return _verdict(result, trained["acc"], trained["curves"], times, cfg, seeds)


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


def _verdict(result, acc: dict, curves: dict, times: dict, cfg: Config, seeds):
    best = max(cfg.scores, key=lambda s: min(acc[s, k] for k in seeds))
    gates = [rules.at_least(f"the task is learnable at this budget: {best} (the best score) translates "
                            "(min token accuracy over seeds)", min(acc[best, k] for k in seeds), cfg.competent)]
    gates += [rules.converged(f"{s} seed {k} trained (dev token accuracy)", curves[s, k], cfg.converged)
              for s in cfg.scores for k in seeds]
    diffs = [acc[DOT, k] - acc[ADDITIVE, k] for k in seeds]
    lo, hi = rules.bootstrap_interval(diffs)
    close = lo >= -cfg.tolerance  # dot loses at most the tolerance (doing better counts as "as well")
    worse = hi < -cfg.tolerance
    faster = rules.clearly_faster(times[DOT], times[ADDITIVE], cfg.speed_margin)
    slower = not rules.clearly_faster(times[DOT], times[ADDITIVE], 1.0)
    verdict = decide(enough=rules.gates_pass(gates), confirmed=close and faster, refuted=worse or slower)
    ratio = statistics.median(times[ADDITIVE]) / statistics.median(times[DOT])
    result.timing = ["headline", "decided_by"]
    return finish(result, verdict,
                  f"gates: the best score reaches greedy token accuracy >= {cfg.competent} in every seed (the task "
                  f"can be learned at this budget), and every score improves on its best earlier dev accuracy by at "
                  f"most {cfg.converged} in its last quarter of updates (each is trained, not cut short). Confirmed when the bootstrap 95% "
                  f"interval of the paired differences dot - concat lies above -{cfg.tolerance} and dot's "
                  f"score computation is at least {cfg.speed_margin}x faster than concat's (medians, with the "
                  f"rounds' quartiles apart); refuted when the interval lies below -{cfg.tolerance} or dot is not faster at all.",
                  f"dot - concat token accuracy per seed: {', '.join(f'{d:+.3f}' for d in diffs)} (95% interval "
                  f"{lo:+.3f}..{hi:+.3f}); score computation dot {median_ms(times[DOT]):.3g} ms vs concat "
                  f"{median_ms(times[ADDITIVE]):.3g} ms (x{ratio:.1f})",
                  f"dot - concat = {statistics.median(diffs):+.3f} token accuracy (median of {len(seeds)} seeds); "
                  f"scores x{ratio:.1f} faster", gates=gates)
