"""Initialisation schemes for recurrent weights, applied to a whole module.

Each function walks ``m.modules()`` and changes every recurrent layer or cell it
finds in place: torch's ``nn.RNN/LSTM/GRU`` and their cells, seqlab's layers and
cells, or any model containing them (other submodules are left alone). A
recurrent module is recognised by a ``hidden_size`` attribute and parameters
named ``weight_hh*``; the gate count G is ``weight_hh.shape[0] // hidden_size``
and every gate's (H, in) block is treated as the separate matrix it is.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import Tensor, nn

from seqlab.errors import SeqlabError


def _recurrent_params(m: nn.Module) -> Iterator[tuple[nn.Module, str, Tensor]]:
    """Yield (module, name, parameter) for the weight_*/bias_* parameters of every
    recurrent module under m. Raises if there is none."""
    found = False
    for sub in m.modules():
        if not isinstance(getattr(sub, "hidden_size", None), int):
            continue
        params = dict(sub.named_parameters(recurse=False))
        if not any(n.startswith("weight_hh") for n in params):
            continue
        found = True
        for name, p in params.items():
            if name.startswith(("weight_ih", "weight_hh", "bias_ih", "bias_hh")):
                yield sub, name, p
    if not found:
        raise SeqlabError(f"no recurrent layer or cell found in {type(m).__name__}")


def _gate_blocks(sub: nn.Module, p: Tensor) -> list[Tensor]:
    """The G row blocks of a stacked gate parameter, each (H, ...) - views of p."""
    return list(p.split(sub.hidden_size, dim=0))


@torch.no_grad()
def xavier_(m: nn.Module) -> nn.Module:
    """Xavier/Glorot uniform (Glorot & Bengio 2010) on W_ih and W_hh, zero biases.

    Each gate block is its own (H, fan_in) matrix, so the bound is
    sqrt(6 / (fan_in + H)) per block rather than using the stacked G*H rows.
    """
    for sub, name, p in list(_recurrent_params(m)):
        if name.startswith("bias"):
            p.zero_()
            continue
        for block in _gate_blocks(sub, p):
            nn.init.xavier_uniform_(block)
    return m


@torch.no_grad()
def orthogonal_(m: nn.Module, gain: float = 1.0) -> nn.Module:
    """Orthogonal W_hh, one random orthogonal matrix per gate block (Saxe et al. 2014).

    An orthogonal recurrent matrix keeps every singular value at 1, so a linear
    recurrence neither shrinks nor blows up the state (or its gradient) at start.
    W_ih and the biases are left as they are.
    """
    for sub, name, p in list(_recurrent_params(m)):
        if name.startswith("weight_hh"):
            for block in _gate_blocks(sub, p):
                nn.init.orthogonal_(block, gain=gain)
    return m


@torch.no_grad()
def identity_(m: nn.Module, scale: float = 1.0) -> nn.Module:
    """IRNN init (Le et al. 2015): W_hh = scale * I in every gate block, all biases 0.

    Meant for ReLU RNNs, where the identity makes the untrained network copy its
    state forward unchanged. W_ih is left as it is.
    """
    for sub, name, p in list(_recurrent_params(m)):
        if name.startswith("bias"):
            p.zero_()
        elif name.startswith("weight_hh"):
            for block in _gate_blocks(sub, p):
                block.copy_(scale * torch.eye(*block.shape, dtype=p.dtype, device=p.device))
    return m


@torch.no_grad()
def forget_gate_bias_(m: nn.Module, value: float = 1.0) -> nn.Module:
    """Set every LSTM forget-gate bias so that b_ih_f + b_hh_f = value (Gers et al. 2000;
    Jozefowicz et al. 2015 recommend 1): b_ih_f = value and b_hh_f = 0.

    The forget gate is the second of torch's four blocks (i, f, g, o), rows H..2H.
    A positive bias starts f_t = sigmoid(value) near 1, so memory is kept by default.
    """
    changed = False
    for sub, name, p in list(_recurrent_params(m)):
        if not name.startswith("bias") or p.shape[0] != 4 * sub.hidden_size:
            continue
        forget = _gate_blocks(sub, p)[1]  # (H,) view of rows H..2H
        forget.fill_(value if name.startswith("bias_ih") else 0.0)
        changed = True
    if not changed:
        raise SeqlabError(f"no LSTM with biases found in {type(m).__name__} to set a forget-gate bias on")
    return m

