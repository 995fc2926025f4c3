"""The user's own files where a corpus name goes: checked, hashed, split, read line by line.

A bad file is one ``SeqlabError`` line naming the file and, where there is one, the line:
a missing path, a folder, an empty file, a NUL byte (binary content), bytes that are not
UTF-8. ``check_file`` reads a file once, streaming (a corpus may be larger than memory),
for its size, line count and SHA-256; the answer is cached under ``$SEQLAB_CACHE/files``,
keyed by the file's path, size, inode and modification time, so a file is read whole
again only when it has changed.

Splits. A corpus given as one file is split by a fixed rule, the same on every machine:

- running text (language models) and series keep their order: the last 5% of the lines
  are test, the 5% before them dev (``contiguous_split``);
- items (sentence pairs, labelled rows) are dealt by a permutation of their indices drawn
  with seed 0: the first 5% test, the next 5% dev, each kept in file order
  (``shuffled_split``).

At least one item goes to each split, so a corpus needs three items or more. A split
given as its own file (``{train = ..., dev = ..., test = ...}``) is read whole; a missing
dev or test split is carved out of train by the same rule. ``line_ranges`` writes a split's
lines compactly ("1-900,902"), as the run folder's ``data.json`` records them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seqlab.errors import ConfigError, SeqlabError

SPLITS = ("train", "dev", "test")
HELD_OUT = 0.05  # the share of dev and of test when they are carved from one file
SPLIT_SEED = 0  # the permutation that deals items to splits
CHUNK = 1 << 24  # bytes read at a time
CHECK_VERSION = 1  # bump when what check_file verifies changes


@dataclass(frozen=True)
class FileInfo:
    """A checked file: absolute path, bytes, lines (a last line without newline counts), SHA-256."""

    path: str
    size: int
    lines: int
    sha256: str


def _cache_file(path: Path, stat: os.stat_result) -> Path:
    from seqlab.data.tokenize import cache_root

    key = f"{CHECK_VERSION}|{path}|{stat.st_size}|{stat.st_ino}|{stat.st_mtime_ns}"
    return cache_root() / "files" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def existing_file(path: str | Path, what: str = "corpus file") -> Path:
    """``path`` made absolute, after checking that it is a file; else one line."""
    path = Path(path).expanduser().absolute()
    if not path.exists():
        raise SeqlabError(f"{what} not found: {path}")
    if path.is_dir():
        raise SeqlabError(f"{path} is a folder; name a file")
    if not path.is_file():
        raise SeqlabError(f"{path} is not a regular file")
    return path


def check_file(path: str | Path) -> FileInfo:
    """Check a text file whole (exists, not empty, no NUL byte, UTF-8): its :class:`FileInfo`."""
    path = existing_file(path)
    stat = path.stat()
    if stat.st_size == 0:
        raise SeqlabError(f"{path} is empty")
    cached = _cache_file(path, stat)
    try:
        return FileInfo(**json.loads(cached.read_text()))
    except (OSError, ValueError, TypeError):
        pass
    info = _scan(path, stat.st_size)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(f".{cached.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(info)))
        os.replace(tmp, cached)
    except OSError:  # a read-only cache only costs a second reading next time
        pass
    return info


def _scan(path: Path, size: int) -> FileInfo:
    """One pass: SHA-256, newlines, NUL bytes and UTF-8, whole lines decoded at a time."""
    digest, lines, carry = hashlib.sha256(), 0, b""
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            buf = carry + chunk
            cut = buf.rfind(b"\n") + 1 or _char_boundary(buf)  # decode whole lines (or whole characters)
            _check_bytes(path, buf[:cut], lines)
            lines += buf.count(b"\n", 0, cut)
            carry = buf[cut:]
    _check_bytes(path, carry, lines)
    return FileInfo(str(path), size, lines + (1 if carry else 0), digest.hexdigest())


def _char_boundary(buf: bytes) -> int:
    """Where a long run without newline may be cut: 0 for a short one, else before a
    trailing partial UTF-8 character (continuation bytes are 10xxxxxx)."""
    if len(buf) < CHUNK:
        return 0
    end = len(buf)
    while end > len(buf) - 4 and buf[end - 1] & 0xC0 == 0x80:
        end -= 1
    return end - 1 if buf[end - 1] >= 0xC0 else end  # drop a lead byte whose continuation is still to come


def _check_bytes(path: Path, buf: bytes, lines_before: int) -> None:
    nul = buf.find(b"\0")
    if nul >= 0:
        line = lines_before + buf.count(b"\n", 0, nul) + 1
        raise SeqlabError(f"{path}:{line}: binary content (a NUL byte); give a UTF-8 text file")
    try:
        buf.decode("utf-8")
    except UnicodeDecodeError as err:
        line = lines_before + buf.count(b"\n", 0, err.start) + 1
        column = err.start - (buf.rfind(b"\n", 0, err.start) + 1) + 1
        raise SeqlabError(f"{path}:{line}: not UTF-8 text (byte 0x{buf[err.start]:02x} at byte {column} of the "
                          f"line); save the file as UTF-8") from None


def read_lines(path: str | Path, start: int = 0, stop: int | None = None,
               every: int = 1) -> Iterator[tuple[int, str]]:
    """(1-based line number, text without its line ending) of lines [start, stop) (0-based),
    streaming; with ``every`` = k only lines start, start + k, ... (the others are not decoded).
    The file must have passed :func:`check_file`."""
    with Path(path).open("rb") as fh:
        for number, raw in enumerate(fh, 1):
            if number <= start or (number - 1 - start) % every:
                continue
            if stop is not None and number > stop:
                return
            yield number, raw.decode("utf-8").rstrip("\n").removesuffix("\r")


def held_out_count(n: int) -> int:
    """Items of dev (and of test) carved from n: 5%, at least 1."""
    return max(1, round(n * HELD_OUT))


def _need(n: int, carve: tuple[str, ...], where: str, what: str) -> int:
    k = held_out_count(n)
    if n - k * len(carve) < 1:
        need = 1 + len(carve)
        raise SeqlabError(f"{where}: {n} {what} are too few to split into train/{'/'.join(carve)} (at least "
                          f"{need}), or give {' and '.join(carve)} as files of their own")
    return k


def contiguous_split(n: int, where: str, what: str = "lines", carve=("dev", "test")) -> dict[str, range]:
    """Items [0, n) in order: train first, then the carved splits (dev, then test), 5% each."""
    k = _need(n, carve, where, what)
    stop, out = n - k * len(carve), {}
    out["train"] = range(0, stop)
    for split in carve:
        out[split] = range(stop, stop + k)
        stop += k
    return out


def shuffled_split(n: int, where: str, what: str = "lines", carve=("dev", "test")) -> dict[str, list[int]]:
    """Items [0, n) dealt by a seed-0 permutation: test first, then dev, 5% each; file order kept."""
    k = _need(n, carve, where, what)
    order = np.random.default_rng(SPLIT_SEED).permutation(n)
    out, taken = {}, 0
    for split in sorted(carve, key=("test", "dev").index):
        out[split] = sorted(order[taken: taken + k].tolist())
        taken += k
    out["train"] = sorted(order[taken:].tolist())
    return {s: out[s] for s in SPLITS if s in out}


def line_ranges(numbers) -> str:
    """Sorted ints as "1-4,7,9-12"."""
    parts, run = [], None
    for x in numbers:
        if run and x == run[1] + 1:
            run[1] = x
            continue
        if run:
            parts.append(f"{run[0]}" if run[0] == run[1] else f"{run[0]}-{run[1]}")
        run = [x, x]
    if run:
        parts.append(f"{run[0]}" if run[0] == run[1] else f"{run[0]}-{run[1]}")
    return ",".join(parts)


# ----------------------------------------------------------------------------- recipe values
def is_path_spec(value, builtins) -> bool:
    """Whether a recipe's ``corpus`` names files (a table, or a string that is no built-in name)."""
    return isinstance(value, dict) or value not in builtins


def split_tables(value, key: str, sides: tuple[str, ...] = ()) -> dict[str, object]:
    """A ``corpus`` value as {split: file spec}: a string is {"train": it}; a table has
    ``train`` (required), ``dev`` and ``test``. With ``sides`` (translation: src, tgt), a
    file spec is a path or a table of one path per side, and the corpus may be that table.

    Paths come back absolute. Raises ConfigError naming the key for a wrong shape.
    """
    if isinstance(value, dict) and sides and set(value) == set(sides):
        value = {"train": value}
    if isinstance(value, str):
        value = {"train": value}
    unknown = sorted(set(value) - set(SPLITS))
    if unknown:
        allowed = "train, dev, test" + (f" (or {', '.join(sides)})" if sides else "")
        raise ConfigError(f"unknown key '{key}.{unknown[0]}'; allowed keys: {allowed}")
    if "train" not in value:
        raise ConfigError(f"'{key}' needs a train file: {key} = {{train = \"...\", dev = \"...\", test = \"...\"}}")
    return {split: _file_spec(value[split], f"{key}.{split}", sides) for split in SPLITS if split in value}


def _file_spec(value, key: str, sides: tuple[str, ...]):
    if isinstance(value, str) and value.strip():
        return str(Path(value).expanduser().absolute())
    if sides and isinstance(value, dict):
        if set(value) != set(sides):
            raise ConfigError(f"'{key}' as a table names one file per side: {', '.join(sides)}; got "
                              f"{', '.join(map(str, value)) or 'nothing'}")
        return {side: _file_spec(value[side], f"{key}.{side}", ()) for side in sides}
    shape = "a file path" + (f" or a table of {', '.join(sides)}" if sides else "")
    raise ConfigError(f"'{key}' must be {shape}, got {type(value).__name__} {value!r}"[:200])


def no_such_corpus(spec, builtins) -> None:
    """One line when a corpus string is neither a built-in name nor an existing path."""
    if isinstance(spec, str) and not Path(spec).exists():
        raise SeqlabError(f"unknown corpus: no file {spec}, and no built-in corpus has that name "
                          f"(built-in: {', '.join(builtins)})")


def absolute_spec(value, builtins, sides: tuple[str, ...] = ()):
    """A recipe's ``corpus`` with its paths made absolute (a built-in name as it is), so the
    run's recipe.json finds the files from any folder. ConfigError for a wrong shape."""
    if not is_path_spec(value, builtins):
        return value
    if isinstance(value, dict) and not (sides and set(value) == set(sides)):
        return split_tables(value, "task.corpus", sides)
    return _file_spec(value, "task.corpus", sides)
