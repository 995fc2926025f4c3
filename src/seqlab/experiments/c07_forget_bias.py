"""C7: initialising the LSTM forget-gate bias to 1 or 2 helps it remember.

With bias b_f the forget gate starts near sigmoid(b_f): 0.5 for b_f = 0, 0.73 for
1, 0.88 for 2, so the cell state (and its gradient) decays by that factor per
step instead of halving. Two measurements: the gradient reach
log10(||dL/dx_1|| / ||dL/dx_T||) of the untrained model, and the held-out loss
after the same training budget on the adding problem (several seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig, build_model
from seqlab.config import to_dict
from seqlab.data.tasks import AddingProblem
from seqlab.diagnostics import input_gradient_norms
from seqlab.diagnostics.plots import line_plot
from seqlab.experiments.base import check_profile, decide, finish, new_result
from seqlab.experiments.training import fit, score

CLAIM_ID = "C7"
CLAIM = ("Starting the LSTM forget-gate bias at 1 or 2 (instead of 0) makes the cell keep information longer "
         "and learn long dependencies more easily.")


@dataclass(frozen=True)
class Config:
    length: int = 40
    hidden: int = 32
    biases: tuple[float, ...] = (0.0, 1.0, 2.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: int = 400
    lr: float = 0.01


PROFILES = {"quick": Config(), "full": Config(length=300, hidden=128, seeds=(0, 1, 2), steps=3000, lr=2e-3)}
# the whole run() path in a few seconds (tests/test_ledger_determinism.py runs it twice)
TINY = Config(length=10, hidden=8, seeds=(0, 1), steps=4)


def config(profile: str) -> dict:
    return to_dict(PROFILES[check_profile(profile)])


def init_reach(spec: ModelConfig, task, seed: int) -> float:
    """log10(||dL/dx_1|| / ||dL/dx_T||) of the untrained model (float64)."""
    torch.manual_seed(seed)
    model = build_model(spec, task).double().eval()
    x = task.sample(16, torch.Generator().manual_seed(999)).x.double()
    norms = input_gradient_norms(model, x)
    return float(np.log10(max(norms[0], 1e-300) / norms[-1]))


def run(profile: str = "quick"):
    cfg = PROFILES[check_profile(profile)]
    result = new_result(CLAIM_ID, CLAIM, (
        f"LSTM, hidden {cfg.hidden}, adding problem T = {cfg.length}, Adam lr {cfg.lr}, clip 1.0, {cfg.steps} "
        f"batches of 32, forget-gate bias in {list(cfg.biases)}, seeds {list(cfg.seeds)}; held-out MSE / chance "
        "on 128 sequences; gradient reach of the untrained model."), profile, config(profile), cfg.seeds[0])
    task = AddingProblem(cfg.length)
    reach, finals, rows, curves = {}, {}, [], {}
    for b in cfg.biases:
        spec = ModelConfig(arch="lstm", hidden_size=cfg.hidden, embed_dim=16, forget_bias=b)
        reach[b] = init_reach(spec, task, cfg.seeds[0])
        finals[b] = []
        for seed in cfg.seeds:
            f = fit(spec, task, cfg.steps, lr=cfg.lr, seed=seed, clip_norm=1.0)
            finals[b].append(score(f.model, task, batches=2)["normalized"])
            if seed == cfg.seeds[0]:
                loss = np.convolve(f.curve.loss, np.ones(10) / 10, mode="valid") / task.chance_loss
                curves[f"forget bias {b:g}"] = (np.arange(len(loss)) + 10, loss)
        rows.append([b, 1 / (1 + np.exp(-b)), reach[b], *finals[b], float(np.mean(finals[b]))])
    result.add_table("forget-gate bias", ["b_f", "sigmoid(b_f)", "init reach (decades)",
                                          *[f"loss/chance seed {s}" for s in cfg.seeds], "mean"], rows)
    result.add_figure("curves", "Training loss / chance (10-step moving average), first seed.",
                      line_plot(curves, "adding problem", "step", "MSE / chance", logy=True))
    return _verdict(result, reach, finals, cfg)


def _verdict(result, reach: dict, finals: dict, cfg: Config):
    mean = {b: float(np.mean(v)) for b, v in finals.items()}
    zero, best_pos = mean[0.0], min(mean[b] for b in cfg.biases if b > 0)
    learned = min(mean.values()) < 0.5
    reach_grows = all(reach[a] < reach[b] for a, b in zip(cfg.biases, cfg.biases[1:]))
    # per-seed agreement: each seed's best positive bias beats bias 0
    seeds_agree = all(min(finals[b][i] for b in cfg.biases if b > 0) < finals[0.0][i] for i in range(len(cfg.seeds)))
    confirmed = reach_grows and best_pos <= zero - 0.1 and seeds_agree
    refuted = best_pos >= zero + 0.1
    verdict = decide(enough=learned and len(cfg.seeds) >= 2, confirmed=confirmed, refuted=refuted)
    return finish(result, verdict,
                  "needs some setting to learn (mean loss < 0.5 x chance) and >= 2 seeds. Confirmed when the untrained "
                  "gradient reach grows with the bias, and the better of biases 1 and 2 ends at least 0.1 x chance "
                  "below bias 0 on average and on every seed; refuted when it ends at least 0.1 x chance above.",
                  f"mean loss/chance: " + ", ".join(f"b={b:g}: {m:.3f}" for b, m in mean.items())
                  + "; init reach: " + ", ".join(f"b={b:g}: {r:.1f}" for b, r in reach.items()) + " decades",
                  f"loss/chance b=0 {zero:.2f} vs best b>0 {best_pos:.2f}")
