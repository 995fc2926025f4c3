"""C31: a GRU often performs about as well as an LSTM; the LSTM may be more flexible on very long routes.

Two measurements, both at equal parameters and equal updates, on paired seeds:

- **Real text** (decides "comparable performance"). Character language models on the
  BSB English text (``seqlab.data.lm.CorpusLM``, the LM corpus): a 1-layer LSTM of
  width H and a 1-layer GRU whose width is chosen so that the whole model (embedding,
  recurrent layer, output layer) has the LSTM's parameter count (``match_width``).
  Both train the same number of updates on the same batches; the score is held-out
  bits per character on the test text (loss * tokens / characters / ln 2).
- **The longest route of the chapter's guide** (decides the guidance). Delayed recall
  (``CopyMemory``: one symbol of 8, recalled after a long delay), the same two
  architectures at equal parameters, trained to competence (running accuracy >= 0.9,
  ``core.memory_runs``) within a budget; steps to competence compare how easily each
  carries one symbol down a long route (budget + 1 = never).

Rule (fixed before the run):

- comparable: the paired differences d_s = bpc_GRU - bpc_LSTM lie inside [-TOL, +TOL]
  (over >= 5 seeds their 95% bootstrap interval, over fewer every one of them:
  ``rules.paired``; TOL in bits per character, also given as a fraction of the LSTM's
  mean bpc); not comparable: the interval lies wholly outside it;
- the long route favours the LSTM in a seed when GRU steps >= ROUTE_RATIO x LSTM steps
  (and the GRU when the reverse holds); the guidance holds when it favours the LSTM in
  a majority of seeds and the GRU in none;
- confirmed when comparable and the guidance holds; refuted when not comparable, or the
  route favours the GRU in a majority of seeds; inconclusive otherwise;
- gates: both LMs beat the unigram-free chance level by a floor (competent), their
  training loss has plateaued (block means, last quarter), and on the route at least one
  architecture learns the task in every seed (else the budget tells nothing).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from seqlab.bench.models import count_params, match_width
from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.data.tasks import CopyMemory
from seqlab.experiments.core import rules
from seqlab.experiments.core import flops
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.memory_runs import train as train_to_competence
from seqlab.experiments.core.training import fit
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.experiments.limitations.context_ablation import block_means

CLAIM_ID = "C31"
CLAIM = ("The chapter on GRUs: \"Often comparable performance\" to the LSTM, while GRUs are \"sometimes a bit less "
         "flexible on very long routes\" (the LSTM-vs-GRU guide: pick the LSTM for long context). Real data: "
         "character LMs on the BSB English text; controlled task: delayed recall over a long delay.")
LSTM, GRU = "lstm", "gru"
FORGET_BIAS = 1.0  # the LSTM's forget-gate bias: the chapter's recommendation, as in C4 and C25


@dataclass(frozen=True)
class Config:
    corpus: str = "bsb_en"
    hidden: int = 64  # LSTM width; the GRU's is matched on parameters
    embed_dim: int = 32
    seq_len: int = 32
    batch_size: int = 16
    steps: int = 600
    lr: float = 6e-3
    schedule: str = "cosine"  # the learning rate annealed over the budget, so a fixed budget ends settled
    eval_chars: int = 20_000  # test characters scored
    tol: float = 0.1  # bits per character: |GRU - LSTM| inside this is "comparable"
    competent_bpc: float = 3.6  # both LMs below this many bits per character (uniform over the alphabet: ~8.4)
    converged: float = 0.05  # training-loss gain allowed over the last quarter, relative to the final loss
    delay: int = 60  # the long route: steps between the symbol and its recall
    route_hidden: int = 32
    route_budget: int = 600
    route_batch: int = 32
    route_lr: float = 0.01
    route_ratio: float = 1.25  # steps to competence this much larger = the other architecture is favoured


PROFILES = {"quick": Config(),
            "full": Config(hidden=512, embed_dim=64, seq_len=128, batch_size=32, steps=6000, lr=3e-3,
                           eval_chars=300_000, tol=0.05, competent_bpc=2.2, converged=0.02, delay=300,
                           route_hidden=64, route_budget=4000, route_batch=64, route_lr=3e-3)}
TINY = Config(hidden=8, embed_dim=4, seq_len=8, batch_size=2, steps=8, eval_chars=1000, delay=4, route_hidden=4,
              route_budget=8, route_batch=4)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def matched(task, hidden: int, embed_dim: int) -> dict[str, ModelConfig]:
    """LSTM of width ``hidden`` and the GRU whose whole model has (closest to) its parameter count."""
    lstm = ModelConfig(arch=LSTM, hidden_size=hidden, embed_dim=embed_dim, forget_bias=FORGET_BIAS)
    target = count_params(build_model(lstm, task))
    width = match_width(lambda w: build_model(ModelConfig(arch=GRU, hidden_size=w, embed_dim=embed_dim), task),
                        target, widths=range(hidden, 2 * hidden + 1))
    return {LSTM: lstm, GRU: ModelConfig(arch=GRU, hidden_size=width, embed_dim=embed_dim)}


def lm_bpc(spec: ModelConfig, task, cfg: Config, seed: int) -> tuple[float, list[float], int]:
    """Train one char LM; (test bits per character, training-loss block means, parameters)."""
    from seqlab.train import TrainConfig, Trainer

    f = fit(spec, task, cfg.steps, lr=cfg.lr, seed=seed, batch_size=cfg.batch_size, clip_norm=1.0, schedule=cfg.schedule)
    evaluator = Trainer(f.model, task, TrainConfig(steps=1, batch_size=cfg.batch_size, progress=False))
    loss = evaluator.evaluate(batches=task.eval_batches(cfg.batch_size, "test"))["loss"]
    return task.bits_per_char(loss, "test"), block_means(f.curve.loss), count_params(f.model)


def _lm_task(cfg: Config):
    from seqlab.data.lm import CorpusLM

    return CorpusLM(corpus=cfg.corpus, tokenizer="char", seq_len=cfg.seq_len, eval_chars=cfg.eval_chars)


RULE = ("tol", "competent_bpc", "converged", "route_ratio")


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (architecture, seed) for the LMs, and one per (architecture, seed) on the route."""
    cfg = PROFILES[check_profile(profile)]
    args = {"cfg": settings(cfg, RULE)}
    lm_flops = flops.training(flops.task_model(LSTM, cfg.embed_dim, cfg.hidden, 100, cfg.seq_len),
                              cfg.batch_size * cfg.seq_len, cfg.steps)
    route_flops = flops.training(flops.task_model(LSTM, 16, cfg.route_hidden, 10, cfg.delay + 2),
                                 cfg.route_batch * (cfg.delay + 2), cfg.route_budget)
    return ([Unit(f"lm-{a}-s{s}", "train_lm", {**args, "arch": a, "seed": s}, seed=s, flops=lm_flops)
             for s in rules.seeds(profile) for a in (LSTM, GRU)]
            + [Unit(f"route-{a}-s{s}", "train_route", {**args, "arch": a, "seed": s}, seed=s, flops=route_flops)
               for s in rules.seeds(profile) for a in (LSTM, GRU)])


def train_lm(cfg: dict, arch: str, seed: int) -> dict:
    """The char LM ``arch`` (parameters matched to the LSTM's) trained with ``seed``; its test bpc."""
    cfg = config_of(Config, cfg)
    task = _lm_task(cfg)
    spec = matched(task, cfg.hidden, cfg.embed_dim)[arch]
    bpc, curve, params = lm_bpc(spec, task, cfg, seed)
    return {"bpc": bpc, "curve": curve, "params": params, "hidden": spec.hidden_size}


def train_route(cfg: dict, arch: str, seed: int) -> dict:
    """``arch`` (parameters matched) trained to competence on delayed recall after ``cfg.delay`` steps."""
    cfg = config_of(Config, cfg)
    route = CopyMemory(cfg.delay, 1, 8)
    spec = matched(route, cfg.route_hidden, 16)[arch]
    r = train_to_competence(spec, route, cfg.route_budget, seed=seed, lr=cfg.route_lr, batch_size=cfg.route_batch,
                            threshold=0.9)
    return {"steps": r.steps, "competent": r.competent, "held_out": r.held_out, "hidden": spec.hidden_size}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    lm = {(a, s): results[f"lm-{a}-s{s}"] for a in (LSTM, GRU) for s in seeds}
    route = {(a, s): results[f"route-{a}-s{s}"] for a in (LSTM, GRU) for s in seeds}
    result = new_result(CLAIM_ID, CLAIM, (
        f"Character LMs on {cfg.corpus} (test split, first {cfg.eval_chars:,} characters scored): LSTM (forget-gate "
        f"bias {FORGET_BIAS:g} here and on the route) {cfg.hidden} vs GRU {lm[GRU, seeds[0]]['hidden']} (equal "
        f"parameters), embeddings {cfg.embed_dim}, {cfg.steps} updates of {cfg.batch_size} x {cfg.seq_len} "
        f"characters, Adam lr {cfg.lr}, clip 1.0. Long route: delayed recall of one symbol of 8 after {cfg.delay} "
        f"steps, LSTM {cfg.route_hidden} vs GRU {route[GRU, seeds[0]]['hidden']} (equal parameters), at most "
        f"{cfg.route_budget} updates of {cfg.route_batch}, stopped at competence (running accuracy >= 0.9). Paired "
        f"seeds {list(seeds)}."), profile, config(profile), seeds=seeds)
    result.add_table("character LMs on the test text: bits per character", ["seed", "LSTM bpc", "GRU bpc",
                                                                             "GRU - LSTM"],
                     [[s, lm[LSTM, s]["bpc"], lm[GRU, s]["bpc"], lm[GRU, s]["bpc"] - lm[LSTM, s]["bpc"]]
                      for s in seeds])
    result.add_table(f"long route (delay {cfg.delay}): updates to competence (budget + 1 = never)",
                     ["seed", "LSTM steps", "GRU steps", "LSTM held-out accuracy", "GRU held-out accuracy"],
                     [[s, route[LSTM, s]["steps"], route[GRU, s]["steps"], route[LSTM, s]["held_out"],
                       route[GRU, s]["held_out"]] for s in seeds])
    result.notes.append(f"parameters: LSTM LM {lm[LSTM, seeds[0]]['params']:,}, GRU LM {lm[GRU, seeds[0]]['params']:,}")
    bpc = {a: [lm[a, s]["bpc"] for s in seeds] for a in (LSTM, GRU)}
    steps = {a: [route[a, s]["steps"] for s in seeds] for a in (LSTM, GRU)}
    learned = [route[LSTM, s]["competent"] or route[GRU, s]["competent"] for s in seeds]
    gates = [rules.at_most(f"{a.upper()} LM competent (worst test bpc over seeds)", max(bpc[a]), cfg.competent_bpc)
             for a in (LSTM, GRU)]
    gates += [rules.converged(f"{a.upper()} LM seed {s} trained (training loss, block means)", lm[a, s]["curve"],
                              cfg.converged * lm[a, s]["curve"][-1], higher_is_better=False)
              for a in (LSTM, GRU) for s in seeds]
    gates.append(rules.at_least("long route learned by LSTM or GRU (seeds)", rules.count(learned), len(seeds)))
    return _verdict(result, rule(bpc, steps, cfg), cfg, gates)


def rule(bpc: dict, steps: dict, cfg: Config) -> dict:
    """The rule on measured numbers: ``bpc`` and ``steps`` map "lstm"/"gru" to per-seed lists (paired)."""
    diffs = [g - l for g, l in zip(bpc[GRU], bpc[LSTM])]
    paired = rules.paired(diffs)  # bootstrap interval over >= 5 seeds, else the range (count rule)
    lo, hi = paired.low, paired.high
    comparable = -cfg.tol <= lo and hi <= cfg.tol
    apart = lo > cfg.tol or hi < -cfg.tol
    n = len(diffs)
    lstm_wins = rules.count(g >= cfg.route_ratio * l for g, l in zip(steps[GRU], steps[LSTM]))
    gru_wins = rules.count(l >= cfg.route_ratio * g for g, l in zip(steps[GRU], steps[LSTM]))
    guidance = lstm_wins > n / 2 and gru_wins == 0
    lstm_mean = statistics.mean(bpc[LSTM])
    margin = cfg.tol - max(abs(lo), abs(hi))  # > 0: inside the band by this much
    return {"diffs": diffs, "interval": (lo, hi), "method": paired.method, "comparable": comparable, "apart": apart,
            "lstm_wins": lstm_wins,
            "gru_wins": gru_wins, "guidance": guidance, "margin": margin,
            "margin_fraction": margin / lstm_mean if lstm_mean else math.nan,
            "confirmed": comparable and guidance, "refuted": apart or gru_wins > n / 2}


def _verdict(result, r: dict, cfg: Config, gates):
    verdict = judge(enough=rules.gates_pass(gates), confirmed=r["confirmed"], refuted=r["refuted"])
    lo, hi = r["interval"]
    n = len(r["diffs"])
    result.add_table("margin of the deciding numbers", ["quantity", "value", "threshold", "margin", "margin (fraction)"],
                     [[f"GRU - LSTM bpc ({r['method']}), farthest end from 0", max(abs(lo), abs(hi)), cfg.tol,
                       r["margin"], r["margin_fraction"]],
                      ["seeds where the long route favours the LSTM", r["lstm_wins"], math.floor(n / 2) + 1,
                       r["lstm_wins"] - (math.floor(n / 2) + 1), (r["lstm_wins"] - (math.floor(n / 2) + 1)) / n]])
    return finish(result, verdict,
                  f"Gates: both LMs reach test bpc <= {cfg.competent_bpc} in every seed and plateau (training loss "
                  f"gained <= {cfg.converged:.0%} of the final loss over the last quarter); on the route, LSTM or GRU "
                  f"is competent in every seed. Comparable: the paired GRU - LSTM "
                  f"bpc lies inside +-{cfg.tol}; not comparable: wholly outside. The route favours an architecture "
                  f"in a seed when the other needs >= {cfg.route_ratio}x its updates to competence. Confirmed when "
                  "comparable and the route favours the LSTM in a majority of seeds and the GRU in none; refuted "
                  "when not comparable or the route favours the GRU in a majority of seeds.",
                  f"GRU - LSTM bpc per seed {', '.join(f'{d:+.3f}' for d in r['diffs'])}, interval "
                  f"[{lo:+.3f}, {hi:+.3f}] against +-{cfg.tol} (margin {r['margin']:+.3f} bpc, "
                  f"{r['margin_fraction']:+.1%} of the LSTM's bpc); long route favours the LSTM in {r['lstm_wins']}/{n} "
                  f"seeds, the GRU in {r['gru_wins']}/{n}",
                  f"GRU - LSTM {np.mean(r['diffs']):+.3f} bpc; long route: LSTM ahead in {r['lstm_wins']}/{n} seeds",
                  gates=gates,
                  margins=[rules.Margin(f"GRU - LSTM bpc ({r['method']}), farthest end from 0", max(abs(lo), abs(hi)),
                                        cfg.tol, "bpc", noise=rules.seed_noise(r["diffs"])),
                           rules.Margin("seeds where the long route favours the LSTM", r["lstm_wins"],
                                        math.floor(n / 2) + 0.5, "seeds")])
