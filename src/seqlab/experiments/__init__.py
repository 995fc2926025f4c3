"""Every claim of the ledger as an experiment with a verdict (see ``registry``).

Layout: one package per section of the chapter, in its order (``registry.SECTIONS``):
``problem`` (1.1), ``recurrent`` (1.2), ``gradients`` (1.3), ``gates`` (1.4),
``limitations`` (1.5), ``bottleneck`` (1.6), ``attention`` (1.7), ``transformer`` (1.8),
``drills``; the machinery the claims share lives in ``core`` (results, rules of evidence,
units, executors, runner, timing, FLOP estimates, common measuring steps).

Adding a claim (say C31, made in section 1.5):

1. Write ``limitations/c31_<name>.py`` with ``CLAIM_ID``, ``CLAIM`` (the claim in our
   words), a frozen ``Config`` per profile in ``PROFILES``, ``config(profile)``, and
   ``TINY`` (a Config that runs in seconds: the determinism test runs every claim with one).
2. Its work as units (``core.units``): ``units(profile, done) -> list[Unit]``, one
   ``Unit(key, fn, args, seed=..., flops=..., timed=...)`` per model x seed x setting,
   where ``fn`` names a module-level function of the claim taking ``args`` (JSON: pass
   ``settings(cfg, RULE)``, the config less the rule's thresholds, and rebuild it with
   ``config_of(Config, cfg)``) and returning a JSON-able dict. A unit that must run after
   others is listed once their results are in ``done`` (see C4, C25).
3. ``decide(profile, results) -> Result``: read ``results[key]``, build the tables and
   figures, apply the rule fixed before the run (``core.rules``, ``core.base.judge`` and
   ``finish`` with its gates).
4. Register it: one line in ``registry.REGISTRY``, ``"C31": "limitations.c31_<name>"``.

A claim that is instant, or one interleaved timing, may define ``run(profile) -> Result``
instead of units and decide: it is then one unit.

Importing this package is torch-free: experiment modules load on demand.
"""

from seqlab.experiments.core.base import PROFILES, VERDICTS, Figure, Result, Table, judge
from seqlab.experiments.registry import REGISTRY, SECTIONS, load, section, select

__all__ = ["PROFILES", "REGISTRY", "SECTIONS", "VERDICTS", "Figure", "Result", "Table", "judge", "load", "section",
           "select"]
