"""Drill ``rnn-numpy``: a two-layer tanh RNN over a toy sequence; where does information decay?

Two views of the same question, both computed with the NumPy reference:

* forward in time: feed the sequence with and without a pulse at t = 0 and follow
  ||h_t(pulse) - h_t(no pulse)||, how long the network still "remembers" the pulse;
* backward in time: the sensitivity of the final top-layer state to each input,
  ||dh_T/dx_t||_F, from the hand-written BPTT (one backward pass per hidden unit,
  batched), cross-checked by finite differences, for RNN, LSTM and GRU of equal size.

The hidden states of both layers are logged to JSON and drawn as heatmaps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seqlab.reference.recurrent import Recurrent


def toy_sequence(length: int, pulse: bool = True) -> np.ndarray:
    """(1, T, 3): a slow sine, its cosine and a unit pulse at t = 0 (channel 2)."""
    t = np.arange(length)
    x = np.stack([np.sin(2 * np.pi * t / 12), np.cos(2 * np.pi * t / 12), np.zeros(length)], 1)
    x[0, 2] = 1.0 if pulse else 0.0
    return x[None]  # (1, T, 3)


def jacobian_norms(model: Recurrent, x: np.ndarray) -> np.ndarray:
    """||dh_T/dx_t||_F for each t, h_T = top layer's final hidden state, via BPTT.

    The batch holds H copies of x; copy i backpropagates the unit vector e_i from h_T,
    so dx[i, t] is row i of the Jacobian dh_T/dx_t. Returns (T,).
    """
    H = model.hidden_size
    xb = np.repeat(x, H, axis=0)  # (H, T, D)
    out, finals, caches = model.forward(xb)
    dfinal = [tuple(np.zeros_like(a) for a in s) for s in finals]
    dfinal[-1] = (np.eye(H),) + dfinal[-1][1:]  # dL_i/dh_T = e_i, (H, H)
    dx, _, _ = model.backward(caches, np.zeros_like(out), dfinal)  # (H, T, D)
    return np.sqrt((dx**2).sum(axis=(0, 2)))  # Frobenius norm per t


def perturbation_norms(model: Recurrent, x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """The same Jacobian norms by central differences, one input entry at a time. (T,)."""
    _, T, D = x.shape
    jac = np.zeros((T, D, model.hidden_size))
    for t in range(T):
        for d in range(D):
            up, down = x.copy(), x.copy()
            up[0, t, d] += eps
            down[0, t, d] -= eps
            h_up = model.forward(up)[1][-1][0]  # top layer h_T, (1, H)
            h_down = model.forward(down)[1][-1][0]
            jac[t, d] = (h_up - h_down)[0] / (2 * eps)  # dh_T/dx_{t,d}
    return np.sqrt((jac**2).sum(axis=(1, 2)))


def fd_agreement(bptt: np.ndarray, fd: np.ndarray, floor: float = 1e-6) -> float:
    """Largest relative difference where the norm is above what differences resolve (~1e-10)."""
    keep = bptt > floor
    return float(np.max(np.abs(fd[keep] - bptt[keep]) / bptt[keep]))


def decay_per_step(norms: np.ndarray) -> float:
    """Geometric decay factor per step back in time: exp(slope of log norm vs distance)."""
    dist = np.arange(len(norms))[::-1]  # distance from the last step, T-1 .. 0
    keep = norms > norms.max() * 1e-14
    slope = np.polyfit(dist[keep], np.log(norms[keep]), 1)[0]
    return float(np.exp(slope))


def horizon(norms: np.ndarray, ratio: float = 0.01) -> int:
    """Steps back from T before the sensitivity first drops below ratio x its value at T."""
    below = np.nonzero(norms[::-1] < ratio * norms[-1])[0]
    return int(below[0]) if below.size else len(norms)


def run(out_dir: Path, seed: int = 0, length: int = 40, hidden: int = 16) -> dict:
    """Run the drill, write rnn_numpy.json and rnn_numpy.png to out_dir, return the result."""
    x, x0 = toy_sequence(length), toy_sequence(length, pulse=False)
    rnn = Recurrent("rnn", 3, hidden, num_layers=2, seed=seed)
    layers = [h[0] for h in rnn.layer_outputs(x)]  # 2 x (T, H)
    memory = [np.linalg.norm(a - b[0], axis=-1) for a, b in zip(layers, rnn.layer_outputs(x0))]
    sens = {k: jacobian_norms(Recurrent(k, 3, hidden, 2, seed=seed), x)
            for k in ("rnn", "lstm", "gru")}
    fd = perturbation_norms(rnn, x)
    result = {
        "drill": "rnn-numpy", "seed": seed, "length": length, "hidden": hidden, "layers": 2,
        "init_bound": 1 / np.sqrt(hidden),
        "hidden_states": [h.tolist() for h in layers],
        "pulse_memory": [m.tolist() for m in memory],
        "sensitivity": {k: v.tolist() for k, v in sens.items()},
        "sensitivity_fd_rnn": fd.tolist(),
        "fd_relative_error": fd_agreement(sens["rnn"], fd),
        "decay_per_step": {k: decay_per_step(v) for k, v in sens.items()},
        "horizon_1pct": {k: horizon(v) for k, v in sens.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    result["json"] = str(out_dir / "rnn_numpy.json")
    result["png"] = str(out_dir / "rnn_numpy.png")
    Path(result["json"]).write_text(json.dumps(result, indent=1) + "\n")
    plot(result, Path(result["png"]))
    return result


def plot(result: dict, path: Path) -> None:
    """Heatmaps of both layers' hidden states, pulse memory and BPTT sensitivity curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 7.5), layout="constrained")
    for k, ax in enumerate(axes[0]):
        im = ax.imshow(np.array(result["hidden_states"][k]).T, aspect="auto", cmap="RdBu_r",
                       vmin=-1, vmax=1)
        ax.set(title=f"layer {k + 1} hidden states h_t", xlabel="t", ylabel="unit")
    fig.colorbar(im, ax=axes[0].tolist())
    ax = axes[1, 0]
    for k, m in enumerate(result["pulse_memory"]):
        ax.semilogy(np.maximum(m, 1e-300), label=f"layer {k + 1}")
    ax.set(title="memory of the pulse at t=0: ||h_t(pulse) - h_t(none)||", xlabel="t")
    ax.legend()
    ax = axes[1, 1]
    for kind, s in result["sensitivity"].items():
        ax.semilogy(s, label=f"{kind} (BPTT)")
    ax.semilogy(result["sensitivity_fd_rnn"], "k.", ms=3, label="rnn (finite diff., floor ~1e-10)")
    ax.set(title="sensitivity of the final state: ||dh_T/dx_t||", xlabel="input position t")
    ax.legend()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary(result: dict) -> str:
    """The terminal report."""
    T = result["length"]
    lines = [
        f"drill rnn-numpy: 2-layer tanh RNN, H={result['hidden']}, T={T}, "
        f"init U(-{result['init_bound']:.3g}, {result['init_bound']:.3g}), seed {result['seed']}",
        "hidden states logged for both layers, (T, H) each",
        "memory of a pulse at t=0, ||h_t(pulse) - h_t(no pulse)||:",
        "   t    " + "".join(f"{t:>10d}" for t in range(0, T, 5)),
    ]
    for k, m in enumerate(result["pulse_memory"]):
        lines.append(f"  layer {k + 1}" + "".join(f"{m[t]:>10.2e}" for t in range(0, T, 5)))
    lines.append("sensitivity of h_T to x_t, ||dh_T/dx_t||_F (2 layers, same init rule):")
    lines.append("  steps back " + "".join(f"{k:>10s}" for k in result["sensitivity"]))
    for back in range(0, T, 5):
        vals = [s[T - 1 - back] for s in result["sensitivity"].values()]
        lines.append(f"  {back:>10d} " + "".join(f"{v:>10.2e}" for v in vals))
    lines.append("  decay per step back: " + ", ".join(
        f"{k} x{v:.3f}" for k, v in result["decay_per_step"].items()))
    lines.append("  steps back until < 1% of the last step's sensitivity: " + ", ".join(
        f"{k} {v}" for k, v in result["horizon_1pct"].items()))
    lines.append(f"  BPTT vs finite differences (rnn, positions with norm > 1e-6): largest "
                 f"relative difference {result['fd_relative_error']:.1e}")
    lines.append(f"wrote {result['json']} and {result['png']}")
    return "\n".join(lines)
