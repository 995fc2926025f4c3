"""What every experiment returns: a ``Result`` with numbers, figures and a verdict.

An experiment is a module with ``CLAIM_ID``, ``CLAIM`` (the claim in our words),
``config(profile) -> dict`` and ``run(profile) -> Result``. Its verdict rule is
code next to the measurement; :func:`judge` is the one place that turns the
rule's booleans into a word, and a run that is too small to separate the cases
says "inconclusive", never "confirmed". The rules of evidence (seeds, gates,
timings by margin) are in :mod:`seqlab.experiments.core.rules`.

Reproducibility contract: with the same seed and thread count, two runs give the
same ``result.json`` except the timing fields: ``started``, ``wall_time``, the
table columns listed in ``Table.timing`` and the top-level fields listed in
``Result.timing`` (text that quotes a measured time). :func:`comparable` drops
exactly those, so tools and tests can compare the rest.

This module imports no torch: the report reads Results without it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from seqlab.errors import SeqlabError

PROFILES = ("quick", "full")
VERDICTS = ("confirmed", "refuted", "inconclusive", "error")
RESULT_FILE = "result.json"


def check_profile(profile: str) -> str:
    if profile not in PROFILES:
        raise SeqlabError(f"unknown profile '{profile}'; choose one of: {', '.join(PROFILES)}")
    return profile


def judge(*, enough: bool, confirmed: bool, refuted: bool) -> str:
    """The verdict word from an experiment's rule.

    Args:
        enough: the run is large enough to tell the cases apart.
        confirmed: the measured numbers show what the claim says.
        refuted: the measured numbers contradict it.
    """
    if not enough:
        return "inconclusive"
    if refuted and not confirmed:
        return "refuted"
    if confirmed and not refuted:
        return "confirmed"
    return "inconclusive"


@dataclass
class Table:
    """A measured table: a title, column names, rows, and which columns are timings."""

    title: str
    columns: list[str]
    rows: list[list]
    timing: list[str] = field(default_factory=list)


@dataclass
class Figure:
    """A figure: a file name in the run folder, a caption, and (in memory) PNG bytes."""

    name: str
    caption: str
    png: bytes | None = None

    def data_uri(self, folder: Path) -> str | None:
        data = self.png if self.png is not None else _read_bytes(folder / self.name)
        return None if data is None else "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _read_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


@dataclass
class Result:
    """One experiment's outcome: everything the report shows, JSON-serialisable."""

    claim_id: str
    claim: str
    setup: str
    profile: str
    config: dict
    seed: int = 0
    verdict: str = "inconclusive"
    criterion: str = ""
    decided_by: str = ""
    headline: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    versions: dict = field(default_factory=dict)
    machine: dict = field(default_factory=dict)
    started: str = ""
    wall_time: float = 0.0
    error: str | None = None
    seeds: list[int] = field(default_factory=list)
    gates: list[dict] = field(default_factory=list)
    timing: list[str] = field(default_factory=list)  # top-level fields whose text quotes measured times

    def add_table(self, title: str, columns: list[str], rows: list[list], timing=()) -> None:
        unknown = [c for c in timing if c not in columns]
        if unknown:
            raise ValueError(f"timing columns {unknown} are not among the columns {list(columns)}")
        self.tables.append(Table(title, list(columns), [[_plain(v) for v in r] for r in rows], list(timing)))

    def add_figure(self, name: str, caption: str, png: bytes) -> None:
        self.figures.append(Figure(f"{name}.png", caption, png))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["figures"] = [{"name": f.name, "caption": f.caption} for f in self.figures]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Result":
        d = dict(d)
        d["tables"] = [Table(**t) for t in d.get("tables", [])]
        d["figures"] = [Figure(f["name"], f.get("caption", "")) for f in d.get("figures", [])]
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def save(self, folder: str | Path) -> Path:
        """Write result.json and one PNG per figure into ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for fig in self.figures:
            if fig.png is not None:
                (folder / fig.name).write_bytes(fig.png)
        path = folder / RESULT_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1, allow_nan=True))
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> "Result":
        path = Path(folder) / RESULT_FILE
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError, TypeError, KeyError) as err:
            raise SeqlabError(f"cannot read {path}: {err}") from None


def _plain(v):
    """Numbers as JSON-friendly floats/ints (NumPy scalars included); the rest as is."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        return v.item()
    return v


def library_versions() -> dict:
    names = ("seqlab", "torch", "numpy", "matplotlib")
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine_info() -> dict:
    """The host, and the accelerator when torch is already imported."""
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count()}
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return info


def new_result(claim_id: str, claim: str, setup: str, profile: str, config: dict, seed: int = 0,
               seeds=()) -> Result:
    """A Result stamped with versions, machine and start time (call at the start of run)."""
    r = Result(claim_id, claim, setup, check_profile(profile), config, seed, seeds=list(seeds))
    r.versions, r.machine = library_versions(), machine_info()
    r.started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    r.wall_time = -time.perf_counter()  # finished by finish()
    return r


def finish(result: Result, verdict: str, criterion: str, decided_by: str, headline: str, gates=()) -> Result:
    """Set the verdict, its rule (``criterion``) and reasons, the gates, and stop the wall clock.

    ``gates`` are :class:`seqlab.experiments.core.rules.Gate`; a failed one is named at the
    front of ``decided_by`` (the verdict itself comes from the experiment's rule).
    """
    if verdict not in VERDICTS:
        raise ValueError(f"verdict {verdict!r} is not one of {VERDICTS}")
    result.gates = [g.to_dict() for g in gates]
    failed = [f"{g.name} ({g.detail})" for g in gates if not g.passed]
    if failed:
        decided_by = "gate failed: " + "; ".join(failed) + (f". {decided_by}" if decided_by else "")
    result.verdict, result.criterion, result.decided_by, result.headline = verdict, criterion, decided_by, headline
    if result.wall_time <= 0:
        result.wall_time += time.perf_counter()
    return result


VOLATILE = ("started", "wall_time")


def comparable(result: dict) -> dict:
    """A result dict without its timing fields (see the module docstring), for comparing runs."""
    out = {k: v for k, v in result.items() if k not in VOLATILE and k not in result.get("timing", ())}
    tables = []
    for t in result.get("tables", []):
        keep = [i for i, c in enumerate(t["columns"]) if c not in t.get("timing", ())]
        tables.append({**t, "columns": [t["columns"][i] for i in keep],
                       "rows": [[row[i] for i in keep] for row in t["rows"]]})
    out["tables"] = tables
    return out
