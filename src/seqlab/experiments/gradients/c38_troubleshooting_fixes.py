"""C38: the troubleshooting checklist's quick fixes, each applied to the failure it is listed against.

The chapter's symptom table pairs each symptom with a quick fix. C26 reproduces the
symptoms; this entry asks whether the fixes cure them. Each row takes a failing run and
changes only what the fix says, on the same seed (same weights, same batches):

- **NaN -> reduce the learning rate**: C26's exploding run (recall the first input, tanh
  RNN with W_hh = 3 x orthogonal, plain SGD, lr 0.05, no clipping), lr divided by 10.
- **NaN -> the monitor's conditional clipping** (``if grad_norm > 10: clip_grad_norm_(...,
  max_norm=1.0)``): the same run, clipped to norm 1 only when the norm exceeds 10
  (``TrainConfig.clip_above``).
- **loss stuck at its initial value -> reduce sequence length**: C26's vanishing run
  (W_hh = 0.5 x orthogonal, lr 0.01, 30 steps), the same task at 6 steps.
- **early tokens never learned -> increase the BPTT window**: C8's delayed echo (y_t =
  x_(t-10)), an LSTM with truncated BPTT k1 = k2 = 5, against k1 = k2 = 20.

Rule, fixed before the run, per row over the paired seeds: gate, the failure shows
without the fix in every seed (NaN/inf within the budget; held-out loss >= 0.9 x its
initial value; echo accuracy <= chance + 0.1); *cured* when with the fix the symptom is
gone in a majority of seeds (no NaN over the whole budget; held-out loss <= 0.5 x initial;
echo accuracy >= 0.9), *not cured* when the symptom persists in a majority. Confirmed when
every row is cured, refuted when any row is not cured, else inconclusive. A "not cured"
decides only for fixed runs that stopped improving (held-out loss or dev accuracy gains at
most 0.05 over the last quarter of the budget; a gate per seed, as in C30). The margin is
the seeds cured beyond the majority, and for the stuck and echo rows the median measured
number against its cure threshold.

Not deciding, beside it: the stuck run at sequence lengths from 2 to the fixed length,
to show how short "shorter" has to be on this failure (its cause, W_hh = 0.5 x
orthogonal, shrinks the signal of x_1 by about 2x per step whatever T).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass


from seqlab.build import ModelConfig
from seqlab.config import to_dict
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.probe_tasks import DelayedEcho
from seqlab.experiments.core.training import fit, one_thread, score
from seqlab.experiments.gradients import c26_gradient_symptoms as c26
from seqlab.experiments.gradients.init_runs import ScoreCurve, train_built
from seqlab.experiments.problem.c30_failure_table import DevCurve

CLAIM_ID = "C38"
QUOTE = ("Loss stuck at initial value | Vanishing gradients | Reduce sequence length, check initialization; Loss "
         "becomes NaN after N steps | Exploding gradients | Add gradient clipping, reduce learning rate; Early tokens "
         "never learned | Vanishing + truncated BPTT | Increase BPTT window, use LSTM/GRU; if grad_norm > 10: "
         "torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)")
CLAIM = (f"The chapter's troubleshooting checklist and monitor snippet (\"{QUOTE}\"): each quick fix cures the "
         "symptom it is listed against. Controlled tasks (C26's and C8's).")
ROWS = ("NaN: lower lr", "NaN: clip if norm > 10", "stuck: shorter sequences", "early tokens: larger BPTT window")


@dataclass(frozen=True)
class Config:
    length: int = 30  # recall-first sequences (C26)
    short: int = 6  # the fix for the stuck loss
    inputs: int = 8
    hidden: int = 32
    batch: int = 32
    steps: int = 150
    high_lr: float = 0.05  # the exploding run
    lr_divisor: float = 10.0  # the fix: lr / 10
    lr: float = 0.01  # the vanishing run
    scales: tuple[float, float] = (3.0, 0.5)  # exploding, vanishing W_hh scale
    clip_above: float = 10.0
    clip_to: float = 1.0
    echo_delay: int = 10  # C8's delayed echo
    echo_length: int = 40
    echo_alphabet: int = 4
    echo_windows: tuple[int, int] = (5, 20)  # failing, fixed k1 = k2
    echo_hidden: int = 32
    echo_steps: int = 300
    echo_lr: float = 0.01
    stuck: float = 0.9  # loss / initial at least this: stuck
    learns: float = 0.5  # loss / initial at most this: cured
    echo_solved: float = 0.9
    echo_chance_slack: float = 0.1
    converged: float = 0.05  # a "not cured" needs the fixed run to gain at most this over its last quarter
    sweep: tuple[int, ...] = (2, 3, 4)  # not deciding: the stuck run at these lengths too


PROFILES = {"quick": Config(),
            "full": Config(length=60, short=10, hidden=128, steps=600, lr=0.01, echo_delay=50, echo_length=200,
                           echo_windows=(25, 100), echo_hidden=128, echo_steps=3000, echo_lr=3e-3)}
TINY = Config(length=10, short=4, inputs=3, hidden=8, batch=8, steps=8, echo_delay=2, echo_length=8,
              echo_windows=(1, 4), echo_hidden=8, echo_steps=4, sweep=(2,))


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def recall_run(cfg: Config, length: int, scale: float, lr: float, seed: int, clip: bool = False) -> dict:
    """C26's tanh RNN on recall-first at ``length``: held-out loss / chance before and after, and divergence."""
    base = c26.Config(length=length, inputs=cfg.inputs, hidden=cfg.hidden, batch=cfg.batch, steps=cfg.steps)
    task = c26.RecallFirst(length, cfg.inputs)
    model = c26.network(base, task, scale, seed)
    scores = ScoreCurve(task, every=max(cfg.steps // 5, 1)).start(model)
    with one_thread():
        t = train_built(model, task, cfg.steps, lr=lr, seed=seed, batch_size=cfg.batch, optimizer="sgd",
                        clip_norm=cfg.clip_to if clip else None, clip_above=cfg.clip_above if clip else None,
                        callbacks=(scores,))
    return {"loss0": scores.normalized[0], "loss_end": math.nan if t.diverged_at else scores.normalized[-1],
            "diverged": t.diverged_at, "curve": scores.normalized}


def echo_run(cfg: Config, window: int, seed: int) -> float:
    """C8's LSTM on the delayed echo with truncated BPTT k1 = k2 = ``window``: held-out accuracy
    (a float, with the dev accuracy curve as ``curve``)."""
    task = DelayedEcho(cfg.echo_delay, cfg.echo_length, cfg.echo_alphabet)
    spec = ModelConfig(arch="lstm", hidden_size=cfg.echo_hidden, embed_dim=16, forget_bias=1.0)
    dev = DevCurve(task, max(cfg.echo_steps // 4, 1), batches=1)
    f = fit(spec, task, cfg.echo_steps, lr=cfg.echo_lr, seed=seed, clip_norm=1.0,
            tbptt=None if window >= cfg.echo_length else (window, window), callbacks=(dev,))
    return Accuracy(score(f.model, task, batches=2)["accuracy"], dev.points)


class Accuracy(float):
    """A held-out accuracy that carries its dev curve."""

    def __new__(cls, value: float, curve: list[float]):
        out = super().__new__(cls, value)
        out.curve = curve
        return out


def converged_gate(row: str, seed: int, fixed, cfg: Config) -> rules.Gate:
    """The fixed run stopped improving (loss for the recall rows, dev accuracy for the echo row)."""
    if isinstance(fixed, float):
        return rules.converged(f"{row}: fixed run seed {seed} trained (dev accuracy)", fixed.curve, cfg.converged)
    return rules.converged(f"{row}: fixed run seed {seed} trained (held-out loss / chance)", fixed["curve"],
                           cfg.converged, higher_is_better=False)


def symptoms(row: str, run: dict | float, cfg: Config) -> tuple[bool, bool]:
    """(symptom shows, cured) for one run of ``row``."""
    if row.startswith("NaN"):
        return run["diverged"] is not None, run["diverged"] is None
    if row.startswith("stuck"):
        ratio = run["loss_end"] / run["loss0"]
        return not (ratio < cfg.stuck), ratio <= cfg.learns
    chance = 1 / cfg.echo_alphabet
    return run <= chance + cfg.echo_chance_slack, run >= cfg.echo_solved


def row_outcome(before: list[bool], cured: list[bool], still: list[bool]) -> dict:
    """The rule for one row: ``before`` the symptom without the fix per seed; ``cured`` / ``still`` with it."""
    n = len(cured)
    need = n // 2 + 1
    return {"failure shown": all(before), "cured": rules.count(cured) >= need, "not cured": rules.count(still) >= need,
            "seeds cured": rules.count(cured), "seeds needed": need}


def runs(cfg: Config, seed: int) -> dict:
    """Every row's (failing, fixed) runs for one seed."""
    boom, stuck = cfg.scales
    explode = recall_run(cfg, cfg.length, boom, cfg.high_lr, seed)
    k_fail, k_fix = cfg.echo_windows
    return {ROWS[0]: (explode, recall_run(cfg, cfg.length, boom, cfg.high_lr / cfg.lr_divisor, seed)),
            ROWS[1]: (explode, recall_run(cfg, cfg.length, boom, cfg.high_lr, seed, clip=True)),
            ROWS[2]: (recall_run(cfg, cfg.length, stuck, cfg.lr, seed), recall_run(cfg, cfg.short, stuck, cfg.lr, seed)),
            ROWS[3]: (echo_run(cfg, k_fail, seed), echo_run(cfg, k_fix, seed))}


def _shown(row: str, run) -> str:
    if isinstance(run, float):
        return f"accuracy {float(run):.3f}"
    if run["diverged"] is not None:
        return f"NaN at update {run['diverged']}"
    return f"loss/initial {run['loss_end'] / run['loss0']:.3f}"


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    seeds = rules.seeds(profile)
    k_fail, k_fix = cfg.echo_windows
    result = new_result(CLAIM_ID, CLAIM, (
        f"Recall-first (C26): tanh RNN hidden {cfg.hidden}, W_hh = scale x orthogonal, plain SGD, batch {cfg.batch}, "
        f"{cfg.steps} updates. NaN rows: scale {cfg.scales[0]}, lr {cfg.high_lr}, T {cfg.length}; fixes lr "
        f"{cfg.high_lr / cfg.lr_divisor:g}, or clip to {cfg.clip_to} when the norm > {cfg.clip_above}. Stuck row: "
        f"scale {cfg.scales[1]}, lr {cfg.lr}, T {cfg.length}; fix T {cfg.short}. Early-token row (C8): LSTM hidden "
        f"{cfg.echo_hidden}, delayed echo d = {cfg.echo_delay}, T {cfg.echo_length}, Adam lr {cfg.echo_lr}, clip 1, "
        f"{cfg.echo_steps} updates, TBPTT k1 = k2 = {k_fail}; fix {k_fix}. Seeds {list(seeds)}, paired."),
        profile, config(profile), seeds=seeds)
    data = {seed: runs(cfg, seed) for seed in seeds}
    table, flags = [], {}
    for row in ROWS:
        for seed in seeds:
            failing, fixed = data[seed][row]
            shows, _ = symptoms(row, failing, cfg)
            still, cured = symptoms(row, fixed, cfg)
            flags[row, seed] = (shows, cured, still)
            table.append([row, seed, _shown(row, failing), shows, _shown(row, fixed), cured])
    result.add_table("each failure without and with its fix", ["row", "seed", "without the fix", "symptom shows",
                                                                "with the fix", "cured"], table)
    sweep = {(T, s): recall_run(cfg, T, cfg.scales[1], cfg.lr, s) for T in cfg.sweep for s in seeds}
    result.add_table("not deciding: the stuck run at shorter lengths (held-out loss / initial at the end)",
                     ["T", *(f"seed {s}" for s in seeds)],
                     [[T, *(sweep[T, s]["loss_end"] / sweep[T, s]["loss0"] for s in seeds)] for T in cfg.sweep])
    cures = [T for T in cfg.sweep
             if row_outcome([True], [sweep[T, s]["loss_end"] <= cfg.learns * sweep[T, s]["loss0"] for s in seeds],
                            [False])["cured"]]
    result.notes.append(f"Not deciding: on the stuck run (W_hh = {cfg.scales[1]} x orthogonal) shortening from "
                        f"{cfg.length} to {cfg.short} steps is the fix under test; of the shorter lengths "
                        f"{list(cfg.sweep)}, the loss falls to <= {cfg.learns} x initial in a majority of seeds at T "
                        f"in {cures or 'none'}. The other half of the chapter's fix, 'check initialization', is C6's "
                        "and C24's subject.")
    return _verdict(result, data, flags, cfg, seeds)


def _continuous(row: str, data: dict, cfg: Config, seeds) -> tuple[list[float], float] | None:
    """(per-seed measured numbers with the fix, their cure threshold) where the cure is a number."""
    if row.startswith("stuck"):
        return [data[s][row][1]["loss_end"] / data[s][row][1]["loss0"] for s in seeds], cfg.learns
    if row.startswith("early"):
        return [float(data[s][row][1]) for s in seeds], cfg.echo_solved
    return None


def _verdict(result, data: dict, flags: dict, cfg: Config, seeds):
    out = {row: row_outcome(*(list(x) for x in zip(*(flags[row, s] for s in seeds)))) for row in ROWS}
    gates = [rules.Gate(f"{row}: the failure shows without the fix in every seed", o["failure shown"],
                        f"{rules.count(flags[row, s][0] for s in seeds)} of {len(seeds)} seeds") for row, o in out.items()]
    gates += [converged_gate(row, s, data[s][row][1], cfg) for row, o in out.items() if o["not cured"] for s in seeds]
    margins, deciding = [], []
    for row, o in out.items():
        m = o["seeds cured"] - o["seeds needed"]
        margins.append([row, "seeds cured", o["seeds cured"], o["seeds needed"], m, m / o["seeds needed"]])
        # a count of seeds: the boundary lies between needed - 1 and needed
        deciding.append(rules.Margin(f"{row}: seeds cured", o["seeds cured"], o["seeds needed"] - 0.5, "seeds"))
        cont = _continuous(row, data, cfg, seeds)
        if cont is not None:
            values, threshold = cont
            value = statistics.median(values)
            m = (threshold - value) if row.startswith("stuck") else (value - threshold)
            margins.append([row, "median with the fix", value, threshold, m, m / threshold])
            deciding.append(rules.Margin(f"{row}: median with the fix", value, threshold,
                                         "loss / initial" if row.startswith("stuck") else "accuracy",
                                         noise=rules.seed_noise(values)))
    result.add_table("margin of each deciding number to its threshold (positive: on the cured side)",
                     ["row", "number", "measured", "threshold", "margin", "as a fraction"], margins)
    result.add_table("the rule per row", ["row", "failure shown (gate)", "seeds cured", "cured", "not cured"],
                     [[r, o["failure shown"], o["seeds cured"], o["cured"], o["not cured"]] for r, o in out.items()])
    verdict = judge(enough=rules.gates_pass(gates), confirmed=all(o["cured"] for o in out.values()),
                     refuted=any(o["not cured"] for o in out.values()))
    return finish(
        result, verdict,
        "per row over the paired seeds: gate, the failure shows without the fix in every seed (NaN/inf within the "
        f"budget; held-out loss >= {cfg.stuck} x initial; echo accuracy <= chance + {cfg.echo_chance_slack}); cured "
        f"when with the fix the symptom is gone in a majority of seeds (no NaN; loss <= {cfg.learns} x initial; echo "
        f"accuracy >= {cfg.echo_solved}), not cured when it persists in a majority. Confirmed when every row is "
        "cured, refuted when any row is not cured; a not-cured row decides only when its fixed runs gained <= "
        f"{cfg.converged} over the last quarter of the budget (held-out loss / chance, or dev accuracy).",
        "; ".join(f"{r}: cured in {o['seeds cured']} of {len(seeds)} seeds (needed {o['seeds needed']})"
                  for r, o in out.items()) + ". Margins: " + "; ".join(f"{m[0]} {m[1]} {m[4]:+.3g} ({m[5]:+.0%})"
                                                                       for m in margins),
        ", ".join(f"{r} {'cured' if o['cured'] else 'not cured' if o['not cured'] else 'unclear'}"
                  for r, o in out.items()), gates=gates, margins=deciding)
