"""C36: the Transformer against attention RNNs in translation, at equal training compute.

The chapter reports the reception of "Attention Is All You Need": "The translation
results are state-of-the-art with much less training time", and concludes that "the
simplest architecture ... worked best". A reproduction can ask the compute-controlled
form of both: given the same training FLOPs, does the Transformer translate at least
as well as the attention RNNs it replaced, and better?

Design: Bahdanau (additive attention, bidirectional LSTM encoder), Luong (general
score, input feeding, LSTM) and a Transformer encoder-decoder of similar size. Each
trains on the same corpus, batches of ``max_tokens`` padded tokens, for as many
updates as the same training-FLOP budget buys it (``core.flops.translator``: matrix
products per target token, x3 for training; the budget is the Transformer's
``steps`` updates), paired seeds. Scored by greedy decoding of the test split: chrF
(quick, numbers corpus English -> German) or BLEU (full, Greek -> English NT). The
wall time each took is reported beside it (equal wall time on one device is not a
budget the ledger trains to: budgets are in updates).

Rule (fixed before the run), with best RNN = the better of Bahdanau and Luong in a seed:
- confirmed when the Transformer's score exceeds the best RNN's by >= ``margin`` in
  every seed;
- refuted when the best RNN's score exceeds the Transformer's by >= ``margin`` in
  every seed;
- inconclusive otherwise. Gates: every model competent (score >= ``competent``, min
  over seeds) and trained (dev curve gained <= ``converged`` over the last quarter).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from seqlab.config import to_dict
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.band_runs import band_scores
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.nt_runs import NT, NUMBERS
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.metrics import LENGTH_BUCKETS, LONG_BUCKETS

CLAIM_ID = "C36"
CLAIM = ("\"The translation results are state-of-the-art with much less training time\" and \"The simplest "
         "architecture—just attention and feedforward layers—worked best\": at equal training FLOPs, the Transformer "
         "against Bahdanau and Luong attention RNNs. Real data: numbers corpus (quick), Greek -> English NT (full).")
TRANSFORMER, RNNS = "transformer", ("bahdanau", "luong")
ARCHS = (*RNNS, TRANSFORMER)


@dataclass(frozen=True)
class Config:
    data: tuple = tuple({**NUMBERS, "numbers_size": 3000}.items())
    d_model: int = 64
    layers: int = 2  # Transformer layers per stack
    heads: int = 4
    embed_dim: int = 32  # RNNs
    hidden: int = 64  # RNNs
    steps: int = 100  # the Transformer's updates; the FLOP budget of every model
    max_tokens: int = 512
    lr: float = 3e-3
    eval_sentences: int = 30
    test_limit: int | None = 120
    long: bool = True
    metric: str = "chrf"
    competent: float = 40.0
    converged: float = 2.0
    margin: float = 2.0


PROFILES = {"quick": Config(),
            "full": Config(data=tuple(NT.items()), d_model=256, layers=3, heads=4, embed_dim=256, hidden=512,
                           steps=6000, max_tokens=4096, lr=1e-3, eval_sentences=200, test_limit=None, long=False,
                           metric="bleu", competent=10.0, converged=1.0, margin=1.0)}
TINY = Config(data=tuple({**NUMBERS, "numbers_size": 300, "numbers_max_words": 24, "numbers_max_digits": 12}.items()),
              d_model=8, layers=1, heads=2, embed_dim=8, hidden=8, steps=4, max_tokens=512, eval_sentences=8,
              test_limit=40, long=False)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def specs(cfg: Config) -> dict[str, dict]:
    rnn = {"embed_dim": cfg.embed_dim, "hidden": cfg.hidden, "layers": 1, "cell": "lstm"}
    return {"bahdanau": {"arch": "bahdanau", **rnn},
            "luong": {"arch": "luong", "score": "general", "input_feed": True, **rnn},
            TRANSFORMER: {"arch": "transformer", "embed_dim": cfg.d_model, "hidden": cfg.d_model,
                          "layers": cfg.layers, "heads": cfg.heads, "ff": 4 * cfg.d_model}}


def per_update(spec: dict, data: dict, max_tokens: int) -> float:
    """Estimated training FLOPs of one update (``core.flops.corpus_translation``)."""
    return flops.corpus_translation(spec, data, 1, max_tokens)


def equal_flop_steps(cfg: Config) -> dict[str, int]:
    """Updates per architecture that spend the Transformer's ``steps`` updates' worth of training FLOPs."""
    data, sp = dict(cfg.data), specs(cfg)
    budget = cfg.steps * per_update(sp[TRANSFORMER], data, cfg.max_tokens)
    return {a: max(1, round(budget / per_update(s, data, cfg.max_tokens))) for a, s in sp.items()}


RULE = ("metric", "competent", "converged", "margin")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (architecture, seed), each with its equal-FLOP number of updates."""
    cfg = PROFILES[check_profile(profile)]
    args = {"cfg": settings(cfg, RULE)}
    steps = equal_flop_steps(cfg)
    data = dict(cfg.data)
    return [Unit(f"{a}-s{s}", "train_model", {**args, "arch": a, "seed": s, "steps": steps[a]}, seed=s,
                 flops=steps[a] * per_update(specs(cfg)[a], data, cfg.max_tokens))
            for s in rules.seeds(profile) for a in ARCHS]


def train_model(cfg: dict, arch: str, seed: int, steps: int) -> dict:
    """``arch`` trained ``steps`` updates with ``seed``; overall test scores and the wall time."""
    cfg = config_of(Config, cfg)
    b = band_scores(arch, dict(cfg.data), specs(cfg)[arch], steps, seed, LONG_BUCKETS if cfg.long else LENGTH_BUCKETS,
                    eval_sentences=cfg.eval_sentences, max_tokens=cfg.max_tokens, lr=cfg.lr, limit=cfg.test_limit)
    return {**b.overall, "curve": b.curve, "seconds": b.seconds, "parameters": b.parameters, "steps": steps}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    data = dict(cfg.data)
    runs = {(a, s): results[f"{a}-s{s}"] for a in ARCHS for s in seeds}
    steps = {a: runs[a, seeds[0]]["steps"] for a in ARCHS}
    result = new_result(CLAIM_ID, CLAIM, (
        f"{data['corpus']} (test split{'' if cfg.test_limit is None else f', first {cfg.test_limit} pairs'}): "
        f"Bahdanau and Luong (general, input feeding) LSTMs (embeddings {cfg.embed_dim}, hidden {cfg.hidden}) and a "
        f"Transformer ({cfg.layers}+{cfg.layers} layers, d_model {cfg.d_model}, {cfg.heads} heads), batches of "
        f"{cfg.max_tokens} tokens, lr {cfg.lr}, equal estimated training FLOPs: "
        + ", ".join(f"{a} {n} updates" for a, n in steps.items())
        + f"; greedy decoding, {cfg.metric} decides; seeds {list(seeds)}."), profile, config(profile), seeds=seeds)
    result.add_table("test scores at equal training FLOPs", ["arch", "seed", "parameters", "updates", "GFLOPs (est.)",
                                                             "BLEU", "chrF", "exact match", "training s"],
                     [[a, s, r["parameters"], r["steps"], r["steps"] * per_update(specs(cfg)[a], data, cfg.max_tokens)
                       / 1e9, r["bleu"], r["chrf"], r["exact"], r["seconds"]] for (a, s), r in runs.items()],
                     timing=["training s"])
    secs = {a: statistics.median(runs[a, s]["seconds"] for s in seeds) for a in ARCHS}
    result.add_table("wall time on this device (reported, not judged)", ["arch", "median training s",
                                                                          f"{cfg.metric} per training minute"],
                     [[a, secs[a], statistics.median(runs[a, s][cfg.metric] for s in seeds) / (secs[a] / 60)]
                      for a in ARCHS], timing=["median training s", f"{cfg.metric} per training minute"])
    score = {key: r[cfg.metric] for key, r in runs.items()}
    gates = [rules.at_least(f"{a} competent (min test {cfg.metric} over seeds)", min(score[a, s] for s in seeds),
                            cfg.competent) for a in ARCHS]
    gates += [rules.converged(f"{a} seed {s} trained (dev curve)", runs[a, s]["curve"], cfg.converged)
              for a in ARCHS for s in seeds]
    r = rule([score[TRANSFORMER, s] for s in seeds], [max(score[a, s] for a in RNNS) for s in seeds], cfg.margin)
    return _verdict(result, r, cfg, gates)


def rule(transformer: list[float], best_rnn: list[float], margin: float) -> dict:
    """The rule on measured scores, per seed (paired): the Transformer's and the better RNN's."""
    diffs = [t - b for t, b in zip(transformer, best_rnn)]
    return {"diffs": diffs, "margin": min(diffs) - margin,
            "confirmed": all(d >= margin for d in diffs), "refuted": all(-d >= margin for d in diffs)}


def _verdict(result, r: dict, cfg: Config, gates):
    verdict = judge(enough=rules.gates_pass(gates), confirmed=r["confirmed"], refuted=r["refuted"])
    worst = min(r["diffs"])
    result.add_table("margin of the deciding numbers", ["quantity", "value", "threshold", "margin",
                                                        "margin (fraction)"],
                     [[f"Transformer - best RNN {cfg.metric}, worst seed", worst, cfg.margin, worst - cfg.margin,
                       (worst - cfg.margin) / cfg.margin]])
    return finish(result, verdict,
                  f"At equal estimated training FLOPs. Gates: every model scores >= {cfg.competent} {cfg.metric} on "
                  f"the test split in every seed and its dev curve gains <= {cfg.converged} over the last quarter. "
                  f"Confirmed when the Transformer beats the better of Bahdanau and Luong by >= {cfg.margin} "
                  f"{cfg.metric} in every seed; refuted when the better RNN beats the Transformer by >= {cfg.margin} "
                  "in every seed.",
                  f"Transformer - best RNN {cfg.metric} per seed: " + ", ".join(f"{d:+.2f}" for d in r["diffs"])
                  + f" (worst seed {worst - cfg.margin:+.2f} from the {cfg.margin} threshold, "
                  f"{(worst - cfg.margin) / cfg.margin:+.0%})",
                  f"Transformer - best attention RNN: {statistics.median(r['diffs']):+.2f} {cfg.metric} at equal "
                  "FLOPs (median of seeds)", gates=gates,
                  margins=[rules.Margin(f"Transformer - best RNN {cfg.metric}, worst seed", worst, cfg.margin,
                                        cfg.metric, noise=rules.seed_noise(r["diffs"]))])
