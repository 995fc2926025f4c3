"""C29: one attention layer joins tokens 512 positions apart; a dilated convolution stack needs ~9 layers.

Both sides are measured, at initialisation (float64, random weights, no training):

- **Dilated convolutions** (``seqlab.nn.DilatedCausalConv``, the stack of C17: kernel 2,
  dilations 1, 2, 4, ...). The dependency spans ``span`` = 512 tokens: output position
  span - 1 must see input position 0. For L = 1, 2, ... layers the input-gradient of that
  output is computed; the stack reaches when the gradient at input 0 is non-zero. The
  fewest layers that reach is compared with C17's receptive-field formula
  (``analytic_field``: R(L) = 2^L for kernel 2; ``layers_needed``: ceil(log2 512) = 9).
- **Attention**: one causal self-attention layer (``seqlab.nn.transformer.MultiHeadAttention``,
  one head); its output at span - 1 has a non-zero gradient with respect to input 0
  whatever the weights, because every query scores every earlier key.

Cost, reported and not judged: forward FLOPs of each side at T = span (formula, checked
with ``torch.utils.flop_counter`` on the explicit attention path, since the counter does
not see the fused CPU attention kernel), and the time of a forward + backward pass of
both (fast paths), in interleaved rounds. Attention's share grows with T^2 (scores and
weighted sum), the stack's with T log T.

Rule: confirmed when one attention layer reaches input 0 and the fewest dilated layers
that reach, measured by gradient, lie in LAYERS (the chapter's "about nine"); refuted
when attention does not reach or the measured number lies outside LAYERS.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from seqlab.config import to_dict
from seqlab.experiments.core.base import check_profile, judge, finish, new_result
from seqlab.experiments.attention.c17_dilated_receptive_field import analytic_field, layers_needed
from seqlab.experiments.core.timing import interleaved, median_ms, range_ms
from seqlab.experiments.core.training import one_thread
from seqlab.nn.conv import DilatedCausalConv
from seqlab.nn.transformer import MultiHeadAttention, causal_mask
from seqlab.train.device import pick_device

CLAIM_ID = "C29"
CLAIM = ("One attention layer connects tokens 512 positions apart, where a dilated convolution stack needs about "
         "nine layers to reach them.")
LAYERS = (8, 10)  # "about nine": the measured fewest layers inside these bounds


@dataclass(frozen=True)
class Config:
    span: int = 512  # output span - 1 must see input 0
    kernel: int = 2
    max_layers: int = 11  # depths tried by gradient: 1 .. max_layers
    probe_channels: int = 8  # width of the gradient probes
    channels: int = 64  # width of the cost comparison (d_model = conv channels)
    batch: int = 1
    rounds: int = 5
    seed: int = 0


# full: the same reach probes (the gradient facts do not depend on the machine); the costs timed at width 512, batch 16,
# sized for one H200 (milliseconds there; minutes on a CPU)
PROFILES = {"quick": Config(), "full": Config(channels=512, batch=16, rounds=20)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(span=16, max_layers=5, probe_channels=2, channels=8, batch=1, rounds=2)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def conv_stack(layers: int, cfg: Config, channels: int) -> DilatedCausalConv:
    torch.manual_seed(cfg.seed)
    return DilatedCausalConv(channels, channels, layers, cfg.kernel)


def attention(cfg: Config, channels: int) -> MultiHeadAttention:
    torch.manual_seed(cfg.seed)
    return MultiHeadAttention(channels, heads=1)


def first_gradient(forward, span: int, channels: int, seed: int) -> float:
    """|d out[span - 1] / d x[0]| (summed over channels) for ``forward(x) -> (1, span, C)``, float64."""
    x = torch.randn(1, span, channels, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x.requires_grad_(True)  # (1, T, C)
    (grad,) = torch.autograd.grad(forward(x)[0, span - 1].sum(), x)  # (1, T, C)
    return float(grad[0, 0].abs().sum())


def conv_reach(cfg: Config) -> dict[int, float]:
    """Per depth L = 1 .. max_layers: the gradient of output span - 1 at input 0 (0.0: unreachable)."""
    out = {}
    for L in range(1, cfg.max_layers + 1):
        stack = conv_stack(L, cfg, cfg.probe_channels).double()
        out[L] = first_gradient(lambda x, s=stack: s(x)[0], cfg.span, cfg.probe_channels, cfg.seed)
    return out


def attention_reach(cfg: Config) -> float:
    layer, mask = attention(cfg, cfg.probe_channels).double(), causal_mask(cfg.span)
    return first_gradient(lambda x: layer(x, x, mask)[0], cfg.span, cfg.probe_channels, cfg.seed)


def conv_flops(layers: int, batch: int, length: int, channels: int, kernel: int) -> int:
    """Forward FLOPs of the stack on (B, T, C) input: the input map 2 B T C^2, then per layer the gated
    filter (C -> 2C, kernel k) 2 B T 2C C k and the 1x1 residual map 2 B T C^2."""
    per_layer = 2 * batch * length * 2 * channels * channels * kernel + 2 * batch * length * channels * channels
    return 2 * batch * length * channels * channels + layers * per_layer


def attention_flops(batch: int, length: int, channels: int) -> int:
    """Forward FLOPs of one self-attention layer: Q, K, V, O maps 4 x 2 B T C^2, scores Q K^T and the
    weighted sum of V 2 x 2 B T^2 C (all T^2 pairs: the causal mask only hides half of them)."""
    return 8 * batch * length * channels * channels + 4 * batch * length * length * channels


def counted(forward, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        forward(x)
    return counter.get_total_flops()


def costs(cfg: Config, layers: int) -> dict:
    """FLOPs (formula and count) and interleaved seconds of a training pass at T = span, per side."""
    T, C, B, device = cfg.span, cfg.channels, cfg.batch, pick_device("auto")
    stack, layer = conv_stack(layers, cfg, C).to(device), attention(cfg, C).to(device)
    mask = causal_mask(T, device=device)
    x = torch.randn(B, T, C, generator=torch.Generator().manual_seed(cfg.seed)).to(device)  # (B, T, C)
    sides = {f"dilated conv, {layers} layers": (stack, lambda x: stack(x)[0]),
             "attention, 1 layer": (layer, lambda x: layer(x, x, mask)[0])}

    def train(module, forward):
        params = list(module.parameters())
        return lambda: torch.autograd.grad(forward(x).sum(), params)

    rounds = interleaved({n: train(m, f) for n, (m, f) in sides.items()}, device, cfg.rounds)
    names = list(sides)
    return {"formula": {names[0]: conv_flops(layers, B, T, C, cfg.kernel), names[1]: attention_flops(B, T, C)},
            "counted": {names[0]: counted(sides[names[0]][1], x),
                        names[1]: counted(lambda x: layer(x, x, mask, need_weights=True)[0], x)},
            "params": {n: sum(p.numel() for p in m.parameters()) for n, (m, _) in sides.items()},
            "seconds": rounds}


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"Reach: output {cfg.span - 1} against input 0 (a {cfg.span}-token window), float64, random weights, width "
        f"{cfg.probe_channels}; DilatedCausalConv (kernel {cfg.kernel}, dilations 1, 2, 4, ...) with 1 .. "
        f"{cfg.max_layers} layers, and one causal self-attention layer. Cost at T = {cfg.span}, width "
        f"{cfg.channels}, batch {cfg.batch}: forward FLOPs and forward + backward time ({cfg.rounds} interleaved "
        "rounds, one thread)."), profile, config(profile), cfg.seed)
    with one_thread():
        reach = conv_reach(cfg)
        attn = attention_reach(cfg)
        first = next((L for L, g in reach.items() if g > 0), None)
        cost = costs(cfg, first if first is not None else cfg.max_layers)
    result.add_table(f"does output {cfg.span - 1} see input 0?",
                     ["model", "layers", "receptive field (C17 formula)", "formula says it reaches",
                      "|gradient| at input 0", "reaches (gradient)"],
                     [["dilated conv", L, analytic_field(L, cfg.kernel), analytic_field(L, cfg.kernel) >= cfg.span,
                       g, g > 0] for L, g in reach.items()]
                     + [["attention", 1, cfg.span, True, attn, attn > 0]])
    timed = ["ms fwd+bwd", "min-max ms"]
    result.add_table(f"cost of each side at T = {cfg.span} (reported, not judged)",
                     ["side", "parameters", "forward MFLOPs (formula)", "forward MFLOPs (counted)", *timed],
                     [[n, cost["params"][n], cost["formula"][n] / 1e6, cost["counted"][n] / 1e6,
                       median_ms(s), range_ms(s)] for n, s in cost["seconds"].items()], timing=timed)
    return _verdict(result, reach, attn, cost, cfg)


def _verdict(result, reach: dict[int, float], attn: float, cost: dict, cfg: Config):
    first = next((L for L, g in reach.items() if g > 0), None)
    needed = layers_needed(cfg.span, cfg.kernel, True)
    monotone = first is not None and all((g > 0) == (L >= first) for L, g in reach.items())
    formula_agrees = first == needed and monotone
    in_range = first is not None and LAYERS[0] <= first <= LAYERS[1]
    flops_agree = all(cost["formula"][n] == cost["counted"][n] for n in cost["formula"])
    names = list(cost["formula"])
    flop_ratio = cost["formula"][names[1]] / cost["formula"][names[0]]
    verdict = judge(enough=True, confirmed=attn > 0 and in_range, refuted=attn == 0 or not in_range)
    result.notes.append(f"Forward FLOPs at T = {cfg.span}: one attention layer / the {names[0]} = {flop_ratio:.2f} "
                        f"(formula = torch's count: {flops_agree}); attention's T^2 terms grow 4x per doubling of T, "
                        "the stack's cost about 2x (plus one layer).")
    result.timing = ["headline"]  # quotes measured times
    ms = {n: median_ms(s) for n, s in cost["seconds"].items()}
    return finish(result, verdict,
                  f"Confirmed when one attention layer's output {cfg.span - 1} has a non-zero gradient at input 0 and "
                  f"the fewest dilated conv layers whose output {cfg.span - 1} has one (float64, exact zero = no "
                  f"path) lie in {LAYERS[0]}..{LAYERS[1]}; refuted when attention has no such gradient or the fewest "
                  "layers lie outside. The receptive-field formula and the costs are reported beside it.",
                  f"dilated conv reaches input 0 first at L = {first} (formula: {needed}; agrees, and every deeper "
                  f"stack reaches, every shallower does not: {formula_agrees}); attention |gradient| at input 0 "
                  f"{attn:.3g}; forward FLOPs attention / conv {flop_ratio:.2f}",
                  f"attention: 1 layer; dilated conv: {first} layers (formula {needed}); time "
                  + ", ".join(f"{n} {t:.3g} ms" for n, t in ms.items()))
