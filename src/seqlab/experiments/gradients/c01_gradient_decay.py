"""C1: how the gradient w.r.t. early inputs fades with distance, per architecture.

For each model (at initialisation, float64) we feed adding-problem inputs of
length T and take the probe loss L = sum of the outputs at the last step; then
||dL/dx_t|| for every t (``seqlab.diagnostics.input_gradient_norms``). Summary
per model: ``decades`` = log10(mean norm over the earliest 10% of steps / mean
norm over the latest 10% before the last step); the last step is left out
because there the Transformer's residual path adds a direct term. A vanilla RNN
should show a large negative number that grows with T (exponential decay), the
LSTM a smaller one, the Transformer about zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.data.tasks import AddingProblem
from seqlab.diagnostics import input_gradient_norms
from seqlab.diagnostics.plots import gradient_flow_plot
from seqlab.experiments.core import flops
from seqlab.experiments.core.base import check_profile, finish, judge, new_result
from seqlab.experiments.core.units import Unit, config_of, settings
from seqlab.nn import SequenceModel
from seqlab.nn.transformer import TransformerLM
from seqlab.train.device import pick_device

CLAIM_ID = "C1"
CLAIM = ("In a vanilla RNN the gradient reaching an input shrinks exponentially with its distance from the "
         "loss; an LSTM keeps it more even; a Transformer's does not shrink with distance at all.")


@dataclass(frozen=True)
class Config:
    lengths: tuple[int, ...] = (100, 200)
    hidden: int = 32
    batch: int = 8
    heads: int = 4
    layers: int = 2
    seed: int = 0


PROFILES = {"quick": Config(), "full": Config(lengths=(100, 300, 1000), hidden=128, batch=16)}


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


MODELS = ("RNN (tanh)", "LSTM", "LSTM, forget bias 1", "GRU", "Transformer")


def model(name: str, cfg: Config, task) -> nn.Module:
    """One of the compared models (``MODELS``), freshly initialised (seeded) for ``task``."""
    torch.manual_seed(cfg.seed)
    if name == "Transformer":
        backbone = TransformerLM(cfg.hidden, cfg.hidden, cfg.heads, 4 * cfg.hidden, cfg.layers, dropout=0.0)
        return SequenceModel(backbone, cfg.hidden, task.output_dim, input_dim=task.input_dim, embed_dim=cfg.hidden)
    specs = {"RNN (tanh)": ModelConfig(arch="rnn_tanh", hidden_size=cfg.hidden, embed_dim=cfg.hidden),
             "LSTM": ModelConfig(arch="lstm", hidden_size=cfg.hidden, embed_dim=cfg.hidden),
             "LSTM, forget bias 1": ModelConfig(arch="lstm", hidden_size=cfg.hidden, embed_dim=cfg.hidden,
                                                forget_bias=1.0),
             "GRU": ModelConfig(arch="gru", hidden_size=cfg.hidden, embed_dim=cfg.hidden)}
    return build_model(specs[name], task)


def decades(norms: np.ndarray) -> float:
    """log10(early / late) mean gradient norm (earliest vs latest 10%, last step excluded)."""
    k = max(1, len(norms) // 10)
    early, late = norms[:k].mean(), norms[-k - 1 : -1].mean()
    return float(np.log10(max(early, 1e-300) / late))


def units(profile: str, done: dict) -> list[Unit]:
    """One unit per (model, T): the gradient norms of one untrained model on one batch."""
    cfg = PROFILES[check_profile(profile)]
    arch = {"RNN (tanh)": "rnn_tanh", "LSTM": "lstm", "LSTM, forget bias 1": "lstm", "GRU": "gru"}
    return [Unit(f"{_slug(name)}-T{T}", "measure", {"cfg": settings(cfg, ("lengths",)), "name": name, "T": T},
                 seed=cfg.seed, flops=flops.TRAIN * cfg.batch * T * flops.task_model(
                     arch.get(name, "transformer"), 2, cfg.hidden, 1, T, cfg.layers if name == "Transformer" else 1))
            for T in cfg.lengths for name in MODELS]


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")


def measure(cfg: dict, name: str, T: int) -> dict:
    """||dL/dx_t|| for every t of model ``name`` (float64, at init) on adding-problem inputs of length T."""
    cfg = config_of(Config, cfg)
    device = pick_device("auto")
    if device.type == "mps":  # MPS has no float64; these norms span 50 decades
        device = torch.device("cpu")
    task = AddingProblem(T)
    x = task.sample(cfg.batch, torch.Generator().manual_seed(cfg.seed)).x.double().to(device)  # (B, T, 2)
    norms = input_gradient_norms(model(name, cfg, task).double().to(device).eval(), x, loss_at="last")
    return {"norms": np.asarray(norms, dtype=float).tolist()}


def decide(profile: str, results: dict):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"Untrained models, hidden/model width {cfg.hidden}, float64, batch {cfg.batch} of adding-problem "
        f"inputs, T in {list(cfg.lengths)}. Probe loss: sum of outputs at the last step. The Transformer is "
        f"seqlab's decoder-only TransformerLM ({cfg.layers} pre-norm layers, {cfg.heads} heads, causal mask, "
        "sinusoidal positions)."),
        profile, config(profile), cfg.seed)
    rows, table = {}, []
    for T in cfg.lengths:
        curves = {}
        for name in MODELS:
            norms = np.asarray(results[f"{_slug(name)}-T{T}"]["norms"])
            curves[name] = norms
            rows.setdefault(name, {})[T] = decades(norms)
            table.append([name, T, float(norms[0]), float(norms[-2]), float(norms[-1]), rows[name][T]])
        result.add_figure(f"grad_T{T}", f"||dL/dx_t|| against t at T = {T}, log scale (loss at the last step).",
                          gradient_flow_plot(curves, f"gradient w.r.t. each input, T = {T}"))
    result.add_table("gradient norms at init", ["model", "T", "||dL/dx_1||", "||dL/dx_(T-1)||", "||dL/dx_T||",
                                                 "log10 early/late"], table)
    return _verdict(result, rows, cfg)


def _verdict(result, rows: dict, cfg: Config):
    T = max(cfg.lengths)
    rnn, lstm, tf = rows["RNN (tanh)"][T], max(rows["LSTM"][T], rows["LSTM, forget bias 1"][T]), rows["Transformer"][T]
    # exponential: the decay (in decades) grows with T, roughly in proportion
    short = rows["RNN (tanh)"][min(cfg.lengths)]
    grows = len(cfg.lengths) > 1 and rnn < 1.5 * short
    confirmed = rnn < -3 and grows and lstm > rnn + 1 and abs(tf) < 1
    refuted = rnn > -1 or tf < -2 or lstm < rnn
    verdict = judge(enough=True, confirmed=confirmed, refuted=refuted)
    return finish(result, verdict,
                  "confirmed when, at the longest T, the RNN's early/late gradient ratio is below 1e-3 and its decay "
                  "(in decades) grows with T, the better LSTM is at least one decade more even than the RNN, and the "
                  "Transformer's ratio is within one decade of 1; refuted when the RNN decays less than one decade, "
                  "the Transformer more than two, or the LSTM decays faster than the RNN.",
                  f"at T = {T}: log10(early/late) RNN {rnn:.1f} (at T = {min(cfg.lengths)}: {short:.1f}), "
                  f"best LSTM {lstm:.1f}, GRU {rows['GRU'][T]:.1f}, Transformer {tf:.2f}",
                  f"T={T}: RNN {rnn:.1f}, LSTM {lstm:.1f}, TF {tf:.2f} decades")
