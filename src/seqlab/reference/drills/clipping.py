"""Drill ``clipping``: train the NumPy RNN from a large init with and without clipping.

Task: the adding problem (two marked numbers among T uniform ones; predict their sum
at the last step; MSE; chance = 1/6). The model is a tanh RNN with a linear readout,
initialised with recurrent weights several times torch's default, trained by plain
SGD on the same batches from the same init twice: once with the raw gradient, once
with the gradient clipped to a global norm (Pascanu et al., 2013).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seqlab.reference.clip import clip_by_global_norm, global_norm
from seqlab.reference.optim import sgd_step
from seqlab.reference.recurrent import Recurrent

CHANCE = 2.0 / 12.0  # Var(u1 + u2) for u ~ U[0, 1): predicting the mean sum
DIVERGED = 1e4  # a run whose MSE passes this is stopped and called diverged


def adding_batch(rng: np.random.Generator, batch: int, length: int):
    """Inputs (B, T, 2) [value, marker] and targets (B,) = sum of the two marked values."""
    values = rng.uniform(size=(batch, length))
    half = length // 2
    marks = np.zeros((batch, length))
    rows = np.arange(batch)
    marks[rows, rng.integers(0, half, size=batch)] = 1.0
    marks[rows, rng.integers(half, length, size=batch)] = 1.0
    return np.stack([values, marks], axis=-1), (values * marks).sum(axis=1)


def loss_and_grads(model: Recurrent, head: dict, x: np.ndarray, y: np.ndarray):
    """MSE of y_hat = h_T w + b; gradients for [layer params..., head]."""
    out, _, caches = model.forward(x)  # (B, T, H)
    h_T = out[:, -1]  # (B, H)
    err = h_T @ head["w"] + head["b"] - y  # y_hat - y, (B,)
    loss = float(np.mean(err**2))  # L = mean (y_hat - y)^2
    dy = 2.0 * err / len(y)  # dL/dy_hat, (B,)
    g_head = {"w": h_T.T @ dy, "b": np.array(dy.sum())}  # dL/dw = h_T^T dy, dL/db = sum dy
    dout = np.zeros_like(out)
    dout[:, -1] = dy[:, None] * head["w"]  # dL/dh_T = dy w^T; no loss at other steps
    _, _, grads = model.backward(caches, dout)
    return loss, grads + [g_head]


def train(clip: float | None, seed: int, steps: int, lr: float, scale: float,
          hidden: int = 32, length: int = 20, batch: int = 32) -> dict:
    """One SGD run; returns per-step loss and gradient norm (NaN-safe: stops on divergence)."""
    model = Recurrent("rnn", 2, hidden, seed=seed)
    model.params[0]["W_hh"] *= scale  # the large init: recurrent weights x scale
    head = {"w": np.zeros(hidden), "b": np.array(1.0)}  # starts at the mean prediction
    params = model.params + [head]
    data = np.random.default_rng(seed + 1)  # the same batches for both runs
    losses, norms, whh = [], [], []
    for _ in range(steps):
        x, y = adding_batch(data, batch, length)
        with np.errstate(all="ignore"):
            loss, grads = loss_and_grads(model, head, x, y)
            norm = global_norm(grads)
            grads_whh = grads[0]["W_hh"]  # the recurrent matrix: where BPTT multiplies
            if clip is not None:
                grads, _ = clip_by_global_norm(grads, clip)
            sgd_step(params, grads, lr)
        losses.append(loss)
        norms.append(norm)
        whh.append(float(np.linalg.norm(grads_whh)))
        if not np.isfinite(loss) or loss > DIVERGED:
            break
    return {"clip": clip, "loss": losses, "grad_norm": norms, "grad_norm_W_hh": whh}


def describe(r: dict, steps: int) -> dict:
    """Numbers for the summary: final and worst loss, spikes, divergence, clipped fraction."""
    loss = np.array(r["loss"])
    finite = loss[np.isfinite(loss)]
    norms = np.array(r["grad_norm"])
    clipped = float(np.mean(norms > r["clip"])) if r["clip"] else 0.0
    return {
        "steps_run": len(loss), "diverged": len(loss) < steps,
        "final_loss": float(np.mean(finite[-20:])) if finite.size else float("nan"),
        "worst_loss": float(finite.max()) if finite.size else float("nan"),
        "spikes": int(np.sum(finite[1:] > 2.0 * finite[:-1])),  # loss more than doubled
        "median_grad_norm": float(np.median(norms[np.isfinite(norms)])),
        "max_grad_norm": float(np.nanmax(np.where(np.isfinite(norms), norms, np.nan))),
        "max_grad_norm_W_hh": float(np.nanmax(r["grad_norm_W_hh"])),
        "clipped_fraction": clipped,
    }


def run(out_dir: Path, seed: int = 0, steps: int = 600, lr: float = 0.1,
        scale: float = 4.0, clip: float = 1.0, length: int = 10) -> dict:
    """Both runs; writes clipping.json and clipping.png to out_dir."""
    runs = {"no clipping": train(None, seed, steps, lr, scale, length=length),
            f"clip norm {clip:g}": train(clip, seed, steps, lr, scale, length=length)}
    result = {"drill": "clipping", "seed": seed, "steps": steps, "lr": lr, "scale": scale,
              "clip": clip, "length": length, "chance_loss": CHANCE, "runs": runs,
              "summary": {k: describe(r, steps) for k, r in runs.items()}}
    out_dir.mkdir(parents=True, exist_ok=True)
    result["json"], result["png"] = str(out_dir / "clipping.json"), str(out_dir / "clipping.png")
    Path(result["json"]).write_text(json.dumps(result, indent=1, allow_nan=True) + "\n")
    plot(result, Path(result["png"]))
    return result


def plot(result: dict, path: Path) -> None:
    """Loss curves (left) and gradient norms (right), both runs on shared axes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for name, r in result["runs"].items():
        ax1.semilogy(r["loss"], label=name, lw=1)
        ax2.semilogy(r["grad_norm"], label=name, lw=1)
    ax1.axhline(result["chance_loss"], color="gray", ls="--", label="chance (1/6)")
    ax1.set(title=f"adding problem, tanh RNN, W_hh x{result['scale']:g}, SGD lr {result['lr']:g}",
            xlabel="step", ylabel="MSE")
    ax2.axhline(result["clip"], color="gray", ls="--", label="clip threshold")
    ax2.set(title="global gradient norm (before clipping)", xlabel="step")
    ax1.legend()
    ax2.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(result: dict) -> str:
    """The terminal report."""
    lines = [f"drill clipping: tanh RNN (H=32) on the adding problem (T={result['length']}), "
             f"recurrent init x{result['scale']:g}, SGD lr {result['lr']:g}, "
             f"{result['steps']} steps, seed {result['seed']}; "
             f"chance MSE {result['chance_loss']:.3f}",
             f"  {'run':<16}{'final MSE':>11}{'worst MSE':>11}{'spikes':>8}{'diverged':>10}"
             f"{'median |g|':>12}{'max |g|':>10}{'max |dW_hh|':>13}{'clipped':>9}"]
    for name, s in result["summary"].items():
        final = "n/a" if s["diverged"] else f"{s['final_loss']:.4f}"
        diverged = f"step {s['steps_run']}" if s["diverged"] else "no"
        lines.append(f"  {name:<16}{final:>11}{s['worst_loss']:>11.3g}{s['spikes']:>8d}"
                     f"{diverged:>10}{s['median_grad_norm']:>12.3g}"
                     f"{s['max_grad_norm']:>10.3g}{s['max_grad_norm_W_hh']:>13.3g}"
                     f"{s['clipped_fraction']:>9.0%}")
    lines.append("  (final MSE: mean of the last 20 steps; spike: the loss more than doubled "
                 f"in one step; diverged: MSE > {DIVERGED:g}, run stopped; |g|: global "
                 "gradient norm before clipping)")
    lines.append(f"wrote {result['json']} and {result['png']}")
    return "\n".join(lines)
