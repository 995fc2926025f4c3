"""DDP: two gloo processes on halves of each batch follow one process on the whole batch."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

from seqlab.data.tasks import AddingProblem
from seqlab.nn.sequence import SequenceModel
from seqlab.train import Trainer, TrainConfig

CFG = TrainConfig(steps=4, batch_size=8, lr=1e-2, progress=False, eval_every=100, device="cpu")


def _model():
    torch.manual_seed(0)
    return SequenceModel(nn.LSTM(4, 8, batch_first=True), 8, 1, input_dim=2, embed_dim=4)


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    model = _model()
    seen = []  # rows of each training batch this process sees
    model.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]) if m.training else None)
    Trainer(model, AddingProblem(length=6), CFG).fit()
    if rank == 0:
        state = {k: v.detach() for k, v in model.state_dict().items()}
        torch.save({"state": state, "seen": torch.tensor(seen)}, out)
    torch.distributed.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_two_gloo_processes_match_one_process(tmp_path):
    out = str(tmp_path / "ddp.pt")
    mp.spawn(_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    saved = torch.load(out, weights_only=True)
    ddp = saved["state"]
    assert saved["seen"].tolist() == [CFG.batch_size // 2] * CFG.steps  # each rank got half
    single = _model()
    Trainer(single, AddingProblem(length=6), CFG).fit()
    for name, value in single.state_dict().items():
        torch.testing.assert_close(ddp[name], value, rtol=0, atol=1e-5, msg=name)
