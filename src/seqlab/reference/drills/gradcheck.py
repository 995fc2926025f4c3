"""Drill ``gradcheck``: the largest relative errors of every hand-written backward pass.

For RNN, LSTM and GRU (1 and 2 layers) and the additive attention: analytic gradients vs
central finite differences, and forward outputs plus gradients vs torch autograd on the
same weights (float64). Writes gradcheck.json; needs torch for the second column.
"""

from __future__ import annotations

import json
from pathlib import Path

from seqlab.reference.gradcheck import check_attention, check_recurrent
from seqlab.reference.torch_compare import compare_attention_with_torch, compare_with_torch

CASES = [(kind, layers) for kind in ("rnn", "lstm", "gru") for layers in (1, 2)]


def _worst(errors: dict[str, float]) -> dict:
    name = max(errors, key=errors.get)
    return {"max": errors[name], "where": name, "all": errors}


def run(out_dir: Path, seed: int = 0) -> dict:
    """Every check; returns and writes {case: {"finite_differences": ..., "torch": ...}}."""
    cases = {f"{kind} x{n}": {"finite_differences": _worst(check_recurrent(kind, n, seed)),
                              "torch": _worst(compare_with_torch(kind, n, seed))}
             for kind, n in CASES}
    cases["attention"] = {"finite_differences": _worst(check_attention(seed)),
                          "torch": _worst(compare_attention_with_torch(seed))}
    result = {"drill": "gradcheck", "seed": seed, "cases": cases}
    out_dir.mkdir(parents=True, exist_ok=True)
    result["json"] = str(out_dir / "gradcheck.json")
    Path(result["json"]).write_text(json.dumps(result, indent=1) + "\n")
    return result


def summary(result: dict) -> str:
    """One line per case: the largest relative error and where it occurred."""
    lines = [f"drill gradcheck (seed {result['seed']}): largest relative error "
             "||a - b|| / max(||a||, ||b||) over every parameter, input and initial state",
             f"  {'case':<10}{'vs finite differences':>24}  {'(where)':<14}"
             f"{'vs torch autograd':>20}  (where)"]
    for name, c in result["cases"].items():
        fd, tt = c["finite_differences"], c["torch"]
        lines.append(f"  {name:<10}{fd['max']:>24.2e}  {fd['where']:<14}{tt['max']:>20.2e}  "
                     f"{tt['where']}")
    worst_fd = max(c["finite_differences"]["max"] for c in result["cases"].values())
    lines.append(f"  all below 1e-6 vs finite differences: {'yes' if worst_fd < 1e-6 else 'NO'}")
    lines.append(f"wrote {result['json']}")
    return "\n".join(lines)
