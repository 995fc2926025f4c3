"""Recurrent layers: training tokens/s of RNN, LSTM and GRU per backend over a (B, H, T) grid.

Backends compared on the same sizes: torch's own ``nn.RNN/LSTM/GRU``, seqlab's
``fused`` backend (torch's kernels, our parameters), the ``cell`` backend (the
equations in a Python loop over time) and, when asked, the cell backend with
its step compiled by ``torch.compile``. One training step is forward + backward
to every weight on (B, T, H) inputs. FLOPs per token per layer: G gate blocks of
two GEMVs, 2 G H (D + H) forward with D = H, times 3 for forward + backward
(G = 1 RNN, 3 GRU, 4 LSTM); achieved FLOP/s is compared with the GEMM peak.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from seqlab.bench.measure import autocast_for, time_call
from seqlab.bench.table import Section

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def _torch_layer(arch: str, hidden: int) -> nn.Module:
    classes: dict[str, type[nn.Module]] = {"RNN": nn.RNN, "GRU": nn.GRU, "LSTM": nn.LSTM}
    return classes[arch](hidden, hidden, batch_first=True)


def _seqlab_layer(arch: str, hidden: int, backend: str, compiled: bool) -> nn.Module:
    from seqlab.nn import recurrent

    classes: dict[str, type[nn.Module]] = {"RNN": recurrent.RNN, "GRU": recurrent.GRU, "LSTM": recurrent.LSTM}
    return classes[arch](hidden, hidden, batch_first=True, backend=backend, compiled=compiled)


def backends(compiled: bool) -> dict[str, Callable[[str, int], nn.Module]]:
    """backend label -> constructor(arch, hidden). seqlab's backends only when importable."""
    found: dict[str, Callable[[str, int], nn.Module]] = {"torch": _torch_layer}
    try:
        import seqlab.nn.recurrent  # noqa: F401
    except ImportError:
        return found
    found["fused"] = lambda arch, hidden: _seqlab_layer(arch, hidden, "fused", False)
    found["cell"] = lambda arch, hidden: _seqlab_layer(arch, hidden, "cell", False)
    if compiled:
        found["cell+compile"] = lambda arch, hidden: _seqlab_layer(arch, hidden, "cell", True)
    return found


def run(
    device: torch.device,
    batches: tuple[int, ...],
    hidden_sizes: tuple[int, ...],
    lengths: tuple[int, ...],
    compiled: bool,
    peak_flops: float,
    warmup: int,
    repeats: int,
) -> Section:
    """One row per (arch, backend, B, H, T): time, tokens/s, GFLOP/s, fraction of peak, ratio to torch."""
    section = Section(
        "recurrent",
        "Recurrent layers: training step (fwd+bwd), one layer",
        ["arch", "backend", "B", "H", "T", "median_ms", "spread_ms", "ktok_s", "gflop_s", "of_peak", "vs_torch"],
    )
    torch.manual_seed(0)
    for arch, gates in GATES.items():
        for hidden in hidden_sizes:
            layers = {name: make(arch, hidden).to(device) for name, make in backends(compiled).items()}
            for B in batches:
                for T in lengths:
                    x = torch.randn(B, T, hidden, device=device)  # (B, T, H)
                    flops = 3 * 2 * gates * hidden * 2 * hidden * B * T
                    _measure_point(section, arch, layers, x, flops, peak_flops, device, warmup, repeats)
    section.notes.append("of_peak: achieved FLOP/s / fp32 GEMM peak; vs_torch: torch module time / this time")
    return section


def _measure_point(section, arch, layers, x, flops, peak_flops, device, warmup, repeats) -> None:
    B, T, H = x.shape
    torch_time = None
    for name, layer in layers.items():
        params = list(layer.parameters())

        def step(layer=layer, params=params):
            with autocast_for(device):
                out = layer(x)[0]  # (B, T, H)
            return torch.autograd.grad(out.float().square().mean(), params)

        t = time_call(step, device, warmup, repeats)
        torch_time = t.median if name == "torch" else torch_time
        rate = flops / t.median
        section.rows.append(
            {"arch": arch, "backend": name, "B": B, "H": H, "T": T, **t.as_dict(),
             "ktok_s": B * T / t.median / 1e3, "gflop_s": rate / 1e9, "of_peak": rate / peak_flops,
             "vs_torch": torch_time / t.median}
        )
