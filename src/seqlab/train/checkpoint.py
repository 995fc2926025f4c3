"""Atomic checkpoints that resume exactly.

A checkpoint is a folder ``ckpt-<step>/`` holding the weights as safetensors and the
trainer state (optimizer, scheduler, step, RNG states, carried hidden state) as a
tensors-and-numbers file read back with ``torch.load(weights_only=True)``. The folder
is written under a temporary name, then renamed; only then does the ``latest`` pointer
(one line, replaced atomically with ``os.replace``) move to it. A crash at any moment
leaves the previous checkpoint intact and pointed to.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from seqlab.errors import SeqlabError

WEIGHTS = "model.safetensors"
STATE = "trainer.pt"
POINTER = "latest"


def rng_state() -> dict:
    state = {
        "torch": torch.get_rng_state(),
        "python": list(random.getstate()[1]) + [random.getstate()[2] or 0],
        "python_version": random.getstate()[0],
        "numpy": _numpy_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state() -> dict:
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    py = state["python"]
    random.setstate((state["python_version"], tuple(py[:-1]), None))
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_checkpoint(run_dir: str | Path, step: int, model_state: dict, trainer_state: dict, keep: int = 2) -> Path:
    """Write ``ckpt-<step>`` atomically and point ``latest`` at it; prune old ones."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / f"ckpt-{step:08d}"
    tmp = run_dir / f".ckpt-{step:08d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    tensors = {k: v.detach().cpu().contiguous() for k, v in model_state.items()}
    save_file(tensors, str(tmp / WEIGHTS))
    torch.save(trainer_state, tmp / STATE)
    _fsync_dir(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    pointer_tmp = run_dir / f".{POINTER}.tmp"
    pointer_tmp.write_text(final.name + "\n")
    os.replace(pointer_tmp, run_dir / POINTER)
    _fsync_dir(run_dir)
    _prune(run_dir, keep, final.name)
    return final


def _prune(run_dir: Path, keep: int, current: str) -> None:
    ckpts = sorted(p for p in run_dir.glob("ckpt-*") if p.is_dir())
    for old in ckpts[:-keep]:
        if old.name != current:
            shutil.rmtree(old, ignore_errors=True)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    pointer = Path(run_dir) / POINTER
    if not pointer.is_file():
        return None
    path = Path(run_dir) / pointer.read_text().strip()
    return path if (path / WEIGHTS).is_file() else None


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Weights from a checkpoint folder or a ``.safetensors`` file (never a pickle)."""
    path = Path(path)
    file = path / WEIGHTS if path.is_dir() else path
    if file.suffix != ".safetensors" or not file.is_file():
        raise SeqlabError(f"no safetensors weights at {path}; expected a checkpoint folder or a .safetensors file")
    return load_file(str(file))


def load_trainer_state(ckpt: Path) -> dict:
    return torch.load(ckpt / STATE, map_location="cpu", weights_only=True)
