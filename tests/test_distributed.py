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


# ----------------------------------------------------------------------------- translation
MT = {
    "task": {"name": "translation", "corpus": "numbers", "tokenizer": "char", "src_vocab": 300, "tgt_vocab": 300,
             "numbers_size": 60, "numbers_max_words": 4, "max_tokens": 200, "eval_sentences": 4},
    # Luong's general score has no parameter whose gradient is zero in exact arithmetic (a
    # Transformer's key biases are: softmax ignores them, and Adam would blow their rounding
    # noise up to full-size steps, in one process or two alike)
    "model": {"arch": "luong", "embed_dim": 8, "hidden": 16, "layers": 1, "dropout": 0.0},
    "train": {"steps": 4, "eval_every": 2, "checkpoint_every": 2, "lr": 3e-3, "betas": [0.9, 0.98],
              "clip_norm": 1.0, "device": "cpu", "progress": False},
}


def _mt_recipe(steps: int):
    from seqlab.recipe import recipe_from_dict

    return recipe_from_dict({**MT, "train": {**MT["train"], "steps": steps}})


def _noting_rows(seen: list):
    """The translation loss, noting the training rows (pair indices) of each batch in ``seen``."""
    from seqlab.translation.task import TranslationTask

    real = TranslationTask.loss

    def loss(self, model, batch):
        if model.training:
            seen.append(batch.pairs.index.tolist() if batch.weight else [])
        return real(self, model, batch)

    return loss


def _mt_worker(rank: int, world: int, port: int, run_dir: str, out: str) -> None:
    """2 steps, then --resume to 4 steps, both under DDP; each rank notes the rows it trained on."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    from seqlab.translation.loop import train_translator

    from seqlab.translation.task import TranslationTask

    seen = []
    TranslationTask.loss = _noting_rows(seen)
    train_translator(_mt_recipe(2), run_dir, log=lambda line: None)
    train_translator(_mt_recipe(4), run_dir, log=lambda line: None, resume=True)
    torch.save(seen, f"{out}.{rank}")
    torch.distributed.destroy_process_group()


@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch.distributed is not built in")
def test_two_gloo_processes_train_translation_as_one_process_and_resume(tmp_path, one_thread, monkeypatch):
    """Each rank trains on its share of every global batch; rank 0 writes; --resume works under
    DDP; the weights end within 1e-5 of one process trained on the whole batches."""
    import json

    from safetensors.torch import load_file

    from seqlab.translation.loop import train_translator
    from seqlab.translation.task import TranslationTask

    out = str(tmp_path / "rows")
    mp.spawn(_mt_worker, args=(2, _free_port(), str(tmp_path / "ddp"), out), nprocs=2, join=True)
    rows = [torch.load(f"{out}.{rank}", weights_only=True) for rank in range(2)]
    single_rows = []
    monkeypatch.setattr(TranslationTask, "loss", _noting_rows(single_rows))
    train_translator(_mt_recipe(4), tmp_path / "one", log=lambda line: None)
    assert len(single_rows) == len(rows[0]) == len(rows[1]) == 4
    for whole, a, b in zip(single_rows, *rows):
        assert a + b == whole and abs(len(a) - len(b)) <= 1  # the global batch, split between the ranks
    ddp, one = (load_file(str(tmp_path / name / "model.safetensors")) for name in ("ddp", "one"))
    assert ddp.keys() == one.keys()
    for name, value in one.items():
        torch.testing.assert_close(ddp[name], value, rtol=0, atol=1e-5, msg=name)
    records = [json.loads(line) for line in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    evals = [r["step"] for r in records if r["split"] == "eval"]
    assert evals == [2, 4] and all("dev_bleu" in r for r in records if r["split"] == "eval")  # rank 0 alone wrote
    # the logged training loss is the global batch's, not rank 0's share: as one process logs it
    single = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    train_loss = {name: [(r["step"], r["loss"]) for r in recs if r["split"] == "train"]
                  for name, recs in (("ddp", records), ("one", single))}
    assert [s for s, _ in train_loss["ddp"]] == [s for s, _ in train_loss["one"]] and train_loss["one"]
    for (_, ddp_loss), (_, one_loss) in zip(train_loss["ddp"], train_loss["one"]):
        assert ddp_loss == pytest.approx(one_loss, rel=1e-5)
