# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # The first hour: from vanishing gradients to attention
#
# The chapter "The Evolution of Sequence Modeling" makes one argument before it reaches the
# Transformer: a recurrent network multiplies one Jacobian per step, so the gradient from a
# distant input **vanishes** (or explodes); **gates** give the LSTM an additive path that keeps
# it; **clipping** tames the explosions; an encoder-decoder still squeezes the whole source
# into one vector, a **bottleneck** that fails on long inputs; and **attention** removes it by
# letting the decoder look back at every source position.
#
# This notebook walks that argument with seqlab's Python API and the ledger's experiments,
# each a claim with a rule fixed before the run and a verdict. At the ledger's quick sizes the
# whole notebook takes about 5 minutes on a 2-core CPU (the bottleneck experiment is 4 of
# them); the test suite runs it at tiny sizes (`SEQLAB_TUTORIAL=tiny`), where the verdicts
# mean nothing but every cell runs. Open it with `make notebook`.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.data.tasks import AddingProblem
from seqlab.diagnostics import input_gradient_norms
from seqlab.experiments import load
from seqlab.experiments.core.units import run_inline

SIZE = os.environ.get("SEQLAB_TUTORIAL", "quick")  # "quick": the ledger's sizes; "tiny": a smoke run
FIGURES = Path("runs/tutorial")  # where figures go when this runs as a plain script
torch.manual_seed(0)


def in_notebook() -> bool:
    try:
        return get_ipython() is not None  # noqa: F821 (defined inside IPython only)
    except NameError:
        return False


def ledger(claim_id: str):
    """Run one claim of the ledger at this notebook's size and show its verdict and figures."""
    module = load(claim_id)
    quick = module.PROFILES["quick"]
    if SIZE == "tiny" and hasattr(module, "TINY"):
        module.PROFILES["quick"] = module.TINY  # the tests' smoke size, as tests/test_ledger_determinism.py does
    try:
        result = run_inline(module, "quick")  # its units one after another, then its rule
    finally:
        module.PROFILES["quick"] = quick
    print(f"{claim_id}: {result.verdict}. {result.headline}")
    for figure in result.figures:
        show_png(figure.png, f"{claim_id}_{figure.name}", figure.caption)
    return result


def show_png(png: bytes, name: str, caption: str = "") -> None:
    """A PNG inline in a notebook, else written under runs/tutorial."""
    if in_notebook():
        from IPython.display import Image, display

        display(Image(data=png))
        print(caption)
    else:
        FIGURES.mkdir(parents=True, exist_ok=True)
        path = FIGURES / (name if name.endswith(".png") else f"{name}.png")
        path.write_bytes(png)
        print(f"figure: {path}  ({caption})")


def show_figure(fig, name: str) -> None:
    """A matplotlib figure: inline in a notebook, else saved under runs/tutorial."""
    if in_notebook():
        plt.show()
    else:
        FIGURES.mkdir(parents=True, exist_ok=True)
        fig.savefig(FIGURES / f"{name}.png", dpi=80)
        print(f"figure: {FIGURES / name}.png")
    plt.close(fig)


# %% [markdown]
# ## 1. Vanishing gradients
#
# Take the adding problem (two marked numbers somewhere in a long sequence; the answer is
# their sum, read at the last step) and ask an untrained network how much the loss at the end
# depends on each input: the norm of dL/dx_t for every t. For a tanh RNN the product of
# Jacobians shrinks geometrically with the distance T - t; the LSTM's cell state carries the
# gradient much further.

# %%
T = 60 if SIZE == "tiny" else 200
task = AddingProblem(length=T)
x = task.sample(8, torch.Generator().manual_seed(0)).x  # (B, T, 2)
fig, ax = plt.subplots(figsize=(6, 3))
for arch in ("rnn_tanh", "lstm"):
    model = build_model(ModelConfig(arch=arch, hidden_size=32), task)
    norms = input_gradient_norms(model, x)  # ||dL/dx_t||, t = 1..T
    ax.semilogy(np.arange(1, T + 1), norms, label=arch)
ax.set_xlabel("input position t")
ax.set_ylabel("||dL/dx_t||")
ax.set_title(f"gradient reaching each input, T = {T}, at initialisation")
ax.legend()
show_figure(fig, "gradient_flow")

# %% [markdown]
# The ledger makes this a claim (C1) with a rule: at T = 200 the RNN's gradient must fall by
# many decades from the last input to the first, the LSTM's by far fewer, and a Transformer's
# not at all. C2 checks the arithmetic underneath: a linear recurrence with every singular
# value s scales the gradient by exactly s^T (0.9^100 vanishes, 1.1^100 explodes).

# %%
c1 = ledger("C1")
c2 = ledger("C2")

# %% [markdown]
# ## 2. Gates
#
# If the gradient cannot reach the early inputs, a tanh RNN cannot learn what they say. C4
# trains an RNN, an LSTM and a GRU on the same batches with the same budget of updates, at a
# short and a long dependency length, over three paired seeds.

# %%
c4 = ledger("C4")
for table in c4.tables:
    print(table.title)
    print(table.columns)
    for row in table.rows[:6]:
        print(row)

# %% [markdown]
# ## 3. Clipping
#
# The other face of the same product of Jacobians: with large recurrent weights the gradient
# explodes, and a single step can throw the weights far away. Rescaling the gradient when its
# norm passes a threshold (clipping) keeps the steps bounded. The chapter's drill D2 trains the
# same badly initialised RNN with and without clipping.

# %%
d2 = ledger("D2")

# %% [markdown]
# From Python, clipping is one setting of the trainer (`TrainConfig(clip_norm=1.0)`), and a
# run whose loss turns NaN stops with the step and the cures instead of training on garbage.

# %% [markdown]
# ## 4. The bottleneck
#
# Gates fix the gradient, but an encoder-decoder still hands the decoder one fixed-size
# vector for the whole source. C12 trains a seq2seq model without attention and the same model
# with attention on a synthetic translation whose information grows with its length, and
# scores both by source-length bucket. (This is the longest cell: about 4 minutes on 2 cores at
# quick sizes.)

# %%
c12 = ledger("C12")

# %% [markdown]
# ## 5. Attention
#
# Attention lets the decoder weigh every source state at every step, and the weights read as
# a soft alignment. The drill D3 trains a tiny Bahdanau model on a 3-token source and shows
# where each target word looks; the ledger's C13 measures the alignment error of attention
# against gold word links (`seqlab reproduce --only C13`).

# %%
d3 = ledger("D3")

# %% [markdown]
# ## Where next
#
# - `seqlab reproduce --profile quick` runs every claim (about 6 minutes on 2 cores) and
#   `seqlab report runs/quick` writes `runs/quick/report.html`.
# - The diagnostics used above work on any PyTorch model: see the Diagnostics guide.
# - Train the real thing: `seqlab train configs/adding-lstm.toml`, or a translation model
#   (the Translation guide).
