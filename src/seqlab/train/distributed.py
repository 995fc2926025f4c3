"""Data-parallel training under ``torchrun`` with PyTorch's own DDP.

``torchrun --nproc_per_node=N seqlab train CONFIG`` sets RANK / WORLD_SIZE; each
process then takes an equal slice of every global batch and DDP averages the
gradients, so N processes follow the same trajectory as one process on the whole
batch. Only rank 0 writes logs and checkpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    backend: str = ""  # "gloo" or "nccl" under torchrun; "" for one process

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def describe(self) -> str:
        """One line for the log: whether DDP is on, with how many processes and which backend."""
        if not self.active:
            return "one process (no DDP)"
        return f"DDP on: {self.world} processes, backend {self.backend}"


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group that torchrun describes; a no-op for one process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    return DistInfo(rank=dist.get_rank(), world=dist.get_world_size(), backend=str(dist.get_backend()))


def wrap_model(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    if not info.active:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index if device.index is not None else 0] if device.type == "cuda" else None
    return DDP(model, device_ids=ids)


def all_reduce_mean(value: float, info: DistInfo) -> float:
    if not info.active:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t)
    return (t / info.world).item()


def all_reduce_weighted_mean(value: float, weight: float, info: DistInfo, device: torch.device) -> float:
    """The mean of every rank's ``value`` weighted by its ``weight`` (a count of tokens or rows):
    sum_r w_r v_r / sum_r w_r, the value one process would compute on the whole global batch.
    Only for logging: it runs outside autograd and never touches the gradient."""
    if not info.active:
        return value
    t = torch.tensor([value * weight, weight], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    total, weights = t.tolist()
    return total / weights if weights else value


def rank_zero_says(flags: tuple[bool, ...], info: DistInfo, device: torch.device) -> tuple[bool, ...]:
    """Rank 0's ``flags`` on every rank: decisions taken on a clock or a signal (evaluate now,
    out of time, Ctrl-C) must be the same everywhere, or one process would wait forever."""
    if not info.active:
        return flags
    t = torch.tensor([int(f) for f in flags], dtype=torch.int32, device=device)
    dist.broadcast(t, src=0)
    return tuple(bool(v) for v in t.tolist())


def from_rank_zero(obj, info: DistInfo):
    """Rank 0's ``obj`` (anything picklable) on every rank, e.g. scores only rank 0 computes."""
    if not info.active:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
