"""C15: local attention cuts the O(n m) cost of global attention.

The claim is about cost alone, so this experiment times the attention layer and
nothing else: seqlab's own ``Luong.attend`` (general score) in its three modes,
global, local-m and local-p with half-width D, over source lengths S from 32 up.

What is timed, and why it is honest about the n x m cost:

- One call runs T target steps the way the input-feeding decoder runs them, one
  ``attend`` per step on a (B, H) query, then one backward pass. Global attention
  scores all S source positions at every step (cost ~ T S H); local attention
  gathers the W = 2D + 1 positions of its window (cost ~ T W H, whatever S is).
  T is fixed, S grows, so the n x m term shows as the time per target step
  growing with S. Times are reported per target step (call time / T).
- The encoder memory (outputs and the keys W_a h_s) is made once per source, as
  ``Luong.encode`` does, outside the timed region: it costs O(S) per sentence for
  every mode alike and is not part of the n x m term.
- Part "attention": the backward reaches the queries and the parameters
  ``attend`` uses (W_p and v_p for local-p; W_a acts on the keys, in encode).
  This is the scoring computation whose count the claim is about; its exponents
  decide.
- Part "+ memory gradient": the backward also reaches the encoder memory, as a
  training step needs. seqlab gathers a local window with ``torch.gather``, whose
  backward writes a dense (B, S, H) gradient for every target step, so here local
  attention also grows with S (a memory fill, no scores). It is reported, and a
  local variant must still be clearly faster than global at the longest S.

All variants, lengths and both parts run in interleaved rounds in one process
(``seqlab.experiments.core.timing``); on a CPU on one thread: the claim is about the
amount of work, and on a 2-core machine shared with anything else a second
thread mostly waits (local attention's ops are big enough for torch to split).
The counted cost (positions scored per target step: S for global, 2D + 1 for
local) is deterministic and sits beside the times.
Quality at equal updates is not part of this claim (its wording is about cost).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from seqlab.bench.measure import fit_exponent
from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, judge, finish, new_result
from seqlab.experiments.core.timing import interleaved
from seqlab.experiments.core.training import one_thread
from seqlab.nn.luong import Luong
from seqlab.nn.seq2seq import Memory

CLAIM_ID = "C15"
CLAIM = "Local attention, restricted to a window, cuts the O(n x m) cost of attending to the whole source."
TIMED = True  # the verdict rests on measured times: the runner runs this claim alone

MODES = ("global", "local-m", "local-p")
LOCAL = ("local-m", "local-p")
ATTENTION, TRAINING = "attention", "+ memory gradient"
PARTS = (ATTENTION, TRAINING)


@dataclass(frozen=True)
class Config:
    batch: int = 16
    hidden: int = 128
    half_width: int = 10  # D, Luong et al.'s choice
    target_steps: int = 8  # T attend calls per timed call
    lengths: tuple[int, ...] = (32, 64, 128, 256, 512, 1024, 2048)
    rounds: int = 5
    warmup: int = 1
    global_grows: float = 0.5  # global's time exponent in S must reach this (and a local one that does "grows")
    local_flat: float = 0.3  # a local variant's exponent must stay at or below this
    margin: float = 2.0  # local clearly faster than global at the longest S (attention part)
    training_margin: float = 1.5  # the same with the gradient into the memory
    min_windows: int = 16  # gate: the longest source holds at least this many windows (2D + 1)
    seed: int = 0


PROFILES = {
    "quick": Config(),
    "full": Config(batch=128, hidden=1024, target_steps=16, rounds=10, warmup=2),  # sized for a GPU
}
TINY = Config(batch=2, hidden=8, half_width=2, target_steps=2, lengths=(8, 16, 32), rounds=2, warmup=0)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def run(profile: str = "quick"):
    return run_config(PROFILES[check_profile(profile)], profile)


def models(cfg: Config) -> dict[str, Luong]:
    """One Luong model per mode (general score, half-width D), all with global's W_a; only ``attend`` is used."""
    torch.manual_seed(cfg.seed)
    nets = {mode: Luong(4, 4, embed_dim=4, hidden=cfg.hidden, score="general", mode=mode,
                        half_width=cfg.half_width) for mode in MODES}
    for mode in LOCAL:
        nets[mode].score.load_state_dict(nets["global"].score.state_dict())  # same keys for every mode
    return nets


def source(S: int, cfg: Config, score: torch.nn.Module, device: torch.device):
    """The memory of one source of S positions: encoder outputs h_s and keys W_a h_s, each (B, S, H).

    Made once per source, as ``Luong.encode`` does, and shared by every mode and part.
    """
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + S)
    outputs = torch.tanh(torch.randn(cfg.batch, S, cfg.hidden, generator=g)).to(device)
    with torch.no_grad():
        return outputs, score.project_keys(outputs)


def attention_call(model: Luong, outputs: torch.Tensor, keys: torch.Tensor, cfg: Config,
                   memory_grad: bool) -> Callable:
    """T target steps of ``model.attend`` over one source's memory, forward + backward.

    Gradients go to the queries and the parameters ``attend`` uses (local-p's W_p and
    v_p; W_a acts in ``project_keys``), and with ``memory_grad`` also to the outputs
    and keys (views of the shared memory, so no copy is made).
    """
    B, S, H = outputs.shape
    outputs, keys = outputs.detach().requires_grad_(memory_grad), keys.detach().requires_grad_(memory_grad)
    memory = Memory(outputs=outputs, mask=torch.ones(B, S, dtype=torch.bool, device=outputs.device), keys=keys)
    g = torch.Generator().manual_seed(cfg.seed * 100_003 + S + 1)
    queries = [torch.tanh(torch.randn(B, H, generator=g)).to(outputs.device).requires_grad_()
               for _ in range(cfg.target_steps)]  # h_t (B, H)
    params = [] if model.position is None else list(model.position.parameters())  # local-p: W_p, v_p
    wrt = queries + params + ([outputs, keys] if memory_grad else [])

    def call():
        loss = sum(model.attend(q, memory, t)[0].sum() for t, q in enumerate(queries))  # c_t summed
        return torch.autograd.grad(loss, wrt)

    return call


def measure(cfg: Config, device: torch.device) -> dict[tuple[str, str, int], list[float]]:
    """Seconds per target step of every (part, mode, S), all in the same interleaved rounds."""
    nets = {mode: model.to(device) for mode, model in models(cfg).items()}
    fns = {}
    for S in cfg.lengths:
        outputs, keys = source(S, cfg, nets["global"].score, device)
        fns |= {(part, mode, S): attention_call(nets[mode], outputs, keys, cfg, part == TRAINING)
                for part in PARTS for mode in MODES}
    with one_thread():  # the claim is about the amount of work; a second thread only waits
        times = interleaved(fns, device, cfg.rounds, cfg.warmup)
    return {key: [s / cfg.target_steps for s in secs] for key, secs in times.items()}


def positions_scored(mode: str, S: int, half_width: int) -> int:
    """Source positions scored per target step: all S for global, the gathered window 2D + 1 for local."""
    return S if mode == "global" else 2 * half_width + 1


def crossover(times: dict, part: str, mode: str, lengths) -> int | None:
    """The shortest S from which ``mode`` is faster than global (medians) at that S and every longer one."""
    out = None
    for S in reversed(lengths):
        if statistics.median(times[part, mode, S]) < statistics.median(times[part, "global", S]):
            out = S
        else:
            break
    return out


def run_config(cfg: Config, profile: str = "quick"):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    W = 2 * cfg.half_width + 1
    result = new_result(CLAIM_ID, CLAIM, (
        f"seqlab's Luong.attend (general score, hidden {cfg.hidden}) in global, local-m and local-p mode with "
        f"D = {cfg.half_width} (window {W}), batch {cfg.batch}, S in {list(cfg.lengths)}: one timed call runs "
        f"{cfg.target_steps} target steps (one attend each, as the input-feeding decoder does) and one backward "
        f"pass, to the queries and the attention parameters ('{ATTENTION}') or also to the encoder memory "
        f"('{TRAINING}'); the memory is built once per source, outside the timing. Time per target step, "
        f"{cfg.rounds} interleaved rounds after {cfg.warmup} warm-up, {device.type}"
        + (" on one thread (the work, not the parallel speed)." if device.type == "cpu" else ".")),
        profile, to_dict(cfg), cfg.seed, seeds=(cfg.seed,))
    times = measure(cfg, device)
    ms = {k: 1e3 * statistics.median(v) for k, v in times.items()}
    for part in PARTS:
        result.add_table(f"time per target step, ms ({part})",
                         ["S", "positions scored: global", "positions scored: local", *(f"{m} ms" for m in MODES),
                          *(f"{m} min-max ms" for m in MODES)],
                         [[S, *(positions_scored(m, S, cfg.half_width) for m in ("global", "local-m")),
                           *(ms[part, m, S] for m in MODES),
                           *(f"{1e3 * min(times[part, m, S]):.3g}-{1e3 * max(times[part, m, S]):.3g}" for m in MODES)]
                          for S in cfg.lengths],
                         timing=[*(f"{m} ms" for m in MODES), *(f"{m} min-max ms" for m in MODES)])
    exps = {(part, m): fit_exponent(list(cfg.lengths), [ms[part, m, S] for S in cfg.lengths])
            for part in PARTS for m in MODES}
    counted = {m: fit_exponent(list(cfg.lengths), [positions_scored(m, S, cfg.half_width) for S in cfg.lengths])
               for m in MODES}
    longest = cfg.lengths[-1]
    result.add_table("scaling in S", ["mode", "positions scored ~ S^p: p", f"time ~ S^p: p ({ATTENTION})",
                                      f"time ~ S^p: p ({TRAINING})", f"crossover S ({ATTENTION})",
                                      f"crossover S ({TRAINING})", f"global / mode at S={longest} ({ATTENTION})",
                                      f"global / mode at S={longest} ({TRAINING})"],
                     [[m, counted[m], exps[ATTENTION, m], exps[TRAINING, m],
                       *(crossover(times, part, m, cfg.lengths) if m != "global" else None for part in PARTS),
                       *(ms[part, "global", longest] / ms[part, m, longest] for part in PARTS)] for m in MODES],
                     timing=[f"time ~ S^p: p ({ATTENTION})", f"time ~ S^p: p ({TRAINING})",
                             f"crossover S ({ATTENTION})", f"crossover S ({TRAINING})",
                             f"global / mode at S={longest} ({ATTENTION})",
                             f"global / mode at S={longest} ({TRAINING})"])
    Ss = np.asarray(cfg.lengths)
    result.add_figure("time_vs_S", "Attention time per target step against the source length (log-log).",
                      line_plot({f"{m} ({part})": (Ss, [ms[part, m, S] for S in cfg.lengths])
                                 for part in PARTS for m in MODES},
                                "attention time per target step", "source length S", "ms", logy=True, logx=True))
    result.notes.append(
        "Why the memory-gradient part grows for local attention too: the window is read with torch.gather, and "
        "autograd's gradient of a gather is a zero-filled tensor of the full (B, S, H) memory, once per target step, "
        "summed over the steps. No score is computed for positions outside the window, but every step still "
        "writes O(S H) memory in training. Decoding (forward only) does not pay it.")
    return _verdict(result, times, exps, cfg)


def _verdict(result, times: dict, exps: dict, cfg: Config):
    """The rule, on seconds per target step keyed (part, mode, S) and exponents keyed (part, mode)."""
    W, longest = 2 * cfg.half_width + 1, cfg.lengths[-1]
    gates = [rules.at_least("source lengths in the fit", len(cfg.lengths), 4),
             rules.at_least("windows in the longest source (S / (2D + 1))", longest / W, cfg.min_windows)]
    at_end = {(part, m): times[part, m, longest] for part in PARTS for m in MODES}
    glob = exps[ATTENTION, "global"]
    flat = all(exps[ATTENTION, m] <= cfg.local_flat for m in LOCAL)
    faster = all(rules.clearly_faster(at_end[ATTENTION, m], at_end[ATTENTION, "global"], cfg.margin) for m in LOCAL)
    faster_training = all(rules.clearly_faster(at_end[TRAINING, m], at_end[TRAINING, "global"], cfg.training_margin)
                          for m in LOCAL)
    not_faster = any(statistics.median(at_end[part, m]) >= statistics.median(at_end[part, "global"])
                     for part in PARTS for m in LOCAL)
    grows = any(exps[ATTENTION, m] >= cfg.global_grows for m in LOCAL)
    verdict = judge(enough=rules.gates_pass(gates),
                     confirmed=glob >= cfg.global_grows and flat and faster and faster_training,
                     refuted=not_faster or grows)
    med = {k: 1e3 * statistics.median(v) for k, v in at_end.items()}
    result.timing = ["decided_by", "headline"]  # both quote measured times and exponents
    return finish(
        result, verdict,
        f"gates: at least 4 source lengths, and the longest holds >= {cfg.min_windows} windows of 2D + 1. Time per "
        f"target step ~ S^p fitted over all lengths. Confirmed when, for the attention itself (backward to the "
        f"queries and parameters), global's p >= {cfg.global_grows}, both local variants' p <= {cfg.local_flat}, "
        f"and at the longest S both local variants are clearly faster than global (medians >= {cfg.margin}x apart, "
        f"the interleaved rounds apart: upper quartile below lower quartile), and still clearly faster by {cfg.training_margin}x "
        f"with the gradient into the encoder memory. Refuted when a local variant grows like global (p >= "
        f"{cfg.global_grows}) or is not faster than global at the longest S in either part.",
        f"time ~ S^p ({ATTENTION}): " + ", ".join(f"{m} {exps[ATTENTION, m]:.2f}" for m in MODES)
        + f"; ({TRAINING}): " + ", ".join(f"{m} {exps[TRAINING, m]:.2f}" for m in MODES)
        + f". At S={longest}, ms per target step ({ATTENTION}): "
        + ", ".join(f"{m} {med[ATTENTION, m]:.3g}" for m in MODES)
        + f"; ({TRAINING}): " + ", ".join(f"{m} {med[TRAINING, m]:.3g}" for m in MODES),
        f"attention time ~ S^{glob:.2f} global vs S^{max(exps[ATTENTION, m] for m in LOCAL):.2f} local, global "
        f"x{min(med[ATTENTION, 'global'] / med[ATTENTION, m] for m in LOCAL):.1f} slower at S={longest}; with the "
        f"memory gradient local grows too (S^{max(exps[TRAINING, m] for m in LOCAL):.2f}), global "
        f"x{min(med[TRAINING, 'global'] / med[TRAINING, m] for m in LOCAL):.1f} slower",
        gates=gates)
