"""The full profile's units per claim, their estimated FLOPs, and minutes on one H100 and on 2 CPU cores.

    python scripts/plan_full.py runs/quick [--gpu-tflops 2]

The CPU rate is calibrated from a finished run folder (quick profile): the median of
estimated FLOPs / wall time over its untimed training units, each of which ran on one
torch thread; 2 cores run two units at once. The GPU rate is an assumption stated on the
command line (default 2 TFLOP/s: the small recurrent models of the ledger leave an H100
bound by kernel launches, far below its peak). Claims whose units list more units once
earlier ones are done (C4, C25) are counted at their first wave plus the dependents the
rule can add (at most). Timed single-unit claims carry no FLOP estimate ("-").
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

from seqlab.experiments.core.units import plan
from seqlab.experiments.registry import REGISTRY, load

DEPENDENT = {"C4": 3, "C25": 2}  # units a first-wave unit can add: C4 RNN long + 2 gated short; C25 LSTM + GRU


def cpu_rate(folder: Path) -> float:
    """Median FLOP/s of one torch thread over the run's untimed units with a FLOP estimate."""
    rates = []
    for path in folder.glob("*/units/*.json"):
        rec = json.loads(path.read_text())
        if rec.get("flops") and not rec.get("timed") and rec.get("wall_time", 0) > 1:
            rates.append(rec["flops"] / rec["wall_time"])
    return statistics.median(rates)


def rows(cpu: float, gpu: float) -> list[list]:
    out = []
    for claim_id in REGISTRY:
        units = plan(load(claim_id), "full", {})
        extra = DEPENDENT.get(claim_id, 0) * sum(1 for u in units if "-long-" in u.key and
                                                 ("transformer" in u.key or "-lstm-" in u.key))
        n = len(units) + extra
        flops = [u.flops for u in units if u.flops]
        if not flops:
            out.append([claim_id, n, "-", "-", "-", "timed" if any(u.timed for u in units) else ""])
            continue
        biggest, total = max(flops), sum(flops) * n / len(units)
        out.append([claim_id, n, f"{biggest:.2g}", f"{biggest / gpu / 60:.2g}", f"{total / (2 * cpu) / 60:.3g}",
                    "timed" if any(u.timed for u in units) else ""])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished quick-profile run folder (for the CPU rate)")
    parser.add_argument("--gpu-tflops", type=float, default=2.0, help="assumed sustained TFLOP/s on one H100")
    args = parser.parse_args()
    cpu = cpu_rate(args.run)
    print(f"CPU: {cpu / 1e9:.2f} GFLOP/s per torch thread (median over {args.run}'s units); "
          f"GPU: {args.gpu_tflops:g} TFLOP/s assumed")
    print("| claim | full units | largest unit, FLOPs | largest unit, min on 1 H100 | all units, min on 2 CPU cores |"
          " note |")
    print("|---|---|---|---|---|---|")
    for row in rows(cpu, args.gpu_tflops * 1e12):
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
