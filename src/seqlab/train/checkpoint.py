"""Atomic checkpoints that verify themselves and resume exactly.

A checkpoint is a folder ``ckpt-<step>/`` holding the weights as safetensors, the
trainer state (optimizer, scheduler, step, RNG states, carried hidden state) as a
tensors-and-numbers file read back with ``torch.load(weights_only=True)``, and a
``manifest.json`` with the size and SHA-256 of both, written last. The folder is
written under a temporary name, then renamed; only then does the ``latest`` pointer
(one line, replaced atomically with ``os.replace``) move to it. A crash at any moment
leaves the previous checkpoint intact and pointed to.

On load every file is checked against the manifest. A damaged checkpoint (truncated,
emptied, bit-flipped) is skipped with a one-line warning naming it, and the newest
intact one is used instead; a missing or damaged ``latest`` pointer is replaced by
scanning the ``ckpt-*`` folders. Only when nothing intact is left is it an error, one
line naming the folder. Final weights outside a checkpoint (``save_weights``) carry
the same kind of manifest.

Tied weights (one tensor under two names, as a Transformer's output layer shares the
target embedding) are stored once, under their first name (safetensors refuses shared
storage); ``load_model_weights`` accepts the names left out that way, for every model.
"""

from __future__ import annotations

import os
import pickle
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from seqlab.errors import SeqlabError
from seqlab.train.manifest import (MANIFEST, check_manifest, files_under, fsync_path, read_run_files,
                                   record_run_files, write_manifest)

WEIGHTS = "model.safetensors"
STATE = "trainer.pt"
POINTER = "latest"
CKPT_NAME = re.compile(r"ckpt-(\d+)")
CKPT_FILES = (WEIGHTS, STATE, MANIFEST)  # all a checkpoint folder holds

# what reading a damaged weights or state file raises (never a bug of ours)
LOAD_ERRORS = (OSError, EOFError, RuntimeError, ValueError, SafetensorError, pickle.UnpicklingError)
# what a failed write raises (a full disk, a file-size limit): safetensors and torch.save wrap the OSError
WRITE_ERRORS = (OSError, RuntimeError, SafetensorError)


def warn(message: str) -> None:
    """The default warning: one line on stderr."""
    print(f"seqlab: warning: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------- saving
def save_checkpoint(run_dir: str | Path, step: int, model_state: dict, trainer_state: dict, keep: int = 2) -> Path:
    """Write ``ckpt-<step>`` atomically (manifest last), point ``latest`` at it, prune.

    Pruning keeps the newest ``keep`` checkpoints up to ``step`` and removes any beyond
    it: those belong to a stretch of training that this run has replaced (a resume
    from an older checkpoint after the newer one was found damaged). A write that fails
    (a full disk) leaves the previous checkpoints as they were and is one ``SeqlabError``
    saying so.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    final = run_dir / f"ckpt-{step:08d}"
    tmp = run_dir / f".ckpt-{step:08d}.tmp"
    try:
        record_run_files(run_dir, [f"{final.name}/{name}" for name in CKPT_FILES] + [POINTER])
        for folder in (tmp, final):  # seqlab's names; a folder of them holding anything else is not ours
            if folder.exists() and not is_checkpoint_folder(folder):
                raise SeqlabError(f"cannot write checkpoint {final.name} in {run_dir}: {folder.name} is there and "
                                  "holds files seqlab did not write; move it away")
        remove_checkpoint_folder(tmp)
        tmp.mkdir()
        save_file(_stored(model_state), str(tmp / WEIGHTS))
        torch.save(trainer_state, tmp / STATE)
        write_manifest(tmp, [WEIGHTS, STATE])
        fsync_path(tmp)
    except WRITE_ERRORS as err:
        _discard(tmp)
        raise SeqlabError(f"cannot write checkpoint {final.name} in {run_dir}: {_first_line(err)}."
                          f"{checkpoint_note(run_dir)}") from None
    remove_checkpoint_folder(final)  # the same step written again: the new one replaces it whole
    os.replace(tmp, final)
    try:
        pointer_tmp = run_dir / f".{POINTER}.tmp"
        pointer_tmp.write_text(final.name + "\n")
        os.replace(pointer_tmp, run_dir / POINTER)
    except OSError as err:  # the checkpoint is whole; a reader finds it by scanning
        raise SeqlabError(f"wrote {final} but not the pointer to it ({err.strerror or err}); "
                          f"--resume finds the checkpoint by scanning") from None
    fsync_path(run_dir)
    _prune(run_dir, keep, step)
    return final


def _prune(run_dir: Path, keep: int, step: int) -> None:
    ckpts = checkpoints(run_dir)  # newest first
    for old in [p for s, p in ckpts if s > step] + [p for s, p in ckpts if s <= step][keep:]:
        remove_checkpoint_folder(old)  # a folder holding anything else is not ours: left as it is


def _discard(tmp: Path) -> None:
    """The half-written temporary folder of a failed write (we made it this call: only our files)."""
    try:
        remove_checkpoint_folder(tmp)
    except OSError:
        pass


def is_checkpoint_folder(folder: Path) -> bool:
    """A real folder that holds only files a checkpoint is made of (a user's folder of the same name
    holds something else)."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    return all(p.name in CKPT_FILES and p.is_file() and not p.is_symlink() for p in folder.iterdir())


def remove_checkpoint_folder(folder: Path) -> bool:
    """Delete ``folder`` if it is a checkpoint folder (:func:`is_checkpoint_folder`), never anything
    else; True when it is gone (or was never there)."""
    if not folder.exists() and not folder.is_symlink():
        return True
    if not is_checkpoint_folder(folder):
        return False
    for p in folder.iterdir():
        p.unlink()
    folder.rmdir()
    return True


def save_weights(tensors: dict[str, torch.Tensor], folder: str | Path, step: int | None = None) -> Path:
    """Final weights as ``folder/model.safetensors`` (written beside, renamed over) plus a
    manifest, so a reader can tell a damaged file from a good one. ``step``, when given, is
    stored in the file's metadata: a reader compares it with the newest checkpoint's."""
    folder = Path(folder)
    path = folder / WEIGHTS
    tmp = folder / f".{WEIGHTS}.tmp"
    try:
        record_run_files(folder, [WEIGHTS, MANIFEST])
        save_file(_stored(tensors), str(tmp), metadata=None if step is None else {"step": str(step)})
        fsync_path(tmp)
        os.replace(tmp, path)
        write_manifest(folder, [WEIGHTS])
    except WRITE_ERRORS as err:
        tmp.unlink(missing_ok=True)
        raise SeqlabError(f"cannot write the final weights {path}: {_first_line(err)}.{checkpoint_note(folder)}") \
            from None
    fsync_path(folder)
    return path


def unique_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without the second name of a tied weight (the first name keeps it)."""
    seen, out = set(), {}
    for name, tensor in state.items():
        key = (tensor.data_ptr(), tuple(tensor.shape)) if tensor.numel() else (name,)
        if key not in seen:
            seen.add(key)
            out[name] = tensor
    return out


def _stored(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().cpu().contiguous() for k, v in unique_state(state).items()}


def load_model_weights(model: torch.nn.Module, tensors: dict[str, torch.Tensor], where: str | Path) -> None:
    """Load ``tensors`` into ``model``; a tied weight saved once under its first name is fine,
    anything else missing or unexpected is one line naming ``where``."""
    try:
        missing, unexpected = model.load_state_dict(tensors, strict=False)
    except RuntimeError as err:  # a shape that differs
        raise SeqlabError(f"{where}: the weights do not fit the model ({_first_line(err)})") from None
    tied = set(model.state_dict()) - set(unique_state(model.state_dict()))
    missing = [name for name in missing if name not in tied]
    if missing or unexpected:
        raise SeqlabError(f"{where}: the weights do not fit the model (missing {missing[:3]}, "
                          f"unexpected {unexpected[:3]})")


# ----------------------------------------------------------------------------- finding
def checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, folder) of every ``ckpt-<step>`` folder, newest first (unverified)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = []
    for p in run_dir.iterdir():
        m = CKPT_NAME.fullmatch(p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return sorted(found, reverse=True)


def _pointer(run_dir: Path) -> tuple[Path | None, str | None]:
    """(the folder ``latest`` names, or None; what is wrong with the pointer, or None)."""
    pointer = run_dir / POINTER
    if not pointer.is_file():
        return None, f"{pointer} is missing"
    try:
        name = pointer.read_bytes().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError):
        name = ""
    if not CKPT_NAME.fullmatch(name):
        return None, f"{pointer} is damaged"
    if not (run_dir / name).is_dir():
        return None, f"{pointer} names {name}, which is not there"
    return run_dir / name, None


def _candidates(run_dir: Path) -> tuple[list[Path], str | None]:
    target, problem = _pointer(run_dir)
    rest = [p for _, p in checkpoints(run_dir) if p != target]
    return ([target] if target is not None else []) + rest, problem


@dataclass
class Loaded:
    """An intact checkpoint: its folder, weights and (unless not asked for) trainer state."""

    path: Path
    weights: dict[str, torch.Tensor]
    state: dict | None


def _read(ckpt: Path, with_state: bool) -> Loaded:
    """Verify ``ckpt`` and read it; a damaged one raises ``_Damaged`` with the reason."""
    names = [WEIGHTS, STATE] if with_state else [WEIGHTS]
    problem = check_manifest(ckpt, names)
    if problem is not None and problem != f"no {MANIFEST}":
        raise _Damaged(problem)
    try:  # also the only check of a checkpoint written before manifests
        weights = load_file(str(ckpt / WEIGHTS))
        state = torch.load(ckpt / STATE, map_location="cpu", weights_only=True) if with_state else None
    except FileNotFoundError as err:
        raise _Damaged(f"{Path(err.filename).name} is missing") from None
    except LOAD_ERRORS as err:
        raise _Damaged(f"unreadable ({_first_line(err)})") from None
    return Loaded(ckpt, weights, state)


class _Damaged(Exception):
    pass


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_checkpoint(run_dir: str | Path, with_state: bool = True,
                    on_warning: Callable[[str], None] | None = warn, set_aside: bool = False) -> Loaded:
    """The newest intact checkpoint of ``run_dir``, verified and read.

    The one ``latest`` points to comes first, then the others newest first. Each damaged
    one passed over, and a missing or damaged pointer, is reported with ``on_warning``
    (one line each); nothing intact is a ``SeqlabError`` naming the folder. A run that
    resumes (and holds the folder) passes ``set_aside``: the damaged checkpoints passed
    over are renamed ``damaged-ckpt-<step>``, out of the way of scanning and pruning.
    """
    run_dir = Path(run_dir)
    on_warning = on_warning or (lambda message: None)
    candidates, pointer_problem = _candidates(run_dir)
    if not candidates:
        raise SeqlabError(f"no checkpoint in {run_dir}")
    damaged = []
    for ckpt in candidates:
        try:
            loaded = _read(ckpt, with_state)
        except _Damaged as err:
            damaged.append((ckpt, str(err)))
            continue
        if pointer_problem is not None:
            on_warning(f"{pointer_problem}; found {ckpt.name} by scanning the checkpoints")
        for bad, why in damaged:
            aside = ""
            if set_aside:
                try:
                    _set_aside(run_dir, bad)
                    aside = f", set aside as damaged-{bad.name}"
                except OSError:
                    pass
            on_warning(f"checkpoint {bad} is damaged ({why}){aside}; falling back to {ckpt.name}")
        return loaded
    raise SeqlabError(f"no intact checkpoint in {run_dir}: "
                      + "; ".join(f"{bad.name} is damaged ({why})" for bad, why in damaged))


def _set_aside(run_dir: Path, bad: Path) -> None:
    """Rename a damaged checkpoint ``damaged-ckpt-<step>``; its listed files stay listed under the new name."""
    aside = bad.with_name(f"damaged-{bad.name}")
    listed = read_run_files(run_dir) or set()
    os.replace(bad, aside)
    moved = [name for name in files_under(run_dir, aside)
             if f"{bad.name}/{name.split('/', 1)[1]}" in listed]
    record_run_files(run_dir, moved)


def latest_checkpoint(run_dir: str | Path) -> Path | None:
    """The folder of the newest intact checkpoint, or None (no warnings)."""
    candidates, _ = _candidates(Path(run_dir))
    for ckpt in candidates:
        try:
            _read(ckpt, with_state=True)
        except _Damaged:
            continue
        return ckpt
    return None


def checkpoint_note(run_dir: str | Path | None) -> str:
    """What a run that stops on an error leaves to resume from, as one sentence."""
    if run_dir is None:
        return ""
    found = checkpoints(run_dir)
    if not found:
        return f" No checkpoint was written to {run_dir} before it, so there is nothing to resume: start again."
    target, _ = _pointer(Path(run_dir))
    return f" The last checkpoint, {target or found[0][1]}, is untouched: --resume continues from it."


def load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Weights from a checkpoint folder or a ``.safetensors`` file (never a pickle).

    A folder with a manifest is verified against it; a damaged file is one line.
    """
    path = Path(path)
    file = path / WEIGHTS if path.is_dir() else path
    if file.suffix != ".safetensors" or not file.is_file():
        raise SeqlabError(f"no safetensors weights at {path}; expected a checkpoint folder or a .safetensors file")
    if (file.parent / MANIFEST).is_file():
        problem = check_manifest(file.parent, [file.name])
        if problem is not None:
            raise SeqlabError(f"{file} is damaged: {problem}")
    try:
        return load_file(str(file))
    except LOAD_ERRORS as err:
        raise SeqlabError(f"{file} is damaged: {_first_line(err)}") from None


def weights_step(file: Path) -> int | None:
    """The training step ``save_weights`` stored in a weights file's metadata (None: not stored)."""
    try:
        with safe_open(str(file), "pt") as fh:
            return int((fh.metadata() or {})["step"])
    except (KeyError, ValueError, *LOAD_ERRORS):
        return None


def load_final_weights(folder: str | Path, ckpt_dir: str | Path,
                       on_warning: Callable[[str], None] | None = warn) -> dict[str, torch.Tensor]:
    """The newest intact weights of a run: ``folder/model.safetensors``, unless it is damaged,
    missing, or older than an intact checkpoint under ``ckpt_dir`` (a resumed run stopped
    before its end); then that checkpoint's, with a one-line warning saying why."""
    file = Path(folder) / WEIGHTS
    final, step, problem = None, None, f"{file} is missing (training was cut before the end)"
    if file.is_file():
        try:
            final, step = load_weights(file), weights_step(file)
        except SeqlabError as err:
            problem = str(err)
    if final is not None and (step is None or not any(s > step for s, _ in checkpoints(ckpt_dir))):
        return final
    notes: list[str] = []
    try:
        loaded = load_checkpoint(ckpt_dir, with_state=False, on_warning=notes.append)
    except SeqlabError as err:
        if final is not None:
            return final
        raise SeqlabError(f"{problem}, and {err}") from None
    if final is not None and int(CKPT_NAME.fullmatch(loaded.path.name).group(1)) <= step:
        return final
    if final is not None:
        problem = f"{file} holds step {step}, and the run went on (resumed, then stopped before its end)"
    for note in notes + [f"{problem}; using the weights of {loaded.path}"]:
        if on_warning is not None:
            on_warning(note)
    return loaded.weights


def load_trainer_state(ckpt: Path) -> dict:
    return torch.load(ckpt / STATE, map_location="cpu", weights_only=True)
