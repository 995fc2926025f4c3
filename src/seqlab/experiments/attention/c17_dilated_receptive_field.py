"""C17: dilated causal convolutions reach a range of n inputs with about log2(n) layers.

A causal convolution of kernel k adds (k - 1) * dilation positions of reach per
layer. With dilations 1, 2, 4, ..., 2^(L-1) and k = 2 the receptive field is

    R(L) = 1 + (k - 1) * sum_l 2^l = 2^L,

so range n needs L = ceil(log2 n) layers, against n - 1 for undilated layers. Three
measurements on ``seqlab.nn.DilatedCausalConv``:

- R(L) from the module's own formula, and R(L) measured by gradient: the input
  positions whose gradient of the last output is non-zero (float64, random weights).
- Layers needed for ranges n up to 2^15, dilated vs undilated.
- Accuracy vs depth on echoing the token d steps back (y_t = x_(t-d)): the output
  at t sees x_(t-d) only when R(L) > d, so accuracy should jump from chance
  (1/alphabet) to ~1 at the first depth whose receptive field covers d.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import flops
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.probe_tasks import DelayedEcho
from seqlab.experiments.core.training import score
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.nn.conv import DilatedCausalConv
from seqlab.nn.sequence import SequenceModel
from seqlab.train import TrainConfig, Trainer

CLAIM_ID = "C17"
CLAIM = "A stack of dilated causal convolutions needs only about log2(n) layers to see n steps back."


@dataclass(frozen=True)
class Config:
    depths: tuple[int, ...] = (1, 2, 3, 4, 5)
    kernel: int = 2
    delay: int = 12
    length: int = 48
    alphabet: int = 4
    channels: int = 32
    steps: int = 200
    lr: float = 3e-3
    ranges: tuple[int, ...] = (16, 128, 1024, 8192, 32768)
    seed: int = 0


PROFILES = {"quick": Config(),
            "full": Config(depths=(4, 5, 6, 7, 8, 9), delay=200, length=600, alphabet=8, channels=64, steps=2000,
                           lr=1e-3, ranges=(16, 128, 1024, 8192, 65536, 1 << 20))}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(depths=(1, 2), delay=2, length=12, alphabet=3, channels=8, steps=3, ranges=(4, 16))


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def analytic_field(num_layers: int, kernel: int, dilated: bool = True) -> int:
    """R(L) from the module's own definition (built on the meta device: no memory, no init)."""
    with torch.device("meta"):
        stack = DilatedCausalConv(1, 1, num_layers, kernel, cycle=None if dilated else 1)
    return stack.receptive_field


def measured_field(num_layers: int, kernel: int, channels: int = 4, seed: int = 0) -> tuple[int, int]:
    """(span, count) of input positions that change the last output, by autograd in float64.

    Span = T - (earliest position with a non-zero gradient); count = positions with a
    non-zero gradient. Both equal R(L) when the field is contiguous.
    """
    torch.manual_seed(seed)
    stack = DilatedCausalConv(channels, channels, num_layers, kernel).double()
    T = analytic_field(num_layers, kernel) + 8  # longer than the field, so its edge is visible
    x = torch.randn(1, T, channels, dtype=torch.float64, requires_grad=True)  # (1, T, C)
    out, _ = stack(x)  # (1, T, C)
    (grad,) = torch.autograd.grad(out[0, -1].sum(), x)
    hit = grad[0].abs().sum(-1) > 0  # (T,)
    first = int(hit.nonzero()[0])
    return T - first, int(hit.sum())


def layers_needed(n: int, kernel: int, dilated: bool) -> int:
    """The fewest layers whose receptive field covers n inputs."""
    if not dilated:
        return math.ceil((n - 1) / (kernel - 1))
    L = 1
    while analytic_field(L, kernel) < n:
        L += 1
    return L


def train_conv(depth: int, task: DelayedEcho, cfg: Config) -> SequenceModel:
    """A token model with a ``depth``-layer dilated causal stack, trained ``cfg.steps`` batches."""
    torch.manual_seed(cfg.seed)
    backbone = DilatedCausalConv(cfg.channels, cfg.channels, depth, cfg.kernel)
    model = SequenceModel(backbone, cfg.channels, task.output_dim, vocab_size=task.vocab_size,
                          embed_dim=cfg.channels)
    tc = TrainConfig(steps=cfg.steps, batch_size=32, lr=cfg.lr, clip_norm=1.0, eval_every=cfg.steps,
                     eval_batches=1, log_every=cfg.steps, seed=cfg.seed, progress=False)
    trainer = Trainer(model, task, tc)
    if trainer.fit().stopped == "interrupted":
        raise KeyboardInterrupt
    return trainer.raw_model


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per depth: its receptive field measured, and a model of that depth trained on the echo."""
    cfg = PROFILES[check_profile(profile)]
    per_layer = 2 * 2 * cfg.kernel * cfg.channels * cfg.channels  # a gated (GLU) conv layer, per token
    return [Unit(f"L{depth}", "depth_unit", {"cfg": settings(cfg, ("depths", "ranges")), "depth": depth},
                 seed=cfg.seed, flops=flops.training(depth * per_layer + flops.head(cfg.channels, cfg.alphabet),
                                                     32 * cfg.length, cfg.steps)) for depth in cfg.depths]


def depth_unit(cfg: dict, depth: int) -> dict:
    """The field of ``depth`` layers (formula, gradient span, positions) and the echo accuracy at that depth."""
    cfg = config_of(Config, cfg)
    task = DelayedEcho(cfg.delay, cfg.length, cfg.alphabet)
    span, count = measured_field(depth, cfg.kernel)
    return {"field": [analytic_field(depth, cfg.kernel), span, count],
            "accuracy": score(train_conv(depth, task, cfg), task, batches=2)["accuracy"]}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"DilatedCausalConv, kernel {cfg.kernel}, dilations 1, 2, 4, ...; depths {list(cfg.depths)}. Receptive "
        "field: module formula vs autograd (float64, random weights). Task: echo the token "
        f"{cfg.delay} steps back (alphabet {cfg.alphabet}, length {cfg.length}), {cfg.channels} channels, Adam lr "
        f"{cfg.lr}, clip 1.0, {cfg.steps} batches of 32; accuracy on 128 held-out sequences."),
        profile, config(profile), cfg.seed)
    fields, accuracy, rows = {}, {}, []
    for depth in cfg.depths:
        r = results[f"L{depth}"]
        analytic, span, count = fields[depth] = tuple(r["field"])
        accuracy[depth] = r["accuracy"]
        rows.append([depth, analytic, span, count, analytic > cfg.delay, accuracy[depth]])
    result.add_table(f"receptive field and accuracy vs depth (dependency distance d = {cfg.delay})",
                     ["layers", "field (formula)", "field (gradient span)", "positions with gradient", "covers d",
                      "accuracy"], rows)
    result.add_table("layers needed to cover n inputs",
                     ["n", "log2 n", "dilated layers", "undilated layers"],
                     [[n, math.log2(n), layers_needed(n, cfg.kernel, True), layers_needed(n, cfg.kernel, False)]
                      for n in cfg.ranges])
    depths = np.asarray(cfg.depths)
    result.add_figure("accuracy_vs_depth", f"Echo accuracy (d = {cfg.delay}) against the number of layers.",
                      line_plot({"accuracy": (depths, [accuracy[d] for d in cfg.depths]),
                                 "chance": (depths, [1.0 / cfg.alphabet] * len(depths))},
                                "accuracy vs depth", "layers", "accuracy"))
    return _verdict(result, fields, accuracy, cfg)


def _verdict(result, fields: dict, accuracy: dict, cfg: Config):
    chance = 1.0 / cfg.alphabet
    exact = all(a == s == c for a, s, c in fields.values())
    covering = [d for d in cfg.depths if fields[d][0] > cfg.delay]
    short = [d for d in cfg.depths if fields[d][0] <= cfg.delay]
    log_depth = all(layers_needed(n, cfg.kernel, True) == math.ceil(math.log2(n)) for n in cfg.ranges)
    jump = all(accuracy[d] >= 0.9 for d in covering) and all(accuracy[d] <= chance + 0.15 for d in short)
    leak = any(accuracy[d] > chance + 0.3 for d in short)
    enough = bool(covering) and bool(short) and max(accuracy[d] for d in covering) >= 0.9
    verdict = judge(enough=enough, confirmed=exact and log_depth and jump, refuted=not exact or leak)
    first = min(covering) if covering else None
    return finish(result, verdict,
                  "needs depths on both sides of the dependency distance d, and a covering depth that learns the "
                  "echo (accuracy >= 0.9); else inconclusive. Confirmed when the gradient-measured field equals the "
                  "formula at every depth, range n needs exactly ceil(log2 n) layers (k = 2), and accuracy is >= 0.9 "
                  "for every depth with field > d and <= chance + 0.15 for every depth with field <= d; refuted when "
                  "a measured field differs from the formula or a non-covering depth scores above chance + 0.3.",
                  "fields (formula/gradient): " + ", ".join(f"L={d}: {a}/{s}" for d, (a, s, _) in fields.items())
                  + "; accuracy: " + ", ".join(f"L={d}: {accuracy[d]:.2f}" for d in cfg.depths)
                  + f"; chance {chance:.2f}",
                  f"field = 2^L (gradient-checked); echo d={cfg.delay} learned from L={first} "
                  f"(accuracy {accuracy[first]:.2f} vs {max((accuracy[d] for d in short), default=float('nan')):.2f} "
                  "below)" if first is not None else "no depth covers d")
