"""Manifests: the size and SHA-256 of a folder's files, written last, checked on load;
and the run folder's record of the files seqlab wrote in it.

A checkpoint or a final-weights folder is complete only when its ``manifest.json``
says so (``seqlab.train.checkpoint``); a file that no longer matches its entry is
damaged, and the reader falls back to an older checkpoint.

``run-files.json`` lists, relative to the run folder, every file seqlab wrote there
(checkpoints, weights, metrics, recipe, tokenizers). Each writer adds its files before
it writes them, so a run killed at any moment leaves nothing unlisted; ``--overwrite``
deletes exactly the listed files and refuses a folder holding any other file under the
names a run uses (``seqlab.train.run_folder``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST = "manifest.json"
RUN_FILES = "run-files.json"


def fsync_path(path: Path) -> None:
    """Flush a file or a folder to disk (best effort: some file systems refuse folders)."""
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


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: Path, names: list[str]) -> None:
    """Record the size and SHA-256 of ``names`` in ``folder/manifest.json``, atomically.

    Call it after the files are complete: the manifest is what says they are.
    """
    folder = Path(folder)
    files = {}
    for name in names:
        fsync_path(folder / name)
        files[name] = {"size": (folder / name).stat().st_size, "sha256": file_digest(folder / name)}
    tmp = folder / f".{MANIFEST}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"format": 1, "files": files}, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / MANIFEST)


def check_manifest(folder: Path, names: list[str] | None = None) -> str | None:
    """None if every file the manifest lists (or just ``names``) matches it; else why not.

    A folder without a manifest (written before manifests existed) says so; callers
    then fall back to trying to read the files.
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_bytes())
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError
    except FileNotFoundError:
        return f"no {MANIFEST}"
    except (OSError, ValueError, KeyError, TypeError):
        return f"{MANIFEST} is damaged"
    for name in names if names is not None else list(files):
        entry = files.get(name)
        if not isinstance(entry, dict):
            return f"{MANIFEST} does not list {name}"
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        size = path.stat().st_size
        if size != entry.get("size"):
            expected = entry.get("size")
            return f"{name} has {size:,} bytes, the manifest says {expected:,}" if isinstance(expected, int) \
                else f"{MANIFEST} is damaged"
        if file_digest(path) != entry.get("sha256"):
            return f"{name} does not match its SHA-256"
    return None


# ----------------------------------------------------------------------------- the run's own files
def read_run_files(folder: str | Path) -> set[str] | None:
    """The files ``run-files.json`` lists (paths relative to ``folder``); None when there is no
    readable record (a folder seqlab never trained in, or a run of an older seqlab)."""
    try:
        data = json.loads((Path(folder) / RUN_FILES).read_bytes())
        files = data["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        return None
    return set(files)


def record_run_files(folder: str | Path, names, reset: bool = False) -> None:
    """Add ``names`` (paths relative to ``folder``) to its ``run-files.json``; listed files that
    no longer exist (pruned checkpoints) leave the list. ``reset`` starts an empty list (a new run).

    Called before a writer creates its files, so the record never lags behind them.
    """
    folder = Path(folder)
    listed = set() if reset else (read_run_files(folder) or set())
    kept = {name for name in listed if os.path.lexists(folder / name)}
    files = kept | {str(name) for name in names}
    if not reset and files == listed:
        return
    tmp = folder / f".{RUN_FILES}.tmp"
    tmp.write_text(json.dumps({"format": 1, "files": sorted(files)}, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / RUN_FILES)


def files_under(folder: Path, entry: Path) -> list[str]:
    """Every file (and link, never followed) at or below ``entry``, relative to ``folder``."""
    if entry.is_symlink() or not entry.is_dir():
        return [entry.relative_to(folder).as_posix()]
    found = []
    for root, dirs, files in os.walk(entry):  # links to folders are listed in dirs, not entered
        base = Path(root)
        found += [(base / name).relative_to(folder).as_posix() for name in files]
        found += [(base / name).relative_to(folder).as_posix() for name in dirs if (base / name).is_symlink()]
    return sorted(found)
