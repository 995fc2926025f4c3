"""Manifests: the size and SHA-256 of a folder's files, written last, checked on load.

A checkpoint or a final-weights folder is complete only when its ``manifest.json``
says so (``seqlab.train.checkpoint``); a file that no longer matches its entry is
damaged, and the reader falls back to an older checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST = "manifest.json"


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
