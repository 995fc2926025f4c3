"""C5: clipping the gradient norm tames exploding gradients: runs that blow up without it learn with it.

Task: ``DelayedEcho`` (emit the token seen ``delay`` steps ago; 4 symbols, chance ln 4 =
1.386 nats): a real memory signal that a vanilla ReLU RNN learns in a few hundred plain-SGD
updates from a sane init (W_hh = orthogonal, scale 1). From W_hh = ``large`` x orthogonal
the state and the backward pass grow by about that factor per step, the first gradients
are thousands of times those at the sane init, and one unclipped SGD step throws the
weights to NaN. Each (scale, seed) trains twice from the same init on the same batches:
without clipping and with the global gradient norm clipped to ``clip`` (the chapter's 1.0).

Rule (fixed before the run; ``competent``, ``share`` are fields of Config):
"learned" = held-out loss <= competent x chance (finite). "blew up" = NaN/inf, or held-out
loss >= chance (no better than guessing). Per seed at the large scale: "rescued" = the
unclipped run did not learn and the clipped run learned; "not tamed" = both blew up.
With n paired seeds and k = ceil(share x n): confirmed when rescued in >= k seeds; refuted
when not tamed in >= k seeds (clipping left the blow-up as it was); anything else (clipped
runs finite but short of competence, mixed seeds) is inconclusive. Gates: >= 5 paired seeds;
the task is learnable at the sane init (unclipped, learned in >= k seeds), so a clipped failure
at the large scale is a failure of clipping, not of the task or the budget; and the gradients
do explode at the large scale (the smallest unclipped peak gradient norm over seeds is >=
``explode`` x the median peak at the sane init).

Quick: 5 seeds, scales 1 (sane) and 2.5, 300 updates at T = 20 (~15 CPU-seconds). Full adds
seeds (10, k = 8), updates (600) and the reported-only scales 1.5, 2 and 3 (the rule still
reads the sane and the large one); about 1.5 minutes on one CPU core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.probe_tasks import DelayedEcho
from seqlab.experiments.core.training import fit, score
from seqlab.experiments.core.units import Unit, config_of, settings

CLAIM_ID = "C5"
CLAIM = ('The chapter: "Gradient clipping (e.g., clip norm to 1.0), [...] help tame exploding or vanishing '
         'gradients" (tested for exploding gradients: from recurrent inits large enough that unclipped SGD '
         "blows up, clipping the global gradient norm to 1.0 lets the same RNN learn).")


@dataclass(frozen=True)
class Config:
    length: int = 20
    delay: int = 2
    alphabet: int = 4
    hidden: int = 32
    embed_dim: int = 16
    sane: float = 1.0  # W_hh = sane x orthogonal: the task must be learnable from here
    large: float = 2.5  # the scale the rule decides at
    extra: tuple[float, ...] = ()  # reported only
    seeds: int = 5
    steps: int = 300
    batch_size: int = 32
    lr: float = 0.2
    clip: float = 1.0
    test_batches: int = 4  # x 64 held-out sequences
    competent: float = 0.25  # learned: held-out loss <= this x chance
    share: float = 0.8  # k = ceil(share x seeds): the count rule
    explode: float = 100.0  # gate: large-scale peak gradient >= this x the sane one
    min_seeds: int = 5


PROFILES = {"quick": Config(), "full": Config(seeds=10, steps=600, extra=(1.5, 2.0, 3.0))}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(length=8, hidden=8, embed_dim=8, seeds=2, steps=10, test_batches=1)
RULE = ("competent", "share", "explode", "min_seeds", "extra", "seeds", "sane", "large")


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def scales(cfg: Config) -> list[float]:
    return sorted({cfg.sane, cfg.large, *cfg.extra})


def _key(scale: float, clip: float | None, seed: int) -> str:
    return f"scale{scale:g}-" + ("noclip" if clip is None else f"clip{clip:g}") + f"-s{seed}"


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (init scale, clipping, seed): one training run."""
    cfg = PROFILES[check_profile(profile)]
    cost = flops.training(flops.task_model("rnn_relu", cfg.embed_dim, cfg.hidden, 1, cfg.length),
                          cfg.batch_size * cfg.length, cfg.steps)
    return [Unit(_key(scale, clip, seed), "train_run",
                 {"cfg": settings(cfg, RULE), "scale": scale, "clip": clip, "seed": seed}, seed=seed, flops=cost)
            for seed in range(cfg.seeds) for scale in scales(cfg) for clip in (None, cfg.clip)]


def train_run(cfg: dict, scale: float, clip: float | None, seed: int) -> dict:
    """A ReLU RNN from W_hh = scale x orthogonal, plain SGD (gradient norm clipped to ``clip``); held-out scores."""
    cfg = config_of(Config, cfg)
    task = DelayedEcho(cfg.delay, cfg.length, cfg.alphabet)
    spec = ModelConfig(arch="rnn_relu", hidden_size=cfg.hidden, init="orthogonal", init_scale=scale,
                       embed_dim=cfg.embed_dim)
    f = fit(spec, task, cfg.steps, lr=cfg.lr, optimizer="sgd", clip_norm=clip, seed=seed, batch_size=cfg.batch_size)
    held = {"loss": math.nan, "accuracy": math.nan}
    if f.diverged_at is None:
        held = score(f.model, task, batches=cfg.test_batches)
        if not math.isfinite(held["loss"]):
            held = {"loss": math.nan, "accuracy": math.nan}
    grads = np.asarray(f.curve.grad_norm, float)  # (steps,) before clipping
    finite = grads[np.isfinite(grads)]
    # no finite gradient at all: the very first step was already non-finite (an explosion, by definition)
    peak = float(finite.max()) if finite.size else (math.inf if f.diverged_at is not None else math.nan)
    return {"loss": held["loss"], "accuracy": held["accuracy"], "diverged_at": f.diverged_at, "peak_grad": peak,
            "first_loss": f.curve.loss[0] if f.curve.loss else math.nan, "curve": f.curve.loss}


def learned(loss: float, chance: float, competent: float) -> bool:
    return bool(math.isfinite(loss) and loss <= competent * chance)


def blew_up(loss: float, chance: float) -> bool:
    return bool(not math.isfinite(loss) or loss >= chance)


def rule(plain: list[float], clipped: list[float], chance: float, competent: float, share: float) -> dict:
    """The count rule over paired seeds at the large scale (held-out losses, NaN = diverged)."""
    n = len(plain)
    k = math.ceil(share * n)
    rescued = [not learned(p, chance, competent) and learned(c, chance, competent) for p, c in zip(plain, clipped)]
    untamed = [blew_up(p, chance) and blew_up(c, chance) for p, c in zip(plain, clipped)]
    return {"k": k, "n": n, "rescued": rules.count(rescued), "untamed": rules.count(untamed),
            "confirmed": rules.count(rescued) >= k, "refuted": rules.count(untamed) >= k}


def gates(cfg: Config, chance: float, sane_losses: list[float], sane_peaks: list[float],
          large_peaks: list[float]) -> list[rules.Gate]:
    k = math.ceil(cfg.share * len(sane_losses))
    ratio = min(large_peaks) / float(np.median(sane_peaks)) if not any(map(math.isnan, large_peaks)) else math.nan
    return [rules.at_least("paired seeds", len(sane_losses), cfg.min_seeds),
            rules.at_least(f"the task is learnable at the sane init (unclipped runs at scale {cfg.sane:g} with "
                           f"held-out loss <= {cfg.competent:g} x chance; need {k})",
                           rules.count(learned(x, chance, cfg.competent) for x in sane_losses), k),
            rules.at_least(f"gradients explode at scale {cfg.large:g} (smallest unclipped peak gradient norm / "
                           f"median peak at scale {cfg.sane:g})", ratio, cfg.explode)]


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    chance = DelayedEcho(cfg.delay, cfg.length, cfg.alphabet).chance_loss
    seeds = list(range(cfg.seeds))
    result = new_result(CLAIM_ID, CLAIM, (
        f"ReLU RNN (hidden {cfg.hidden}) on the delayed echo (emit the token seen {cfg.delay} steps ago, "
        f"{cfg.alphabet} symbols, T = {cfg.length}, chance {chance:.3f} nats), plain SGD lr {cfg.lr}, {cfg.steps} "
        f"batches of {cfg.batch_size}, W_hh = scale x orthogonal, scales {scales(cfg)}; each (scale, seed) without "
        f"clipping and with the global gradient norm clipped to {cfg.clip}, same init and batches; seeds {seeds}. "
        f"Held-out loss on {cfg.test_batches * 64} sequences; gradient norms before clipping."),
        profile, config(profile), seeds=seeds)
    runs = {(sc, c, s): results[_key(sc, c, s)] for sc in scales(cfg) for c in (None, cfg.clip) for s in seeds}
    rows = [[sc, "none" if c is None else c, s, r["diverged_at"] or "", r["first_loss"], r["peak_grad"], r["loss"],
             r["loss"] / chance, r["accuracy"], "learned" if learned(r["loss"], chance, cfg.competent)
             else "blew up" if blew_up(r["loss"], chance) else "partial"] for (sc, c, s), r in runs.items()]
    result.add_table(f"runs per scale, clipping and seed (learned: held-out loss <= {cfg.competent:g} x chance; "
                     "blew up: NaN or >= chance)", ["init scale", "clip norm", "seed", "NaN at step", "first loss",
                                                   "peak grad norm", "held-out loss", "loss / chance", "accuracy",
                                                   "outcome"], rows)
    curves = {f"scale {sc:g}, " + ("no clipping" if c is None else f"clip {c:g}"):
              (np.arange(1, len(runs[sc, c, 0]["curve"]) + 1), runs[sc, c, 0]["curve"])
              for sc in (cfg.sane, cfg.large) for c in (None, cfg.clip)}
    result.add_figure("loss_curves", "Training loss of seed 0 at the sane and the large scale, with and without "
                      "clipping (log scale; a curve that stops is a run that went NaN).",
                      line_plot(curves, "loss curves", "step", "cross-entropy", logy=True))
    plain = [runs[cfg.large, None, s]["loss"] for s in seeds]
    clipped = [runs[cfg.large, cfg.clip, s]["loss"] for s in seeds]
    g = gates(cfg, chance, [runs[cfg.sane, None, s]["loss"] for s in seeds],
              [runs[cfg.sane, None, s]["peak_grad"] for s in seeds],
              [runs[cfg.large, None, s]["peak_grad"] for s in seeds])
    return _verdict(result, cfg, chance, plain, clipped, g)


def _verdict(result, cfg: Config, chance: float, plain: list[float], clipped: list[float], gates_: list):
    r = rule(plain, clipped, chance, cfg.competent, cfg.share)
    verdict = judge(enough=rules.gates_pass(gates_), confirmed=r["confirmed"], refuted=r["refuted"])
    norm = sorted(c / chance if math.isfinite(c) else math.inf for c in clipped)
    kth = norm[r["k"] - 1] if r["k"] <= len(norm) else math.nan  # the k-th best clipped run decides "learned in k"
    finite = [x for x in norm if math.isfinite(x)]
    fmt = lambda xs: ", ".join("NaN" if not math.isfinite(x) else f"{x:.3g}" for x in xs)  # noqa: E731
    margins = [rules.Margin("seeds rescued by clipping (count rule)", r["rescued"], r["k"] - 0.5, "seeds"),
               rules.Margin(f"clipped held-out loss / chance, {r['k']}-th best seed", kth, cfg.competent,
                            "x chance", noise=rules.seed_noise(finite) if len(finite) > 1 else 0.0)]
    if r["refuted"]:
        margins.append(rules.Margin("seeds where clipping did not tame the blow-up", r["untamed"], r["k"] - 0.5,
                                    "seeds"))
    return finish(result, verdict,
                  f"at scale {cfg.large:g}, per paired seed: rescued = the unclipped run did not learn and the clipped "
                  f"run learned (held-out loss <= {cfg.competent:g} x chance); not tamed = both blew up (NaN or "
                  f">= chance). Confirmed when rescued in >= {r['k']} of {r['n']} seeds; refuted when not tamed in >= "
                  f"{r['k']} of {r['n']}; otherwise (clipped runs finite but short of competence, mixed seeds) "
                  f"inconclusive. Gates: >= {cfg.min_seeds} seeds; the task learnable at scale {cfg.sane:g} without "
                  f"clipping (>= {r['k']} seeds); gradients explode at scale {cfg.large:g} (peak >= {cfg.explode:g} "
                  f"x the sane init's).",
                  f"scale {cfg.large:g}: held-out loss without clipping {fmt(plain)}, with clipping {fmt(clipped)} "
                  f"(chance {chance:.3f}); rescued in {r['rescued']}/{r['n']} seeds, not tamed in "
                  f"{r['untamed']}/{r['n']}",
                  f"scale {cfg.large:g}: clipping rescued {r['rescued']}/{r['n']} seeds (clipped loss / chance "
                  f"{fmt(norm)})", gates=gates_, margins=margins)
