"""C16: recurrence forces O(n) sequential steps; attention needs O(1) per layer and uses the hardware better.

Three parts, one counted and two measured:

- Sequential depth (counted from the built models): the longest chain of
  dependent layer applications in one forward pass. A recurrent stack of L layers
  over T steps is a chain of T + L - 1 (layers pipelined along the diagonal); a
  convolution or attention layer is one link whatever T is. The LSTM seq2seq
  chains encoder then decoder; ConvS2S and the Transformer chain their layers.
- Fixed work (decides on a CPU; run everywhere): B x T = ``tokens`` target tokens
  per training step whatever T is, T from 16 to 1024, one teacher-forced training
  step of the LSTM seq2seq and of the Transformer (``seqlab.bench.models``, matched
  parameter counts), all (model, T) pairs timed in the same interleaved rounds.
  Achieved FLOP/s = counted FLOPs / median time. The mechanism under test: with
  B x T fixed, every one of the LSTM's T sequential steps multiplies a (B, H) @
  (H, 4H) GEMM whose B = tokens / T shrinks as T grows, so its FLOP/s should fall;
  the Transformer's (B T, d) GEMMs keep their size. The slopes of log FLOP/s
  against log T are fitted over all T, and again with each T left out, so that no
  single point decides. The run also times that one (B, H) @ (H, 4H) GEMM alone at
  each B, to show how much width this machine loses as B shrinks. On a CPU the
  quick profile times on one thread (``Config.threads``): one core already has the
  width in question (its vector units and GEMM blocking: the small-B GEMM reaches a
  fraction of what B = 128 reaches), and on a 2-core machine shared with anything
  else a second thread turns every parallel op into a wait for the other core, which
  swamps the slopes. The full profile uses every thread the run has.
- On an accelerator (decides there, as before): one training step of the LSTM
  seq2seq, ConvS2S and the Transformer at a fixed batch for growing T: time (and
  its fitted exponent in T), target tokens/s and model-FLOPs utilization (counted
  FLOPs per second over the GEMM peak measured in the same run by
  ``seqlab.bench.machine``). On an accelerator that one recurrent step already
  fills there is no idle width for parallelism to win back: inconclusive.
"""

from __future__ import annotations

import contextlib
import functools
import statistics
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils import flop_counter

from seqlab.bench import machine, models
from seqlab.bench.measure import fit_exponent
from seqlab.config import to_dict
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.core import rules
from seqlab.experiments.core.base import check_profile, judge, finish, new_result
from seqlab.experiments.core.timing import interleaved
from seqlab.nn.conv import GLUConv
from seqlab.nn.transformer import DecoderLayer, EncoderLayer
from seqlab.train.device import pick_device

CLAIM_ID = "C16"
CLAIM = ("A recurrent network needs O(n) sequential steps for n tokens while a Transformer needs O(1) per layer, "
         "so Transformers use parallel hardware far better (higher tokens/s and utilization).")
RNN, TRANSFORMER = "lstm seq2seq", "transformer"
FIXED = (RNN, TRANSFORMER)
TIMED = True  # the verdict rests on measured times: the runner runs this claim alone


@dataclass(frozen=True)
class Config:
    vocab: int = 64
    params: int = 200_000
    # accelerator measurement: fixed batch, growing T (decides on an accelerator)
    batch: int = 8
    lengths: tuple[int, ...] = (16, 32, 64, 128, 256)
    gemm_n: int = 512
    warmup: int = 1
    repeats: int = 3
    # fixed-work measurement: B * T = tokens (decides on a CPU)
    tokens: int = 2048
    work_lengths: tuple[int, ...] = (16, 64, 256, 1024)
    rounds: int = 4
    threads: int | None = 1  # CPU threads for the fixed-work timing; None: as many as the run has
    confirm_gap: float = 0.5  # Transformer slope - LSTM slope (log FLOP/s vs log T) at least this in every fit
    refute_gap: float = 0.25  # ... at most this in every fit
    seed: int = 0


PROFILES = {"quick": Config(),
            "full": Config(vocab=1000, params=10_000_000, batch=32, lengths=(64, 128, 256, 512, 1024),
                           gemm_n=4096, warmup=2, repeats=10, tokens=16384,
                           work_lengths=(16, 32, 64, 128, 256, 512, 1024), rounds=5, threads=None)}
TINY = Config(vocab=16, params=4_000, batch=2, lengths=(4, 8), gemm_n=32, warmup=0, repeats=1, tokens=16,
              work_lengths=(2, 4, 8), rounds=1)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def cpu_attention_formulas() -> dict:
    """FLOP formulas for the CPU flash-attention kernels, which torch's FlopCounterMode lacks.

    Without them a Transformer's attention counts zero FLOPs on a CPU, and at long T
    (where attention is most of the work) its achieved FLOP/s would read far too
    low. The formulas are torch's own for the GPU kernels (full T x S, causal or not).
    """
    aten, known = torch.ops.aten, flop_counter.flop_registry
    pairs = {"_scaled_dot_product_flash_attention_for_cpu": aten._scaled_dot_product_flash_attention,
             "_scaled_dot_product_flash_attention_for_cpu_backward": aten._scaled_dot_product_flash_attention_backward}
    out = {}
    for cpu, gpu in pairs.items():
        if hasattr(aten, cpu) and getattr(aten, cpu) not in known:
            formula = known[gpu]  # already takes tensors (shape-wrapped): tell FlopCounterMode not to wrap again
            out[getattr(aten, cpu)] = lambda *args, _f=formula, **kwargs: _f(*args, **kwargs)
            out[getattr(aten, cpu)]._get_raw = True
    return out


def step_flops(model: torch.nn.Module, step, tokens: int) -> float:
    """FLOPs of one call of ``step``, as ``seqlab.bench.models.model_flops`` counts them, CPU attention included.

    Counted ops (with :func:`cpu_attention_formulas`), plus 6 N tokens for each
    recurrent layer whose kernels the counter cannot see.
    """
    with flop_counter.FlopCounterMode(display=False, custom_mapping=cpu_attention_formulas()) as counter:
        step()
    counts, total = counter.get_flop_counts(), float(counter.get_total_flops())
    root = type(model).__name__
    for name, module in model.named_modules():
        if hasattr(module, "weight_hh_l0") and not sum(counts.get(f"{root}.{name}", {}).values()):
            total += 6.0 * models.count_params(module) * tokens
    return total


@contextlib.contextmanager
def cpu_threads(device: torch.device, threads: int | None):
    """Run the block on ``threads`` CPU threads (None or an accelerator: unchanged), restored after."""
    before = torch.get_num_threads()
    if device.type == "cpu" and threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@functools.lru_cache(maxsize=None)
def matched_width(name: str, vocab: int, max_len: int, params: int) -> int:
    """``seqlab.bench.models.match_width`` of one architecture, once per process."""
    return models.match_width(models.builders(vocab, max_len)[name], params)


def sequential_depth(model: torch.nn.Module, T: int) -> int:
    """Dependent layer applications on the longest path of one forward pass over T tokens."""
    depth = 0
    for module in model.modules():
        if hasattr(module, "weight_hh_l0"):  # recurrent stack: T steps per layer, layers pipelined
            depth += T + module.num_layers - 1
        elif isinstance(module, (GLUConv, EncoderLayer, DecoderLayer)):  # one link, any T
            depth += 1
    return depth


def peak_gemm(cfg: Config, device: torch.device) -> tuple[float, torch.dtype]:
    """The machine's GEMM ceiling: FLOP/s of the fastest of repeated (n, n) @ (n, n) products, and the dtype."""
    dtype = list(machine.peak_dtypes(device).values())[-1]  # bf16 on CUDA (the models' autocast), else fp32
    _, timing = machine.gemm_flops(cfg.gemm_n, cfg.gemm_n, cfg.gemm_n, dtype, device, max(cfg.warmup, 2),
                                   max(cfg.repeats, 10))
    return 2.0 * cfg.gemm_n**3 / timing.low, dtype


def peak_and_step_fill(cfg: Config, device: torch.device) -> tuple[float, float, torch.dtype]:
    """(GEMM peak FLOP/s, fraction of it one LSTM step's (B, H) @ (H, 4H) reaches, dtype)."""
    peak, dtype = peak_gemm(cfg, device)
    width = matched_width(RNN, cfg.vocab, max(cfg.lengths), cfg.params)
    step, _ = machine.gemm_flops(cfg.batch, width, 4 * width, dtype, device, cfg.warmup, max(cfg.repeats, 5))
    return peak, step / peak, dtype


def is_accelerator(device: torch.device) -> bool:
    """Whether the fixed-batch (accelerator) rule decides on ``device``."""
    return device.type != "cpu"


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    device = pick_device("auto")
    accelerator = is_accelerator(device)
    result = new_result(CLAIM_ID, CLAIM, (
        f"LSTM seq2seq (2+2 layers) and Transformer (3+3 layers) at ~{cfg.params:,} parameters each "
        f"(seqlab.bench.models), vocabulary {cfg.vocab}. Fixed work: B x T = {cfg.tokens} target tokens per "
        f"teacher-forced training step, T in {list(cfg.work_lengths)}, {cfg.rounds} interleaved rounds after one "
        f"counted warm-up run; FLOPs counted while the step runs (CPU attention kernels included)"
        + ("." if accelerator else f", on {cfg.threads or torch.get_num_threads()} CPU thread(s).")
        + (f" Accelerator: also ConvS2S (4+4 blocks), batch {cfg.batch}, S = T in {list(cfg.lengths)}, median of "
           f"{cfg.repeats} after {cfg.warmup} warm-up." if accelerator else "")
        + f" Peak: a {cfg.gemm_n}^3 GEMM in the same run; {device.type}."), profile, config(profile), cfg.seed,
        seeds=(cfg.seed,))
    with cpu_threads(device, cfg.threads):  # the peak on the same threads as the steps it is compared with
        peak, step_fill, dtype = peak_and_step_fill(cfg, device)
        work = fixed_work(cfg, device)
        again = peak_gemm(cfg, device)[0]  # a busy machine can miss the ceiling once: keep the higher
        step_fill, peak = step_fill * peak / max(peak, again), max(peak, again)
    depth = _depths(FIXED, cfg.work_lengths, cfg)
    _work_tables(result, work, depth, peak, cfg)
    result.notes.append(f"GEMM peak here: {peak / 1e9:.1f} GFLOP/s ({str(dtype).replace('torch.', '')}, "
                        f"{device.type})" + (f"; one LSTM step's GEMM at batch {cfg.batch} reaches {step_fill:.0%} of "
                                             f"it." if accelerator else "."))
    result.notes.append("Sequential depth is counted from the built modules; FLOPs are counted while the step runs "
                        "(see seqlab.bench.models), attention's T x S products at full size, as torch's counter "
                        "counts them (the decoder's masked self-attention computes them all here too).")
    gpu = None
    if accelerator:
        torch.manual_seed(cfg.seed)
        section = models.run(device, cfg.vocab, cfg.params, cfg.batch, cfg.lengths, peak, cfg.warmup, cfg.repeats)
        rows = {(r["model"], r["T"]): r for r in section.rows}
        names = list(dict.fromkeys(r["model"] for r in section.rows))
        gdepth = _depths(names, cfg.lengths, cfg)
        result.add_table("training step by architecture (fixed batch)", [
            "model", "params", "T", "sequential depth", "median ms", "target ktok/s", "GFLOP/s", "MFU"],
            [[r["model"], r["params"], r["T"], gdepth[(r["model"], r["T"])], r["median_ms"], r["ktok_s"],
              r["gflop_s"], r["mfu"]] for r in section.rows],
            timing=["median ms", "target ktok/s", "GFLOP/s", "MFU"])
        exps = {n: fit_exponent(list(cfg.lengths), [rows[(n, T)]["median_s"] for T in cfg.lengths]) for n in names}
        result.add_table("scaling with T (fixed batch)", ["model", "time ~ T^p: p", f"depth at T={cfg.lengths[0]}",
                                                          f"depth at T={cfg.lengths[-1]}"],
                         [[n, exps[n], gdepth[(n, cfg.lengths[0])], gdepth[(n, cfg.lengths[-1])]] for n in names],
                         timing=["time ~ T^p: p"])
        Ts = np.asarray(cfg.lengths)
        result.add_figure("mfu_vs_T", "Model-FLOPs utilization against T at a fixed batch, per architecture.",
                          line_plot({n: (Ts, [rows[(n, T)]["mfu"] for T in cfg.lengths]) for n in names},
                                    "MFU vs T (fixed batch)", "T", "fraction of GEMM peak", logx=True))
        gpu = {"rows": rows, "exps": exps, "depth": gdepth, "step_fill": step_fill}
    result.timing = ["decided_by", "headline", "notes"]  # all three quote measured rates or times
    return _verdict(result, work["rate"], depth, cfg, gpu)


def fixed_work(cfg: Config, device: torch.device) -> dict:
    """Counted FLOPs, interleaved seconds and FLOP/s of one training step per (model, T), B = tokens / T.

    Also the seconds of the LSTM's per-step GEMM (B, H) @ (H, 4H) alone at each B.
    """
    torch.manual_seed(cfg.seed)
    build = models.builders(cfg.vocab, max(cfg.work_lengths))
    fns, flops, params, width = {}, {}, {}, {}
    for name in FIXED:
        width[name] = matched_width(name, cfg.vocab, max(cfg.work_lengths), cfg.params)
        model = build[name](width[name]).to(device)
        params[name] = models.count_params(model)
        weights = [p for p in model.parameters() if p.requires_grad]
        for T in cfg.work_lengths:
            B = cfg.tokens // T
            tokens = torch.randint(1, cfg.vocab, (B, T + 1), device=device)  # (B, T+1)
            step = models.teacher_forced_step(model, weights, tokens, device)
            flops[name, T] = step_flops(model, step, B * T)  # runs the step once (counted)
            fns[name, T] = step
    seconds = interleaved(fns, device, cfg.rounds, warmup=0)  # the counted run above was the warm-up
    rate = {key: flops[key] / statistics.median(secs) for key, secs in seconds.items()}
    dtype = list(machine.peak_dtypes(device).values())[-1]
    H = width[RNN]
    gemm = {T: machine.gemm_flops(cfg.tokens // T, H, 4 * H, dtype, device, 2, 20)[0] for T in cfg.work_lengths}
    return {"flops": flops, "seconds": seconds, "rate": rate, "params": params, "width": width, "gemm": gemm}


def _work_tables(result, work: dict, depth: dict, peak: float, cfg: Config) -> None:
    secs, rate = work["seconds"], work["rate"]
    H = work["width"][RNN]
    result.add_table(f"fixed work: B x T = {cfg.tokens} target tokens per training step", [
        "model", "params", "T", "B", "sequential depth", "GFLOP per step", "median ms", "min-max ms", "GFLOP/s",
        "fraction of GEMM peak"],
        [[name, work["params"][name], T, cfg.tokens // T, depth[name, T], work["flops"][name, T] / 1e9,
          1e3 * statistics.median(secs[name, T]), f"{1e3 * min(secs[name, T]):.4g}-{1e3 * max(secs[name, T]):.4g}",
          rate[name, T] / 1e9, rate[name, T] / peak] for name in FIXED for T in cfg.work_lengths],
        timing=["median ms", "min-max ms", "GFLOP/s", "fraction of GEMM peak"])
    result.add_table(f"the LSTM's per-step GEMM (B, {H}) @ ({H}, {4 * H}) alone", [
        "T", "B", "GFLOP/s", "fraction of GEMM peak"],
        [[T, cfg.tokens // T, work["gemm"][T] / 1e9, work["gemm"][T] / peak] for T in cfg.work_lengths],
        timing=["GFLOP/s", "fraction of GEMM peak"])
    full, loo = slope_fits(cfg.work_lengths, rate)
    result.add_table("slopes of log FLOP/s against log T (fixed work)", [
        "fit", "LSTM slope", "Transformer slope", "Transformer - LSTM"],
        [["all T", full[RNN], full[TRANSFORMER], full[TRANSFORMER] - full[RNN]]]
        + [[f"without T={T}", fit[RNN], fit[TRANSFORMER], fit[TRANSFORMER] - fit[RNN]]
           for T, fit in zip(cfg.work_lengths, loo)],
        timing=["LSTM slope", "Transformer slope", "Transformer - LSTM"])
    Ts = np.asarray(cfg.work_lengths)
    result.add_figure("flops_vs_T_fixed_work", f"Achieved GFLOP/s against T with B x T = {cfg.tokens} fixed.",
                      line_plot({name: (Ts, [rate[name, T] / 1e9 for T in cfg.work_lengths]) for name in FIXED}
                                | {f"LSTM step GEMM (B, {H}) @ ({H}, {4 * H})":
                                   (Ts, [work["gemm"][T] / 1e9 for T in cfg.work_lengths])},
                                f"fixed work B x T = {cfg.tokens}", "T", "GFLOP/s", logy=True, logx=True))


def slope_fits(lengths, rate: dict) -> tuple[dict, list[dict]]:
    """Slopes of log FLOP/s vs log T per model: over all T, and once with each T left out (in order)."""
    def fit(Ts):
        return {name: fit_exponent(list(Ts), [rate[name, T] for T in Ts]) for name in FIXED}

    return fit(lengths), [fit([t for t in lengths if t != T]) for T in lengths]


def _depths(names, lengths, cfg: Config) -> dict:
    """(model, T) -> sequential depth, counted on meta-device models of the measured widths."""
    out = {}
    for name in names:
        build = models.builders(cfg.vocab, max(lengths))[name]
        with torch.device("meta"):
            model = build(matched_width(name, cfg.vocab, max(lengths), cfg.params))
        out.update({(name, T): sequential_depth(model, T) for T in lengths})
    return out


def _verdict(result, rate: dict, depth: dict, cfg: Config, gpu: dict | None = None):
    """Fixed-work rule on a CPU; the accelerator rule when ``gpu`` holds that measurement."""
    W = cfg.work_lengths
    grows = depth[RNN, W[-1]] > depth[RNN, W[0]] and depth[TRANSFORMER, W[-1]] == depth[TRANSFORMER, W[0]]
    full, loo = slope_fits(W, rate)
    gaps = [full[TRANSFORMER] - full[RNN]] + [f[TRANSFORMER] - f[RNN] for f in loo]
    gates = [rules.at_least("lengths in the fixed-work fit (one left out still leaves 3)", len(W), 4),
             rules.at_least("span of T in the fixed-work fit (longest / shortest)", W[-1] / W[0], 16),
             rules.at_least("sequences per batch at the longest T (B = tokens / T)", cfg.tokens // W[-1], 1)]
    work_text = (f"fixed work B x T = {cfg.tokens}: slope of log FLOP/s vs log T, LSTM {full[RNN]:+.2f}, "
                 f"Transformer {full[TRANSFORMER]:+.2f} (difference {gaps[0]:+.2f}; leaving one T out: "
                 + ", ".join(f"{g:+.2f}" for g in gaps[1:]) + f"); sequential depth at T={W[-1]}: LSTM "
                 f"{depth[RNN, W[-1]]} vs Transformer {depth[TRANSFORMER, W[-1]]}")
    work_rule = (f"Fixed-work rule: with B x T fixed and T from {W[0]} to {W[-1]}, fit the slope of log achieved "
                 f"FLOP/s against log T for each model, over all T and again with each T left out. Confirmed when "
                 f"the LSTM's sequential depth grows with T while the Transformer's does not, and the Transformer's "
                 f"slope exceeds the LSTM's by at least {cfg.confirm_gap} in every one of these fits (the LSTM's "
                 f"FLOP/s falls, relative to the Transformer's, by >= {(W[-1] / W[0]) ** cfg.confirm_gap:.1f}x over "
                 f"the range); refuted when the excess is at most {cfg.refute_gap} in every fit (the Transformer "
                 f"holds its FLOP/s no better than the LSTM, or hardly).")
    if gpu is None:
        verdict = judge(enough=rules.gates_pass(gates), confirmed=grows and min(gaps) >= cfg.confirm_gap,
                         refuted=max(gaps) <= cfg.refute_gap)
        return finish(result, verdict, "gates: at least 4 lengths spanning 16x, at least one sequence per batch. "
                      + work_rule + " On an accelerator the fixed-batch rule decides instead (see the docstring).",
                      work_text,
                      f"fixed work: FLOP/s ~ T^{full[RNN]:+.2f} LSTM vs T^{full[TRANSFORMER]:+.2f} Transformer "
                      f"(difference {gaps[0]:+.2f}, {min(gaps):+.2f}..{max(gaps):+.2f} leaving one T out); depth "
                      f"{depth[RNN, W[-1]]} vs {depth[TRANSFORMER, W[-1]]} at T={W[-1]}", gates=gates)
    return _gpu_verdict(result, gpu, cfg, gates, work_text)


def _gpu_verdict(result, gpu: dict, cfg: Config, gates: list, work_text: str):
    rows, exps, depth, step_fill = gpu["rows"], gpu["exps"], gpu["depth"], gpu["step_fill"]
    T, T0 = cfg.lengths[-1], cfg.lengths[0]
    rnn, tr = rows[(RNN, T)], rows[(TRANSFORMER, T)]
    mfu_ratio, tok_ratio = tr["mfu"] / rnn["mfu"], tr["ktok_s"] / rnn["ktok_s"]
    grows = depth[(RNN, T)] > depth[(RNN, T0)] and depth[(TRANSFORMER, T)] == depth[(TRANSFORMER, T0)]
    gates = [*gates, rules.at_least("lengths in the fixed-batch grid", len(cfg.lengths), 4),
             rules.at_most("one LSTM step's GEMM fills this accelerator (fraction of peak)", step_fill, 0.5)]
    confirmed = grows and mfu_ratio >= 2.0 and tok_ratio >= 1.0
    refuted = mfu_ratio < 1.0
    result.timing = [*result.timing, "gates"]  # the idle-width gate quotes a measured fraction of the peak
    verdict = judge(enough=rules.gates_pass(gates), confirmed=confirmed, refuted=refuted)
    return finish(result, verdict,
                  "On an accelerator: gates as on a CPU, at least 4 lengths in the fixed-batch grid, and one "
                  "recurrent step must leave the accelerator idle width (its (B, H) @ (H, 4H) GEMM below 50% of the "
                  "measured peak). Confirmed when the LSTM's sequential depth grows with T while the Transformer's "
                  "does not, and at the longest T the Transformer reaches at least 2x the LSTM's model-FLOPs "
                  "utilization with at least its tokens/s; refuted when the LSTM's utilization is the higher. "
                  "The fixed-work slopes are reported beside it.",
                  f"T={T}: sequential depth LSTM {depth[(RNN, T)]} vs Transformer {depth[(TRANSFORMER, T)]}; MFU "
                  f"LSTM {rnn['mfu']:.3f}, Transformer {tr['mfu']:.3f} (x{mfu_ratio:.2f}); target ktok/s LSTM "
                  f"{rnn['ktok_s']:.1f}, Transformer {tr['ktok_s']:.1f} (x{tok_ratio:.2f}); time ~ T^p: "
                  + ", ".join(f"{n} {p:.2f}" for n, p in exps.items())
                  + f"; one LSTM step's GEMM fills {step_fill:.0%} of the peak. " + work_text,
                  f"depth {depth[(RNN, T)]} vs {depth[(TRANSFORMER, T)]} at T={T}; Transformer MFU x{mfu_ratio:.1f}, "
                  f"tokens/s x{tok_ratio:.1f} vs LSTM", gates=gates)
