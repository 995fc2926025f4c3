"""Activation memory of a forward pass: the bytes autograd saves for backward (C27, C28, C29).

A forward pass keeps, for its backward, the tensors that the backward formulas need
(inputs of matrix products, gate values, ...). Their total is the activation memory of
the pass, the part that grows with sequence length, width or depth. It is counted
exactly with ``torch.autograd.graph.saved_tensors_hooks``: every saved tensor's storage
is recorded once (views of one storage count once) and the parameters' storages are left
out (they exist whether or not anything is trained). The count is deterministic and the
same on any device, unlike a process's resident memory, which never shrinks and mixes in
the allocator, Python and library state. ``seqlab.experiments.gradients.c08_truncated_bptt`` counts
the windows of truncated BPTT the same way.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def saved_bytes(forward: Callable[[], object], exclude=()) -> tuple[int, object]:
    """Bytes that ``forward()`` saves for backward (unique storages), and its return value.

    ``exclude``: tensors whose storages are not counted (the parameters, typically).
    """
    skip = {t.untyped_storage().data_ptr() for t in exclude}
    seen: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = forward()
    return sum(n for ptr, n in seen.items() if ptr not in skip), out


def model_saved_bytes(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Activation bytes of one forward pass of a backbone-convention ``model(x) -> (out, state)``."""
    total, _ = saved_bytes(lambda: model(x)[0], exclude=list(model.parameters()))
    return total
