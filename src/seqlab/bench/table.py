"""Benchmark results: one ``Section`` per part, rendered as plain text and JSON.

A section is a title, the columns to show, and rows of plain values (numbers,
strings). The JSON keeps every field of every row (timings with their spread,
bytes, ratios); the screen table shows the chosen columns with readable units.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Section:
    """One part of the benchmark: ``rows`` are dicts sharing the keys in ``columns``."""

    name: str
    title: str
    columns: list[str]
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def format_value(key: str, value) -> str:
    """Readable text for one cell: bytes with units, floats to 3 significant digits."""
    if value is None:
        return "-"
    if key.endswith("_bytes"):
        return _bytes(float(value))
    if isinstance(value, float) and math.isfinite(value) and abs(value) >= 1000:
        return f"{value:,.0f}"
    if isinstance(value, float):
        return f"{value:.3g}" if math.isfinite(value) else str(value)
    return str(value)


def _bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def render_section(section: Section) -> str:
    """The section as an aligned text table with its title and notes."""
    cells = [[format_value(c, row.get(c)) for c in section.columns] for row in section.rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(section.columns)]
    line = "  ".join("-" * w for w in widths)
    out = [f"== {section.title}", "  ".join(c.rjust(w) for c, w in zip(section.columns, widths)), line]
    out += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in cells]
    out += [f"   {note}" for note in section.notes]
    return "\n".join(out)


def render(header: list[str], sections: list[Section]) -> str:
    """The whole report: header lines, then each section separated by a blank line."""
    return "\n\n".join(["\n".join(header)] + [render_section(s) for s in sections]) + "\n"


def write_json(path: Path, meta: dict, sections: list[Section]) -> None:
    """Write ``{"meta": ..., "sections": {name: section}}`` to ``path`` (NaN as null)."""
    _write(path, {"meta": meta, "sections": {s.name: _clean(asdict(s)) for s in sections}})


def read_sections(path: Path) -> dict:
    """The sections of an earlier bench.json at ``path`` ({} when there is none); a file
    that is not one is an error (checked before measuring, so no run is lost)."""
    from seqlab.errors import SeqlabError

    if not path.exists():
        return {}
    try:
        sections = json.loads(path.read_text())["sections"]
        if not isinstance(sections, dict):
            raise TypeError("'sections' is not an object")
    except (ValueError, KeyError, TypeError) as err:
        raise SeqlabError(f"{path} exists but is not a bench.json ({err}); move it away or choose "
                          "another --out") from None
    return sections


def merge_json(path: Path, meta: dict, sections: list[Section], order: tuple[str, ...],
               earlier: dict) -> list[str]:
    """Write the new ``sections`` to ``path`` together with the ``earlier`` ones (from
    ``read_sections``) that were not measured again; returns the names kept.

    Every section carries ``measured`` (when, threads, device, quick), so sections of
    different runs stay told apart; ``meta`` is the latest run's, with ``meta["kept"]``
    naming the sections it did not measure. Sections are stored in ``order``.
    """
    info = meta.get("machine", {})
    stamp = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "threads": info.get("threads"),
             "device": info.get("device"), "quick": bool(meta.get("quick"))}
    new = {s.name: {**_clean(asdict(s)), "measured": stamp} for s in sections}
    kept = [name for name in earlier if name not in new]
    merged = {**{name: earlier[name] for name in kept}, **new}
    rank = {name: i for i, name in enumerate(order)}
    merged = dict(sorted(merged.items(), key=lambda kv: rank.get(kv[0], len(order))))
    _write(path, {"meta": {**meta, "kept": kept}, "sections": merged})
    return kept


def _write(path: Path, doc: dict) -> None:
    """Atomic JSON write: a temporary file next to ``path``, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    tmp.replace(path)


def _clean(obj):
    """Replace NaN/inf floats by None so the JSON stays standard."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj
