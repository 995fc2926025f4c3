"""The shape of a claim's ``result.json``, checked before the report reads it.

A result file is data the report did not write: it may be damaged, hand-edited or made
to mislead. ``check_result`` validates it against ``RESULT_SCHEMA`` (JSON Schema, with
the ``jsonschema`` package) and turns the first violation into one line naming the
field, so a wrong type (``"wall_time": null``, ``"seeds": 5``, ``"rows": [5]``) is a
clear error instead of a traceback deep in the rendering. Fields the schema does not
name are allowed (newer seqlab versions may add some) and ignored by the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from seqlab.errors import SeqlabError

_TEXT = {"type": "string"}
_TEXTS = {"type": "array", "items": _TEXT}

TABLE = {
    "type": "object",
    "required": ["title", "columns", "rows"],
    "additionalProperties": False,
    "properties": {
        "title": _TEXT,
        "columns": _TEXTS,
        "rows": {"type": "array", "items": {"type": "array"}},  # cells: any JSON value, shown as text
        "timing": _TEXTS,
    },
}

FIGURE = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "caption": _TEXT},
}

GATE = {
    "type": "object",
    "properties": {"name": _TEXT, "passed": {"type": "boolean"}, "detail": _TEXT},
}

RESULT_SCHEMA = {
    "type": "object",
    "required": ["claim_id", "claim", "setup", "profile", "config"],
    "properties": {
        "claim_id": {"type": "string", "minLength": 1},
        "claim": _TEXT,
        "setup": _TEXT,
        "profile": _TEXT,
        "config": {"type": "object"},
        "seed": {"type": "integer"},
        "verdict": _TEXT,
        "criterion": _TEXT,
        "decided_by": _TEXT,
        "headline": _TEXT,
        "tables": {"type": "array", "items": TABLE},
        "figures": {"type": "array", "items": FIGURE},
        "notes": _TEXTS,
        "versions": {"type": "object"},
        "machine": {"type": "object"},
        "started": _TEXT,
        "wall_time": {"type": "number"},
        "error": {"type": ["string", "null"]},
        "seeds": {"type": "array", "items": {"type": "integer"}},
        "gates": {"type": "array", "items": GATE},
        "timing": _TEXTS,
    },
}


def check_result(data: Any, path: str | Path) -> None:
    """Raise ``SeqlabError`` naming the first field of ``data`` that breaks ``RESULT_SCHEMA``."""
    import jsonschema
    from jsonschema.exceptions import best_match

    validator = jsonschema.Draft202012Validator(RESULT_SCHEMA)
    error = best_match(validator.iter_errors(data))
    if error is None:
        return
    where = field_name(error.absolute_path)
    message = " ".join(error.message.split())
    if len(message) > 160:
        message = message[:157] + "..."
    raise SeqlabError(f"{path}: {'the file' if not where else f'field {where!r}'} is not valid: {message}")


def field_name(path) -> str:
    """A JSON path as the report names it: ``tables[0].rows[2]``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
