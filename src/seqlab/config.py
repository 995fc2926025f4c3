"""Frozen config dataclasses and the strict loader that fills them.

``from_dict`` walks a dataclass type and a plain dict (from TOML or YAML) together.
An unknown key, a wrong type or a value out of range raises ``ConfigError`` with one
line that names the key and what is allowed. Range rules live next to each field as
``field(metadata={"range": (lo, hi)})`` or ``{"choices": ...}`` via ``Literal``.

An optional key that is not text (``clip_norm: float | None``) may be written ``"none"``
or ``"off"`` (TOML has no null; ``--set train.clip_norm=off``): that is the same as
leaving it unset. YAML's ``null`` works too.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from seqlab.errors import ConfigError

T = TypeVar("T")

MAX_SEED = 2**32 - 1  # seeds are 0 .. 2**32 - 1: what NumPy takes, and room for seed * 1_000_003 + step


def ranged(default: Any, lo: float | None = None, hi: float | None = None) -> Any:
    """A dataclass field whose numeric value must lie in [lo, hi] (None = open)."""
    return dataclasses.field(default=default, metadata={"range": (lo, hi)})


def from_dict(cls: type[T], data: dict[str, Any], prefix: str = "") -> T:
    """Build the frozen dataclass ``cls`` from ``data``, validating every key."""
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix or 'config'}: expected a table of keys, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        key = f"{prefix}{unknown[0]}"
        raise ConfigError(f"unknown key '{key}'; allowed keys: {', '.join(sorted(fields))}")
    values = {}
    for name, value in data.items():
        values[name] = _convert(hints[name], value, f"{prefix}{name}", fields[name])
    try:
        return cls(**values)
    except TypeError as err:  # a required key is missing
        raise ConfigError(f"{prefix or 'config'}: {err}") from None


def _convert(hint: Any, value: Any, key: str, field: dataclasses.Field | None = None) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        options = get_args(hint)
        if value is None and type(None) in options:
            return None
        if type(None) in options and _spells_unset(value) and not _takes_text(options):
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _convert(option, value, key, field)
            except ConfigError as err:
                errors.append(str(err))
        unset = type(None) in options and not _takes_text(options)
        raise ConfigError((errors[0] + ("; 'off' leaves it unset" if unset else "")) if errors
                          else f"'{key}' must not be empty")
    if origin is Literal:
        choices = get_args(hint)
        if value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise ConfigError(f"'{key}' is {value!r}; allowed values: {allowed}")
        return value
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"'{key}' must be a list, got {type(value).__name__} {value!r}")
        (item,) = get_args(hint)[:1] or (Any,)
        return tuple(_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value))
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, prefix=f"{key}.")
    if hint is Any:
        return value
    value = _check_type(hint, value, key)
    _check_range(value, key, field)
    return value


UNSET_WORDS = ("none", "off")


def _spells_unset(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in UNSET_WORDS


def _takes_text(options: tuple) -> bool:
    """Whether a union accepts strings (then "none" is text, not unset)."""
    return any(o is str or (get_origin(o) is Literal and any(isinstance(c, str) for c in get_args(o)))
               for o in options)


def _check_type(hint: Any, value: Any, key: str) -> Any:
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ConfigError(f"'{key}' is {value}; too large for a float") from None
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(f"'{key}' must be {hint.__name__}, got bool {value!r}")
    if not isinstance(value, hint):
        raise ConfigError(f"'{key}' must be {hint.__name__}, got {type(value).__name__} {_short(value)}")
    if isinstance(value, float) and math.isnan(value):
        raise ConfigError(f"'{key}' is nan; it must be a number")
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _check_range(value: Any, key: str, field: dataclasses.Field | None) -> None:
    if field is None or "range" not in field.metadata:
        return
    lo, hi = field.metadata["range"]
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        lo_s = "-inf" if lo is None else lo
        hi_s = "inf" if hi is None else hi
        raise ConfigError(f"'{key}' is {value}; allowed range: [{lo_s}, {hi_s}]")


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a TOML or YAML file into a dict; errors name the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    if not path.is_file():
        raise ConfigError(f"config file {path} is not a file")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: unknown config format '{path.suffix}'; use .toml, .yaml or .yml")
    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfigError(f"cannot read {path}: {err.strerror or err}") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path} is not UTF-8 text (byte {err.start}): is it a recipe?") from None
    try:
        if path.suffix == ".toml":
            try:
                import tomllib
            except ModuleNotFoundError:  # Python 3.10
                import tomli as tomllib
            data = tomllib.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
            data = {} if data is None else data
    except Exception as err:  # parser errors carry line numbers
        raise ConfigError(f"{path}: cannot parse: {_one_line(err)}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected tables of keys at the top level, got {type(data).__name__}")
    return data


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def check_out(out: Any) -> str | None:
    """A recipe's ``out``: None or a non-empty folder name."""
    if out is not None and not isinstance(out, str):
        raise ConfigError(f"'out' must be str, got {type(out).__name__} {_short(out)}")
    if out is not None and not out.strip():
        raise ConfigError("'out' must name a folder, got an empty string")
    return out


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``--set a.b=value`` overrides; values parse as TOML scalars."""
    try:
        import tomllib
    except ModuleNotFoundError:
        import tomli as tomllib
    out = _deep_copy(data)
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got '{item}'")
        dotted, raw = item.split("=", 1)
        dotted = dotted.strip()
        parts = dotted.split(".")
        if not all(parts):
            raise ConfigError(f"--set {item!r}: the key must be dotted names like train.lr")
        try:
            value = tomllib.loads(f"v = {raw}")["v"]
        except Exception:
            value = raw  # a bare word: keep it as a string
        node = out
        *parents, leaf = parts
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"--set {dotted}: '{part}' is not a table")
        node[leaf] = value
    return out


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    return data


def to_dict(obj: Any) -> dict[str, Any]:
    """A dataclass config as plain JSON-able data."""
    return dataclasses.asdict(obj)
