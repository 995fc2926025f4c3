"""Run the chosen benchmark sections in one process and collect their tables.

The GEMM peak is always measured first (every "fraction of peak" divides by
it), even when the machine section itself is not shown.
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict
from typing import Callable

import torch

from seqlab.bench import attention, machine, models, recurrent, scan
from seqlab.bench.plan import SECTIONS, BenchPlan
from seqlab.bench.table import Section


def run_suite(plan: BenchPlan, device: torch.device, only: tuple[str, ...], log=None) -> tuple[dict, list[Section]]:
    """Returns (meta, sections) for the names in ``only``, in the order of ``SECTIONS``.

    Progress lines go to ``log`` (default: the current ``sys.stderr``).
    """
    log = log if log is not None else sys.stderr
    meta = {"machine": machine.describe(device), "plan": asdict(plan), "sections": list(only)}
    started = time.perf_counter()
    print("bench: measuring the GEMM peak", file=log, flush=True)
    machine_section, peaks = machine.run(
        device, plan.gemm_n, plan.copy_mib, plan.step_shapes, plan.warmup, plan.repeats
    )
    peak = peaks["bf16"] if "bf16" in peaks else peaks["fp32"]  # the dtype the models run in
    meta["peak_flops"] = peaks
    runners: dict[str, Callable[[], Section]] = {
        "machine": lambda: machine_section,
        "recurrent": lambda: recurrent.run(
            device, plan.rec_batches, plan.rec_hidden, plan.rec_lengths, plan.rec_compiled,
            peaks["fp32"], plan.warmup, plan.repeats,
        ),
        "scan": lambda: scan.run(device, plan.scan_lengths, plan.scan_shapes, plan.warmup, plan.repeats),
        "attention": lambda: attention.run(
            device, plan.att_lengths, plan.att_batch, plan.att_heads, plan.att_head_dim, peak,
            plan.warmup, plan.repeats,
        ),
        "models": lambda: models.run(
            device, plan.model_vocab, plan.model_params, plan.model_batch, plan.model_lengths, peak,
            plan.warmup, plan.repeats,
        ),
    }
    sections = []
    for name in SECTIONS:
        if name in only:
            print(f"bench: {name}", file=log, flush=True)
            sections.append(runners[name]())
    meta["wall_s"] = time.perf_counter() - started
    return meta, sections
