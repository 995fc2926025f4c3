"""Drill ``gradcheck``: the largest relative errors of every hand-written backward pass.

For RNN, LSTM and GRU (1 and 2 layers) and the additive attention: analytic gradients vs
central finite differences, and forward outputs plus gradients vs torch autograd on the
same weights (float64). Writes gradcheck.json and gradcheck.png (the errors as bars on a
log scale); needs torch for the second column.
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
    result["json"], result["png"] = str(out_dir / "gradcheck.json"), str(out_dir / "gradcheck.png")
    Path(result["json"]).write_text(json.dumps(result, indent=1) + "\n")
    plot(result, Path(result["png"]))
    return result


FLOOR = 1e-18  # exact agreement (error 0) is drawn at this height on the log scale


def plot(result: dict, path: Path) -> None:
    """Largest relative error per case, vs finite differences and vs torch, on a log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names = list(result["cases"])
    y = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(names) + 1.4), layout="constrained")
    for offset, key, label in [(-0.2, "finite_differences", "vs finite differences"),
                               (0.2, "torch", "vs torch autograd")]:
        errors = [max(result["cases"][n][key]["max"], FLOOR) for n in names]
        ax.barh(y + offset, errors, height=0.38, label=label)
    ax.axvline(1e-6, color="black", lw=0.8, ls="--", label="1e-6")
    ax.set_xscale("log")
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set(xlabel="largest relative error ||a - b|| / max(||a||, ||b||)",
           title=f"hand-written backward passes (seed {result['seed']})")
    ax.legend(fontsize=8, loc="lower right")
    fig.savefig(path, dpi=110)
    plt.close(fig)


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
    lines.append(f"wrote {result['json']} and {result['png']}")
    return "\n".join(lines)
