"""The full profile's units per claim, their estimated FLOPs, and minutes on one H100 and on 2 CPU cores.

    python scripts/plan_full.py runs/quick [--log quick.log] [--gpu-tflops 2]

CPU: each claim's rate is calibrated on a finished quick-profile run of this machine: the
estimated FLOPs of its quick units over the claim's measured wall time (one torch thread per
unit); 2 cores run two units at once, so the full profile's FLOPs / (2 x rate). GPU: an
assumed sustained rate (default 2 TFLOP/s: the ledger's small recurrent models leave an H100
bound by kernel launches, far below its peak), not a measurement. Claims whose units list more
units once earlier ones are done (C4) are counted with the most dependents their rule can
add. A claim that is one unit (instant, or one interleaved timing) carries no FLOP estimate ("-").
A run of the earlier runner, whose timed claims trained in a separate "prepared" step, names
those seconds in its log (``--log``); they are added to the claim's wall time.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from seqlab.experiments.core.units import plan
from seqlab.experiments.registry import REGISTRY, load

# units a first-wave unit can add: C4, per gated LSTM run at the long length, the RNN there and two
# gated nets at the short length
DEPENDENT = {"C4": ("-long-lstm-", 3)}


def units_and_flops(claim_id: str, profile: str) -> tuple[int, list[float]]:
    """How many units ``claim_id`` runs in ``profile`` (dependents at their most) and the FLOPs of each."""
    units = plan(load(claim_id), profile, {})
    flops = [u.flops for u in units]
    marker, extra = DEPENDENT.get(claim_id, ("", 0))
    added = [u.flops for u in units if marker and marker in u.key for _ in range(extra)]
    return len(units) + len(added), flops + added


def prepared(log: Path | None) -> dict[str, float]:
    """Claim id -> seconds of its "prepared" (untimed training) step in an earlier runner's log."""
    if log is None:
        return {}
    found = re.findall(r"\]\s+(\S+)\s+prepared\s+([\d.]+) s", log.read_text())
    return {claim_id: float(s) for claim_id, s in found}


def rows(run: Path, gpu: float, extra: dict[str, float]) -> list[list]:
    out = []
    for claim_id in REGISTRY:
        n, full = units_and_flops(claim_id, "full")
        quick = sum(units_and_flops(claim_id, "quick")[1])
        seconds = json.loads((run / claim_id / "result.json").read_text())["wall_time"] + extra.get(claim_id, 0.0)
        if not quick or not sum(full):
            out.append([claim_id, n, "-", "-", "-", f"one unit, no FLOP estimate (quick: {seconds:.0f} s)"])
            continue
        rate = quick / seconds  # FLOP/s of one torch thread on this claim's models
        out.append([claim_id, n, f"{max(full):.2g}", f"{max(full) / gpu / 60:.2g}",
                    f"{sum(full) / (2 * rate) / 60:.3g}", f"CPU {rate / 1e9:.2g} GFLOP/s (quick: {seconds:.0f} s)"])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a finished quick-profile run folder of this machine")
    parser.add_argument("--log", type=Path, default=None, help="that run's log (an earlier runner's prepared steps)")
    parser.add_argument("--gpu-tflops", type=float, default=2.0, help="assumed sustained TFLOP/s on one H100")
    args = parser.parse_args()
    print("| claim | full units | largest unit, FLOPs | largest unit, min on 1 H100 | all units, min on 2 CPU cores "
          "| calibration |")
    print("|---|---|---|---|---|---|")
    for row in rows(args.run, args.gpu_tflops * 1e12, prepared(args.log)):
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
