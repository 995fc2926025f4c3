"""Drill 1: an RNN over a toy sequence, two time steps by hand, and where information decays.

Part one, the micro example: a 2-unit tanh RNN over two steps with small round
weights, h_t = tanh(W_hh h_(t-1) + W_ih x_t + b), worked three ways: the formula
written out in NumPy here, the NumPy reference cell (``seqlab.reference.rnn``), and
``torch.nn.RNN`` with the same weights. Part two runs the reference drill
``rnn-numpy`` (``seqlab.reference.drills.decay``): a two-layer tanh RNN whose hidden
states are logged over a toy sequence, with the memory of a pulse at t = 0 and
the sensitivity ||dh_T/dx_t|| for RNN, LSTM and GRU.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from seqlab.config import to_dict
from seqlab.experiments.core.base import check_profile, judge, finish, new_result
from seqlab.reference import rnn as ref_rnn
from seqlab.reference.drills import decay

CLAIM_ID = "D1"
CLAIM = ("Drill: each RNN step mixes the previous state with the new input through tanh; run over a toy "
         "sequence, the trace of an early input fades from the hidden state step after step.")

# The micro example's weights (2 hidden units, 1 input), row-vector convention.
W_IH = np.array([[0.5], [-1.0]])
W_HH = np.array([[0.1, 0.4], [-0.3, 0.2]])
BIAS = np.array([0.0, 0.1])
XS = np.array([1.0, 2.0])  # x_1, x_2


@dataclass(frozen=True)
class Config:
    length: int = 40
    hidden: int = 16
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(length=100, hidden=64)}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def micro_example() -> dict[str, np.ndarray]:
    """h_1, h_2 (each (2,)) three ways: by formula, reference cell, torch.nn.RNN."""
    h, by_hand = np.zeros(2), []
    for x in XS:
        h = np.tanh(W_HH @ h + W_IH[:, 0] * x + BIAS)  # h_t = tanh(W_hh h_(t-1) + W_ih x_t + b)
        by_hand.append(h)
    p = {"W_ih": W_IH, "W_hh": W_HH, "b_ih": BIAS, "b_hh": np.zeros(2)}
    state, ref = (np.zeros((1, 2)),), []
    for x in XS:
        state, _ = ref_rnn.step_forward(np.array([[x]]), state, p)
        ref.append(state[0][0])
    layer = torch.nn.RNN(1, 2, batch_first=True).double()
    with torch.no_grad():
        for name, value in {"weight_ih_l0": W_IH, "weight_hh_l0": W_HH, "bias_ih_l0": BIAS,
                            "bias_hh_l0": np.zeros(2)}.items():
            getattr(layer, name).copy_(torch.from_numpy(value))
        out, _ = layer(torch.from_numpy(XS).view(1, 2, 1))
    return {"by hand": np.array(by_hand), "reference": np.array(ref), "torch": out[0].numpy()}


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        "Micro example: 2 units, inputs x = (1, 2), W_ih = (0.5, -1), W_hh = [[0.1, 0.4], [-0.3, 0.2]], "
        f"b = (0, 0.1). Drill: two-layer tanh RNN, hidden {cfg.hidden}, toy sine/cosine sequence of {cfg.length} "
        "steps with a pulse at t = 0 (NumPy reference, hand-written BPTT)."), profile, config(profile), cfg.seed)
    micro = micro_example()
    rows = [[f"h_{t + 1}[{k}]", *(float(v[t, k]) for v in micro.values())] for t in range(2) for k in range(2)]
    result.add_table("two steps, three ways", ["value", *micro], rows)
    agree = max(float(np.abs(v - micro["by hand"]).max()) for v in micro.values())
    with tempfile.TemporaryDirectory() as tmp:
        drill = decay.run(Path(tmp), seed=cfg.seed, length=cfg.length, hidden=cfg.hidden)
        result.add_figure("rnn_numpy", "Hidden states of both layers, memory of the pulse, and sensitivity "
                          "||dh_T/dx_t|| (NumPy reference drill).", Path(drill["png"]).read_bytes())
    memory = [np.asarray(m) for m in drill["pulse_memory"]]
    result.add_table("memory of the pulse, ||h_t(pulse) - h_t(no pulse)||", ["layer", "t = 0", "t = 10",
                     "t = 20", f"t = {cfg.length - 1}"],
                     [[k + 1, m[0], m[min(10, len(m) - 1)], m[min(20, len(m) - 1)], m[-1]]
                      for k, m in enumerate(memory)])
    result.add_table("sensitivity of h_T to earlier inputs", ["cell", "decay per step back", "steps to 1%"],
                     [[k, drill["decay_per_step"][k], drill["horizon_1pct"][k]] for k in drill["decay_per_step"]])
    fade = float(memory[0][-1] / memory[0][0])
    verdict = judge(enough=True, confirmed=agree < 1e-12 and fade < 0.01 and drill["decay_per_step"]["rnn"] < 1,
                     refuted=agree > 1e-6 or fade > 0.5)
    return finish(result, verdict,
                  "confirmed when the three computations of the micro example agree to 1e-12, and the pulse's trace in "
                  "layer 1 falls below 1% of its start by the last step with a per-step sensitivity factor below 1; "
                  "refuted when the computations disagree (> 1e-6) or the trace keeps more than half.",
                  f"micro example max difference {agree:.1e}; pulse trace at the end / at t=0: {fade:.1e}; RNN "
                  f"sensitivity x{drill['decay_per_step']['rnn']:.3f} per step back; BPTT vs finite differences "
                  f"{drill['fd_relative_error']:.1e}",
                  f"pulse trace x{fade:.1e} after {cfg.length - 1} steps")
