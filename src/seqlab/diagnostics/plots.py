"""Figures of the diagnostics, as PNG bytes (matplotlib, Agg backend, no display).

Every function takes plain arrays and returns PNG bytes, so experiments can keep
figures in memory and the report can inline them without importing torch.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def figure_png(fig) -> bytes:
    """Render a matplotlib figure to PNG bytes and close it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def line_plot(
    curves: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str,
    xlabel: str,
    ylabel: str,
    logy: bool = False,
    logx: bool = False,
) -> bytes:
    """One line per label: ``curves[label] = (x, y)``; optional log axes."""
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    for label, (xs, ys) in curves.items():
        ys = np.asarray(ys, dtype=float)
        if logy:
            ys = np.where(ys > 0, ys, np.nan)  # log scale: hide zeros and NaN
        ax.plot(xs, ys, label=label, marker="o" if len(xs) <= 12 else None, markersize=3)
    ax.set_yscale("log" if logy else "linear")
    ax.set_xscale("log" if logx else "linear")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    return figure_png(fig)


def gradient_flow_plot(norms: dict[str, np.ndarray], title: str = "gradient flow", ylabel: str = "||dL/dx_t||") -> bytes:
    """Per-step gradient norms (t = 1..T) of several models on a log scale."""
    curves = {k: (np.arange(1, len(v) + 1), v) for k, v in norms.items()}
    return line_plot(curves, title, "time step t", ylabel, logy=True)


def heatmap(matrix: np.ndarray, row_labels: list[str], col_labels: list[str], title: str) -> bytes:
    """A small annotated heatmap (e.g. attention weights, target x source)."""
    m = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1.2 + 0.8 * m.shape[1], 1.0 + 0.6 * m.shape[0]))
    ax.imshow(m, cmap="viridis", vmin=0.0, vmax=max(1e-9, float(np.nanmax(m))))
    ax.set_xticks(range(m.shape[1]), col_labels)
    ax.set_yticks(range(m.shape[0]), row_labels)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", color="w", fontsize=8)
    ax.set_title(title)
    return figure_png(fig)
