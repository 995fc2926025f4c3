"""Claims as units of work: what a unit is, how one runs, and how a claim's units become its Result.

A *unit* is one model x one seed x one setting: a training run or a measurement. It
names a module-level function of its claim's module (``fn``) and the JSON-able keyword
arguments that, with the code, determine its numbers (``args``); its result is the
JSON-able dict that function returns. So a unit is a plain function call that runs
the same in this process, in a worker process or on a Ray node
(:mod:`seqlab.experiments.core.executors`), and its :meth:`Unit.digest` (a hash of fn
and args) says when a stored result still answers it.

A claim module declares

- ``units(profile, done) -> list[Unit]``: every unit the claim needs, given the results
  ``done`` (key -> result) of those finished so far. Most claims ignore ``done``; a
  claim whose later units depend on earlier results (C4: the RNN trains as many updates
  as the slower gated net needed) lists them once their inputs are in ``done``. The
  claim is complete when every unit listed is done.
- ``decide(profile, results) -> Result``: reads the units' results, applies the rule
  fixed before the run and returns the Result (tables, figures, verdict).

A module with only ``run(profile) -> Result`` (an instant analytic claim, where
splitting buys nothing) is one unit, "run", whose result is the Result itself.

Determinism is per unit: the same fn, args and seed give the same numbers whichever
process runs them, because every unit starts from seeded random generators on one
torch thread (timed units at the caller's thread count, alone).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import time
import traceback
from dataclasses import dataclass, field, fields
from types import ModuleType

from seqlab.config import to_dict
from seqlab.experiments.core.base import Figure, Result, library_versions, machine_info

RUN = "run"  # the key and fn of a claim that is one unit


def plain(value):
    """``value`` as it reads back from JSON (tuples become lists; NaN stays NaN)."""
    return json.loads(json.dumps(value, allow_nan=True))


@dataclass(frozen=True)
class Unit:
    """One unit of a claim: ``fn(**args)`` of the claim's module.

    Args:
        key: unique within the claim and safe as a file name, e.g. "seq2seq-s0".
        fn: the name of a module-level function of the claim's module.
        args: JSON-able keyword arguments of ``fn`` (stored as they read back from JSON).
        seed: the seed it trains with, if any (recorded beside its result).
        timed: its result includes a measured time: it runs alone, at the caller's thread
            count, after every untimed unit is done.
        flops: estimated floating-point operations (:mod:`seqlab.experiments.core.flops`).
        gpu: it can use one GPU (the full profile asks for one where CUDA is present).
    """

    key: str
    fn: str
    args: dict = field(default_factory=dict)
    seed: int | None = None
    timed: bool = False
    flops: float = 0.0
    gpu: bool = True

    def __post_init__(self) -> None:
        if not self.key or not all(c.isalnum() or c in "-_.=" for c in self.key):
            raise ValueError(f"unit key {self.key!r} must be letters, digits and - _ . = only")
        object.__setattr__(self, "args", plain(self.args))

    def digest(self) -> str:
        """A hash of what determines the unit's numbers: its function and arguments."""
        text = json.dumps({"fn": self.fn, "args": self.args}, sort_keys=True, allow_nan=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> "Unit":
        return cls(**d)


def settings(cfg, drop: tuple[str, ...] = ()) -> dict:
    """A config's fields as a unit's args, less ``drop``: fields no unit reads (the rule's
    thresholds, the list of variants the units enumerate), so changing them re-runs no unit."""
    return {k: v for k, v in to_dict(cfg).items() if k not in drop}


def config_of(cls, settings: dict):
    """The frozen config ``cls`` from ``settings`` (a unit's args): JSON lists back to tuples;
    the fields :func:`settings` dropped take their defaults (no unit reads them)."""

    def tuples(v):
        return tuple(tuples(x) for x in v) if isinstance(v, list) else v

    return cls(**{k: tuples(v) for k, v in settings.items()})


def plan(module: ModuleType, profile: str, done: dict) -> list[Unit]:
    """The units ``module`` needs given ``done`` (its ``units``, or the one unit of a ``run`` claim)."""
    if hasattr(module, "units"):
        return list(module.units(profile, done))
    return [Unit(RUN, RUN, {"profile": profile, "config": module.config(profile)},
                 timed=bool(getattr(module, "TIMED", False)))]


def call(module: ModuleType, unit: Unit) -> dict:
    """Run ``unit`` here, at the current thread count, from seeded generators; its result as stored."""
    import numpy as np
    import torch

    torch.manual_seed(0)
    np.random.seed(0)
    random.seed(0)
    if unit.fn == RUN and not hasattr(module, "units"):
        return record(module.run(unit.args["profile"]))
    return plain(getattr(module, unit.fn)(**unit.args))


def execute(module: ModuleType, unit: Unit, threads: int | None = None) -> dict:
    """Run ``unit`` and wrap its result: value, error (a traceback), timing, machine, versions.

    Untimed units run on one torch thread; timed ones on ``threads`` (None: as set).
    """
    import torch

    before = torch.get_num_threads()
    used = (threads or before) if unit.timed else 1
    torch.set_num_threads(used)
    started, t0 = time.time(), time.perf_counter()
    value, error = None, None
    try:
        value = call(module, unit)
    except KeyboardInterrupt:
        raise
    except Exception:  # recorded: one failed unit fails its claim, not the ledger
        error = traceback.format_exc(limit=-8)
    finally:
        torch.set_num_threads(before)
    return {"value": value, "error": error, "started": started, "wall_time": time.perf_counter() - t0,
            "threads": used,
            "machine": machine_info(), "versions": library_versions()}


def conclude(module: ModuleType, profile: str, results: dict) -> Result:
    """The claim's Result from its units' results (``decide``, or the stored Result of a ``run`` claim)."""
    if hasattr(module, "units"):
        return module.decide(profile, results)
    return restore(results[RUN])


def run_inline(module: ModuleType, profile: str = "quick") -> Result:
    """Plan, run and decide ``module``'s claim in this process, one unit after another.

    What the tests call; results pass through JSON exactly as they do between processes.
    """
    done: dict = {}
    while True:
        todo = [u for u in plan(module, profile, done) if u.key not in done]
        if not todo:
            return conclude(module, profile, done)
        for unit in todo:
            out = execute(module, unit)
            if out["error"]:
                raise RuntimeError(f"unit {unit.key} failed:\n{out['error']}")
            done[unit.key] = out["value"]


def record(result: Result) -> dict:
    """A Result as a unit's result: its dict with the figures' PNG bytes (base64)."""
    d = result.to_dict()
    d["figures"] = [{"name": f.name, "caption": f.caption, "png": _b64(f.png)} for f in result.figures]
    return plain(d)


def restore(d: dict) -> Result:
    """The Result :func:`record` stored, figures included."""
    result = Result.from_dict(d)
    result.figures = [Figure(f["name"], f.get("caption", ""), _unb64(f.get("png"))) for f in d.get("figures", [])]
    return result


def _b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def _unb64(text: str | None) -> bytes | None:
    return None if text is None else base64.b64decode(text)
