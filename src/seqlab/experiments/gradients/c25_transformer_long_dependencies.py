"""C25: a Transformer reaches any earlier position in one attention step, so it handles
dependencies over distances at which recurrent networks fail.

Design: the distance is the variable. One task, key recall (``c25_key_recall.KeyRecall``):
a key token (1 of 8) at step 0, random distractor tokens (8 others) after it, and at step
d a query where the key must be reported. Only d changes between versions: one symbol to
carry, the same answer. A one-layer causal Transformer (d_model 16, 2 heads, sinusoidal
positions, which cover any length) against an LSTM of the same width, behind the same
input layer and per-step head, on the same batches (paired seeds).

Distances. Quick: 16 (the control), 128 and 256 (hundreds; a Transformer at 512
needed 183 updates of 90 ms to reach 0.9 in a pilot, 17 CPU-s a seed, over this claim's budget, so
the quick profile tests hundreds, not thousands, and its setup says so). Full: 32
(control), 256, 1024 and 2048 (thousands), the recurrent rule read at 256.

Budget: equal updates, not convergence. Every family and distance gets at most 200
(quick; full 1,000) updates of 32 fresh sequences, the same ones per seed, and stops at
competence (running accuracy >= 0.95 over 10 batches); a run that never gets there
trains the whole budget. Held-out accuracy (256 fresh sequences) of the model where it
stopped is the measure. The LSTM's settings are generous to it: forget-gate bias 3 (the
cell keeps 95% a step at initialization; with bias 1 it learned the control within 300
updates in 3 of 12 pilot runs at lr 3e-2 and 5e-2, not in 400 at 1e-2) and lr 1e-2 (with bias 3 it learned
the control in 25-76 updates in 6 of 6 pilot runs); Transformer lr 1e-2. Pilot runs of
the LSTM at hidden 32 (distance 64, seed 0; 128, seeds 0 and 1) stayed at chance for
300 updates: the width does not decide it. Equal updates are not equal FLOPs: an update
of the Transformer costs about 5x the LSTM's at 256 (the runs table gives estimates); an
LSTM at 128 given 1,000 updates (5x) also stayed at chance (pilot, seed 0). A vanilla
LSTM can learn one key over long distances when trained much longer; what is tested is
the same number of updates. GRU is left out: in pilots it learned the full profile's
control (32, lr 3e-3) in 1 of 2 runs of 1,000 updates, so it would fail the control
gate there (``Config.recurrent`` takes it).

Gates: control, every family competent at the control distance in every seed (each can
learn the task: a failure further out is about distance, not ability or capacity);
convergence, every long-distance run either competent or on a plateau (its running
accuracy gained <= 0.05 over the last quarter), so no failure is a run cut short while
still climbing.

Rule (fixed before the run), on drop = accuracy(control) - accuracy(distance), paired by
seed (``rules.paired``: "in every seed" below 5 seeds, a bootstrap interval from 5):
confirmed when the Transformer's drop is < 0.2 at every long distance and the
recurrent net's drop at ``rnn_at`` (hundreds) is > 0.5; refuted when the recurrent net's
drop there is < 0.2 and it is competent there in every seed (it handles hundreds as
well); else inconclusive. All of it only when both gates pass.

Cost: quick about 35 CPU-s (one thread). Full (not run here): in CPU pilots the
Transformer (d_model 32, lr 3e-3) was competent at 1024 after 202 updates of 0.37 s
(seed 0), the LSTM at the control 32 after 69 and 163; extrapolated (attention is
quadratic: ~1.5 s an update at 2048; the LSTM ~0.25 s), 5 seeds take about 2-4
CPU-hours, minutes on a GPU.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops, rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.memory_runs import Run, train
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.experiments.gradients.c25_key_recall import KeyRecall

CLAIM_ID = "C25"
CLAIM = ('The chapter: "This is one of the key reasons Transformers can handle sequences of thousands of tokens '
         'while RNNs struggle with hundreds." (tested: at an equal number of updates, a Transformer recalls a key '
         'token over every distance of the run as well as over a short one, while an LSTM that masters the short '
         'one fails over hundreds of steps; the distances of this run are stated in its setup).')
TRANSFORMER = "transformer"


@dataclass(frozen=True)
class Config:
    control: int = 16  # the short distance every family must master (control gate)
    distances: tuple[int, ...] = (128, 256)  # the long distances
    rnn_at: int = 256  # the long distance the recurrent rule reads ("hundreds")
    keys: int = 8
    filler: int = 8
    recurrent: tuple[str, ...] = ("lstm",)
    hidden: int = 16  # LSTM hidden size = Transformer d_model
    heads: int = 2
    layers: int = 1
    forget_bias: float = 3.0
    budget: int = 200  # updates, the same for every family and distance
    batch_size: int = 32
    rnn_lr: float = 0.01
    transformer_lr: float = 0.01
    competent: float = 0.95
    window: int = 10
    score_batches: int = 4  # held-out accuracy over score_batches x 64 sequences
    plateau: float = 0.05  # convergence gate: gain over the last quarter of a non-competent run
    holds: float = 0.2  # a family holds at a distance: accuracy drop from the control < this
    drops: float = 0.5  # the recurrent net fails at rnn_at: drop > this


PROFILES = {"quick": Config(),
            "full": Config(control=32, distances=(256, 1024, 2048), rnn_at=256, hidden=32, budget=1000,
                           rnn_lr=3e-3, transformer_lr=3e-3)}
# the whole path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(control=2, distances=(4, 6), rnn_at=6, keys=4, filler=2, hidden=8, budget=6, batch_size=8, window=2,
              score_batches=1)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def families(cfg: Config) -> tuple[str, ...]:
    return (TRANSFORMER, *cfg.recurrent)


def spec(arch: str, cfg: Config) -> ModelConfig:
    if arch == TRANSFORMER:
        return ModelConfig(arch=arch, hidden_size=cfg.hidden, num_layers=cfg.layers, heads=cfg.heads,
                           embed_dim=cfg.hidden)
    return ModelConfig(arch=arch, hidden_size=cfg.hidden, embed_dim=cfg.hidden,
                       forget_bias=cfg.forget_bias if arch == "lstm" else None)


# fields no unit reads (the rule, the list of runs; a unit names its arch and distance): no re-run when changed
NOT_IN_UNITS = ("control", "distances", "recurrent", "rnn_at", "plateau", "holds", "drops")


def units(profile: str, done: dict) -> list[Unit]:
    """One run per family x distance (control first) x seed, all with the same update budget."""
    del done
    cfg = PROFILES[check_profile(profile)]
    out = []
    for arch in families(cfg):
        for d in (cfg.control, *cfg.distances):
            for s in rules.seeds(profile):
                out.append(Unit(f"{arch}-d{d}-s{s}", "train_run",
                                {"cfg": settings(cfg, NOT_IN_UNITS), "arch": arch, "distance": d, "seed": s},
                                seed=s, flops=_flops(arch, d, cfg.budget, cfg)))
    return out


def _flops(arch: str, distance: int, updates: int, cfg: Config) -> float:
    """Estimated training FLOPs of ``updates`` updates at ``distance`` (``core.flops``)."""
    T = distance + 1
    return flops.training(flops.task_model(arch, cfg.hidden, cfg.hidden, cfg.keys, T, cfg.layers),
                          cfg.batch_size * T, updates)


def train_run(cfg: dict, arch: str, distance: int, seed: int) -> dict:
    """``arch`` trained on key recall over ``distance`` to competence, at most ``budget`` updates."""
    c = config_of(Config, cfg)
    run = train(spec(arch, c), KeyRecall(distance, c.keys, c.filler), c.budget, seed=seed, batch_size=c.batch_size,
                threshold=c.competent, window=c.window, score_batches=c.score_batches,
                lr=c.transformer_lr if arch == TRANSFORMER else c.rnn_lr)
    return asdict(run)


def drop_rule(transformer: dict[int, list[float]], rnn: dict[str, list[float]],
              rnn_competent: dict[str, list[bool]], cfg: Config) -> dict:
    """The rule on hand-made numbers: ``transformer[d]`` = its per-seed drops at long distance d,
    ``rnn[a]`` = recurrent net a's per-seed drops at ``rnn_at``, ``rnn_competent[a]`` its competence there.

    Confirmed: every Transformer drop paired-below ``holds`` and every recurrent drop paired-above
    ``drops``. Refuted: some recurrent net paired-below ``holds`` and competent in every seed."""
    holds = {d: rules.paired(v, cfg.holds) for d, v in transformer.items()}
    fails = {a: rules.paired(v, cfg.drops) for a, v in rnn.items()}
    keeps = {a: rules.paired(v, cfg.holds) for a, v in rnn.items()}
    confirmed = all(p.below for p in holds.values()) and all(p.above for p in fails.values())
    refuted = any(keeps[a].below and all(rnn_competent[a]) for a in rnn)
    return {"confirmed": confirmed, "refuted": refuted, "holds": holds, "fails": fails, "keeps": keeps}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    archs, every = families(cfg), (cfg.control, *cfg.distances)
    runs = {(a, d, s): Run(**results[f"{a}-d{d}-s{s}"]) for a in archs for d in every for s in seeds}
    drop = {(a, d): [runs[a, cfg.control, s].held_out - runs[a, d, s].held_out for s in seeds]
            for a in archs for d in cfg.distances}
    result = new_result(CLAIM_ID, CLAIM, _setup(cfg, seeds), profile, config(profile), seeds=seeds)
    result.add_table("runs (steps = updates to competence, '> n' = never within the n allowed; accuracy on "
                     f"{64 * cfg.score_batches} held-out sequences where training stopped)",
                     ["family", "distance", "seed", "steps", "competent", "best running accuracy",
                      "held-out accuracy", "drop from control", "training GFLOPs (estimate)"],
                     [[a, d, s, _steps(r), r.competent, round(r.best, 4), round(r.held_out, 4),
                       "control" if d == cfg.control else round(drop[a, d][seeds.index(s)], 4),
                       round(_flops(a, d, r.trained, cfg) / 1e9, 3)]
                      for (a, d, s), r in runs.items()])
    result.add_figure("accuracy_vs_distance", "Held-out accuracy against the key's distance, mean over seeds "
                      f"(at most {cfg.budget} updates each; chance {1 / cfg.keys:.3f}).",
                      line_plot({a: (np.array(every), [np.mean([runs[a, d, s].held_out for s in seeds])
                                                       for d in every]) for a in archs},
                                "key recall", "distance (steps)", "held-out accuracy", logx=True))
    result.notes.append("competent within the budget, seeds of " + str(len(seeds)) + ": " + "; ".join(
        f"{a} " + ", ".join(f"d {d}: {sum(runs[a, d, s].competent for s in seeds)}" for d in every) for a in archs))
    gates = _gates(runs, cfg, archs, seeds)
    r = drop_rule({d: drop[TRANSFORMER, d] for d in cfg.distances}, {a: drop[a, cfg.rnn_at] for a in cfg.recurrent},
                  {a: [runs[a, cfg.rnn_at, s].competent for s in seeds] for a in cfg.recurrent}, cfg)
    verdict = judge(enough=rules.gates_pass(gates), confirmed=r["confirmed"], refuted=r["refuted"])
    return finish(result, verdict, _criterion(cfg), _decided_by(r, drop, cfg),
                  f"drop from control: Transformer worst {max(max(drop[TRANSFORMER, d]) for d in cfg.distances):.2f}"
                  f" (< {cfg.holds} holds), " + ", ".join(f"{a} at {cfg.rnn_at} least {min(drop[a, cfg.rnn_at]):.2f}"
                                                         for a in cfg.recurrent) + f" (> {cfg.drops} fails)",
                  gates=gates, margins=_margins(r, drop, cfg))


def _setup(cfg: Config, seeds) -> str:
    return (f"Key recall: a key (1 of {cfg.keys}) at step 0, random distractors (of {cfg.filler}) after it, the "
            f"key reported at step d; control d = {cfg.control}, long d = {', '.join(map(str, cfg.distances))}. "
            f"Causal Transformer ({cfg.layers} layer, d_model {cfg.hidden}, {cfg.heads} heads, sinusoidal positions, "
            f"Adam lr {cfg.transformer_lr}) vs {', '.join(cfg.recurrent)} (hidden {cfg.hidden}, forget-gate bias "
            f"{cfg.forget_bias:g}, Adam lr {cfg.rnn_lr}). Budget: equal updates (not convergence), at most "
            f"{cfg.budget} updates of {cfg.batch_size} fresh sequences per run, clip 1.0, stopped at competence "
            f"(running accuracy >= {cfg.competent} over {cfg.window} batches); paired seeds {list(seeds)}."
            + (" This profile reaches hundreds of steps only; the 'thousands' of the claim is the full profile's."
               if max(cfg.distances) < 1000 else ""))


def _gates(runs: dict, cfg: Config, archs, seeds) -> list[rules.Gate]:
    missed = [f"{a} s{s}" for a in archs for s in seeds if not runs[a, cfg.control, s].competent]
    climbing = [f"{a} d{d} s{s}" for a in archs for d in cfg.distances for s in seeds
                if not runs[a, d, s].competent and not rules.converged("", runs[a, d, s].curve, cfg.plateau).passed]
    return [rules.Gate(f"control: every family competent at distance {cfg.control} in every seed", not missed,
                       "not competent: " + ", ".join(missed) if missed else "all competent"),
            rules.Gate(f"convergence: every long run competent or on a plateau (gain <= {cfg.plateau} over the "
                       "last quarter)", not climbing,
                       "still climbing: " + ", ".join(climbing) if climbing else "all competent or flat")]


def _criterion(cfg: Config) -> str:
    return (f"drop = held-out accuracy at the control distance - at a long distance, per seed (paired; every seed "
            f"below 5 seeds, bootstrap interval of the mean from 5). Confirmed when the Transformer's drop < "
            f"{cfg.holds} at every long distance and the recurrent net's drop at {cfg.rnn_at} > {cfg.drops}; refuted "
            f"when the recurrent net's drop at {cfg.rnn_at} < {cfg.holds} and it is competent there in every seed; "
            "else inconclusive. Only when the control and convergence gates pass.")


def _decided_by(r: dict, drop: dict, cfg: Config) -> str:
    parts = [f"Transformer drop at {d}: {p.describe()} vs < {cfg.holds} ({'holds' if p.below else 'not shown'})"
             for d, p in r["holds"].items()]
    parts += [f"{a} drop at {cfg.rnn_at}: {p.describe()} vs > {cfg.drops} ({'fails' if p.above else 'not shown'})"
              for a, p in r["fails"].items()]
    parts += [f"{a} drop at {d}: " + ", ".join(f"{v:.2f}" for v in drop[a, d])
              for a in cfg.recurrent for d in cfg.distances if d != cfg.rnn_at]
    return "; ".join(parts)


def _margins(r: dict, drop: dict, cfg: Config) -> list[rules.Margin]:
    worst = max(cfg.distances, key=lambda d: max(drop[TRANSFORMER, d]))
    out = [rules.Margin(f"Transformer: largest drop over seeds (distance {worst})", max(drop[TRANSFORMER, worst]),
                        cfg.holds, "accuracy", noise=rules.seed_noise(drop[TRANSFORMER, worst]))]
    for a in cfg.recurrent:
        v = drop[a, cfg.rnn_at]
        out.append(rules.Margin(f"{a}: largest drop over seeds at {cfg.rnn_at}", max(v), cfg.holds, "accuracy",
                                noise=rules.seed_noise(v)) if r["refuted"] else
                   rules.Margin(f"{a}: smallest drop over seeds at {cfg.rnn_at}", min(v), cfg.drops, "accuracy",
                                noise=rules.seed_noise(v)))
    return out


def _steps(run: Run) -> str:
    return str(run.steps) if run.competent else f"> {run.trained}"
