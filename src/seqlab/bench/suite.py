"""Run the chosen benchmark sections in one process and collect their tables.

The GEMM peak is always measured first (every "fraction of peak" divides by
it), even when the machine section itself is not shown. The plan is the one
given, except that the CPU grid (``plan.FULL``) becomes the GPU plan on a CUDA
device (``plan.for_device``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Callable

import torch

from seqlab.bench import attention, lm, machine, models, recurrent, scan
from seqlab.bench.plan import SECTIONS, BenchPlan, for_device
from seqlab.bench.table import Section


def run_suite(plan: BenchPlan, device: torch.device, only: tuple[str, ...], log=None) -> tuple[dict, list[Section]]:
    """Returns (meta, sections) for the names in ``only``, in the order of ``SECTIONS``.

    Progress lines go to ``log`` (default: the current ``sys.stderr``).
    """
    log = log if log is not None else sys.stderr
    plan = for_device(plan, device)
    meta = {"machine": machine.describe(device), "plan_name": plan.name, "plan": asdict(plan), "sections": list(only)}
    started = time.perf_counter()
    print(f"bench: plan '{plan.name}' on {device}; measuring the GEMM peak", file=log, flush=True)
    machine_section, peaks = machine.run(
        device, plan.gemm_n, plan.copy_mib, plan.step_shapes, plan.warmup, plan.repeats
    )
    machine_section.notes.append(f"plan '{plan.name}' ({_why(plan)})")
    peak = peaks["bf16"] if "bf16" in peaks else peaks["fp32"]  # the dtype the models run in
    meta["peak_flops"] = peaks
    runners: dict[str, Callable[[], Section]] = {
        "machine": lambda: machine_section,
        "recurrent": lambda: recurrent.run(
            device, plan.rec_batches, plan.rec_hidden, plan.rec_lengths, plan.rec_compiled,
            peak if plan.rec_bf16 else peaks["fp32"], plan.warmup, plan.repeats,
            archs=plan.rec_archs, variants=plan.rec_variants, bf16=plan.rec_bf16,
        ),
        "scan": lambda: scan.run(device, plan.scan_lengths, plan.scan_shapes, plan.warmup, plan.repeats,
                                 step_max=plan.scan_step_max),
        "attention": lambda: attention.run(
            device, plan.att_lengths, plan.att_batch, plan.att_heads, plan.att_head_dim, peak,
            plan.warmup, plan.repeats,
        ),
        "models": lambda: _models(plan, device, peak),
    }
    sections = []
    for name in SECTIONS:
        if name in only:
            print(f"bench: {name}", file=log, flush=True)
            sections.append(runners[name]())
    meta["wall_s"] = time.perf_counter() - started
    return meta, sections


def _models(plan: BenchPlan, device: torch.device, peak: float) -> Section:
    """The matched-size encoder-decoders, then (if the plan has one) the Transformer LM."""
    section = models.run(device, plan.model_vocab, plan.model_params, plan.model_batch, plan.model_lengths, peak,
                         plan.warmup, plan.repeats)
    if plan.lm_layers:
        rows, notes = lm.run(device, plan.lm_vocab, plan.lm_d_model, plan.lm_heads, plan.lm_layers, plan.lm_batch,
                             plan.lm_length, plan.lm_compile, peak, plan.warmup, plan.repeats)
        section.rows.extend(rows)
        section.notes.extend(notes)
    return section


def _why(plan: BenchPlan) -> str:
    return {"gpu": "chosen for a CUDA device: GPU-scale sizes, bf16",
            "quick": "--quick: tiny sizes, a smoke test", "full": "the CPU grid"}.get(plan.name, "as given")
