"""A run folder belongs to one run.

``RunFolder.open(path, ckpt_dir, resume=..., overwrite=...)`` is called by every training
loop that writes a run folder (the task trainer and the translation loop) before it
writes anything:

* an exclusive lock (``flock`` on ``path/.lock``, holding the owner's PID) is taken for
  the whole run; a second run into the same folder fails with one line naming the PID.
  The kernel drops the lock when the process ends, however it ends, so a killed run
  never leaves a stale lock;
* a new run into a folder that already holds a run's files (checkpoints, metrics,
  history, weights, recipe) is refused unless ``overwrite`` or ``resume``;
* ``overwrite`` deletes exactly the files that ``run-files.json`` (the record every
  seqlab writer keeps, ``seqlab.train.manifest``) lists, and refuses, deleting nothing, a
  folder where any other file sits under a run's names (a user's ``checkpoints/`` or
  ``tokenizers/``, a run of an older seqlab without the record, a link);
* ``resume`` needs a checkpoint to be there and creates nothing when it is not.

``resume_changes`` is the rule for what a resumed run may change in its recipe.
"""

from __future__ import annotations

import os
from pathlib import Path

from seqlab.errors import ConfigError, SeqlabError
from seqlab.train.checkpoint import checkpoints, is_checkpoint_folder, remove_checkpoint_folder
from seqlab.train.manifest import RUN_FILES, files_under, read_run_files, record_run_files

try:
    import fcntl
except ImportError:  # not POSIX: runs are not locked
    fcntl = None

LOCK = ".lock"
# the names a run's files go under: a new run is refused where one is present (--overwrite deletes
# the files under them that run-files.json lists, or refuses)
ARTIFACTS = ("metrics.jsonl", "tb", "recipe.json", "history.jsonl", "checkpoints", "model.safetensors",
             "manifest.json", "tokenizers", "latest", "data.json")
# seqlab's temporaries (a write cut short): deleted by --overwrite whether listed or not
TEMPORARIES = (".ckpt-*.tmp", ".latest.tmp", ".model.safetensors.tmp", ".manifest.json.tmp", ".recipe.json.tmp",
               ".metrics.jsonl.tmp", ".data.json.tmp")
ARTIFACT_PATTERNS = ("ckpt-*", "damaged-ckpt-*", *TEMPORARIES)


def run_files(path: Path) -> list[Path]:
    """The run files present in ``path`` (sorted by name)."""
    found = {path / name for name in ARTIFACTS if (path / name).exists()}
    for pattern in ARTIFACT_PATTERNS:
        found.update(path.glob(pattern))
    return sorted(found)


class RunFolder:
    """The lock on one run folder; release with ``close()`` or use as a context manager."""

    def __init__(self, path: Path, fd: int | None) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def open(cls, path: str | Path, ckpt_dir: str | Path | None = None, resume: bool = False,
             overwrite: bool = False) -> "RunFolder":
        path = Path(path)
        ckpt_dir = Path(ckpt_dir) if ckpt_dir is not None else path
        if resume and overwrite:
            raise SeqlabError("--resume continues the run in the folder and --overwrite deletes it: choose one")
        if path.exists() and not path.is_dir():
            raise SeqlabError(f"run folder {path} exists and is not a folder")
        if resume and not checkpoints(ckpt_dir):
            where = ckpt_dir if path.is_dir() else path
            raise SeqlabError(f"nothing to resume: no checkpoint in {where}")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SeqlabError(f"cannot create run folder {path}: {err.strerror or err}") from None
        folder = cls(path, _lock(path))
        try:
            found = run_files(path)
            if resume:  # the files of the run resumed are its own (a run of an older seqlab has no record yet)
                record_run_files(path, [f for p in found for f in files_under(path, p)])
            else:
                if found and not overwrite:
                    names = ", ".join(p.name for p in found[:4]) + (", ..." if len(found) > 4 else "")
                    raise SeqlabError(f"{path} already holds a run ({names}); continue it with --resume, "
                                      f"start it over with --overwrite, or choose another --out")
                _delete_run_files(path, found)
                record_run_files(path, [], reset=True)
        except BaseException:
            folder.close()
            raise
        return folder

    def close(self) -> None:
        """Release the lock (and remove the lock file while still holding it)."""
        if self._fd is None:
            return
        try:
            (self.path / LOCK).unlink()
        except OSError:
            pass
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "RunFolder":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def _delete_run_files(path: Path, found: list[Path]) -> None:
    """--overwrite: delete the run files ``run-files.json`` lists (and seqlab's temporaries); if any
    other file sits among them, refuse and delete nothing."""
    listed = read_run_files(path) or set()
    temporary = {p for p in found if any(p.match(pattern) for pattern in TEMPORARIES)
                 and (not p.is_dir() or is_checkpoint_folder(p))}
    # a temporary's name on a folder that holds anything else is checked below like any other file
    files = [f for p in found if p not in temporary for f in files_under(path, p)]
    foreign = [f for f in files if f not in listed]
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        why = "" if listed else f" (the folder has no {RUN_FILES}: it is not a seqlab run, or one of an older seqlab)"
        raise SeqlabError(f"--overwrite deletes only the files seqlab wrote in {path}, and these were not "
                          f"written by it: {shown}{why}; move them away, delete them yourself, or choose another --out")
    for p in temporary:
        remove_checkpoint_folder(p) if p.is_dir() else p.unlink()
    for name in files:
        (path / name).unlink()
    for p in found:  # the folders left empty, deepest first
        if p.is_dir() and not p.is_symlink():
            for root, _, _ in sorted(os.walk(p), key=lambda entry: -len(entry[0])):
                try:
                    os.rmdir(root)
                except OSError:  # not empty: something else lives there
                    pass


def _lock(path: Path) -> int | None:
    """An exclusive, non-blocking lock on ``path/.lock`` holding our PID; the fd that holds it."""
    if fcntl is None:
        return None
    file = path / LOCK
    for _ in range(10):
        try:
            fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise SeqlabError(f"cannot write in run folder {path}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            raise SeqlabError(f"{path} is in use by another run (pid {holder}); wait for it to end "
                              f"or choose another --out") from None
        try:  # the holder may have removed the file between our open and our lock: retry on the new one
            same = os.stat(file).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)
    raise SeqlabError(f"cannot lock run folder {path}: its lock file keeps changing")


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


# ----------------------------------------------------------------------------- resuming
def _flatten(data: dict, prefix: str = "") -> dict:
    out = {}
    for key, value in data.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def resume_changes(saved: dict, wanted: dict, allowed: set[str], why: dict[str, str] | None = None) -> list[str]:
    """The keys where ``wanted`` differs from the ``saved`` recipe, as 'key old -> new'.

    A resumed run continues the saved run exactly; a change to a key outside ``allowed``
    (anything that alters the trajectory: learning rate, model, data, seed, ...) would
    silently break that, so it is one ``ConfigError`` naming every such key. ``why`` adds a
    reason for particular keys.
    """
    old, new = _flatten(saved), _flatten(wanted)
    changed = sorted(k for k in old.keys() | new.keys() if old.get(k) != new.get(k))
    refused = [k for k in changed if k not in allowed]
    if refused:
        parts = [f"{k} ({old.get(k)!r} -> {new.get(k)!r}){(' ' + why[k]) if why and k in why else ''}"
                 for k in refused]
        raise ConfigError(f"--resume cannot change {', '.join(parts)}: the run would no longer continue "
                          f"exactly; start a new run (--out NEW or --overwrite) to train with "
                          f"{'it' if len(refused) == 1 else 'them'}")
    return [f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in changed]


def write_recipe(run_dir: str | Path, data: dict) -> None:
    """``run_dir/recipe.json``, replaced atomically: always the recipe that runs."""
    import json

    record_run_files(run_dir, ["recipe.json"])
    path = Path(run_dir) / "recipe.json"
    tmp = path.with_name(".recipe.json.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_recipe(run_dir: str | Path) -> dict:
    """The ``recipe.json`` of a run folder as a dict; one-line errors when missing or damaged."""
    import json

    file = Path(run_dir) / "recipe.json"
    if not file.is_file():
        raise SeqlabError(f"{run_dir} is not a run folder (no recipe.json)")
    try:
        data = json.loads(file.read_bytes())
    except (OSError, ValueError) as err:
        raise SeqlabError(f"{file} is damaged: {err}") from None
    if not isinstance(data, dict):
        raise SeqlabError(f"{file} is damaged: not a table of keys")
    return data
