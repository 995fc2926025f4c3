"""Drill ``bahdanau``: a tiny additive attention over a 3-token source and a 2-token target.

Toy translation with a known alignment: the target is (source[2], source[0]), so target
step 1 should look at source position 3 and step 2 at source position 1. The NumPy
encoder-decoder (:mod:`seqlab.reference.seq2seq`) is trained with its hand-written
backward pass and Adam; the drill prints the 2 x 3 attention weights for one fixed
example before and after training and which source position wins at each target step.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from seqlab.reference.optim import Adam
from seqlab.reference.seq2seq import TinySeq2Seq, cross_entropy

LETTERS = "abcdef"  # the vocabulary
ALIGNMENT = (2, 0)  # target step i copies source position ALIGNMENT[i] (0-based)


def toy_pairs(rng: np.random.Generator, batch: int):
    """Sources (B, 3) and targets (B, 2) = sources[:, ALIGNMENT]."""
    src = rng.integers(0, len(LETTERS), size=(batch, 3))
    return src, src[:, list(ALIGNMENT)]


def words(tokens) -> str:
    return " ".join(LETTERS[t] for t in tokens)


def attention_table(model: TinySeq2Seq, src: np.ndarray, tgt: np.ndarray) -> np.ndarray:
    """Teacher-forced attention weights for one pair, (2, 3)."""
    _, alphas, _ = model.forward(src[None], tgt[None])
    return alphas[0]


def train(model: TinySeq2Seq, seed: int, steps: int, lr: float, batch: int = 32) -> list[float]:
    """Adam on the toy pairs; returns the loss per step."""
    data, opt, losses = np.random.default_rng(seed + 100), Adam(model.parameters(), lr=lr), []
    for _ in range(steps):
        src, tgt = toy_pairs(data, batch)
        logits, _, cache = model.forward(src, tgt)
        loss, dlogits = cross_entropy(logits, tgt)
        opt.step(model.backward(dlogits, cache))
        losses.append(loss)
    return losses


def accuracy(model: TinySeq2Seq, seed: int, n: int = 500) -> float:
    """Token accuracy of the argmax prediction (teacher forced) on fresh pairs."""
    src, tgt = toy_pairs(np.random.default_rng(seed + 200), n)
    logits, _, _ = model.forward(src, tgt)
    return float(np.mean(logits.argmax(-1) == tgt))


def run(out_dir: Path, seed: int = 0, steps: int = 300, lr: float = 0.02) -> dict:
    """Train, record the weights table before and after; writes bahdanau.json and .png."""
    model = TinySeq2Seq(len(LETTERS), hidden=8, attn=8, seed=seed)
    src = np.random.default_rng(seed).permutation(len(LETTERS))[:3]  # 3 distinct tokens
    tgt = src[list(ALIGNMENT)]
    before = attention_table(model, src, tgt)
    losses = train(model, seed, steps, lr)
    after = attention_table(model, src, tgt)
    result = {"drill": "bahdanau", "seed": seed, "steps": steps, "lr": lr,
              "source": words(src), "target": words(tgt), "alignment": list(ALIGNMENT),
              "weights_before": before.tolist(), "weights_after": after.tolist(),
              "winners": [int(i) for i in after.argmax(axis=1)],
              "accuracy": accuracy(model, seed), "loss": losses}
    out_dir.mkdir(parents=True, exist_ok=True)
    result["json"], result["png"] = str(out_dir / "bahdanau.json"), str(out_dir / "bahdanau.png")
    Path(result["json"]).write_text(json.dumps(result, indent=1) + "\n")
    plot(result, Path(result["png"]))
    return result


def plot(result: dict, path: Path) -> None:
    """The two weight tables as heatmaps (before / after training) and the loss curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
    src, tgt = result["source"].split(), result["target"].split()
    for ax, key, title in [(axes[0], "weights_before", "before training"),
                           (axes[1], "weights_after", f"after {result['steps']} steps")]:
        w = np.array(result[key])
        ax.imshow(w, cmap="Blues", vmin=0, vmax=1)
        for i, j in np.ndindex(w.shape):
            ax.text(j, i, f"{w[i, j]:.2f}", ha="center", va="center",
                    color="white" if w[i, j] > 0.6 else "black")
        ax.set_xticks(range(len(src)), [f"{j + 1}:{s}" for j, s in enumerate(src)])
        ax.set_yticks(range(len(tgt)), [f"{i + 1}:{t}" for i, t in enumerate(tgt)])
        ax.set(title=f"attention weights, {title}", xlabel="source position",
               ylabel="target step")
    axes[2].plot(result["loss"], lw=1)
    axes[2].set(title="training loss (cross-entropy)", xlabel="step")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _table(weights, src: list[str], tgt: list[str]) -> list[str]:
    head = "  target \\ source " + "".join(f"{f'{j + 1}:{s}':>8}" for j, s in enumerate(src))
    rows = [f"  {f'{i + 1}:{t}':<17}" + "".join(f"{w:>8.3f}" for w in row)
            for i, (t, row) in enumerate(zip(tgt, weights))]
    return [head] + rows


def summary(result: dict) -> str:
    """The terminal report."""
    src, tgt = result["source"].split(), result["target"].split()
    lines = [f"drill bahdanau: additive attention, e_j = v^T tanh(W1 h_j + W2 s), seed "
             f"{result['seed']}; toy task: target = (source 3, source 1)",
             f"example: source '{result['source']}' -> target '{result['target']}'",
             "attention weights before training:"]
    lines += _table(result["weights_before"], src, tgt)
    lines.append(f"attention weights after {result['steps']} Adam steps "
                 f"(final loss {result['loss'][-1]:.3f}, token accuracy {result['accuracy']:.1%}):")
    lines += _table(result["weights_after"], src, tgt)
    for i, j in enumerate(result["winners"]):
        expected = result["alignment"][i]
        lines.append(f"  target step {i + 1} ('{tgt[i]}') attends most to source position "
                     f"{j + 1} ('{src[j]}', weight {result['weights_after'][i][j]:.3f}); "
                     f"expected {expected + 1}: {'yes' if j == expected else 'no'}")
    lines.append(f"wrote {result['json']} and {result['png']}")
    return "\n".join(lines)
