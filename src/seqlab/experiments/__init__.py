"""Every claim of the ledger as an experiment with a verdict (see ``registry``).

Importing this package is torch-free: experiment modules load on demand.
"""

from seqlab.experiments.core.base import PROFILES, VERDICTS, Figure, Result, Table, judge
from seqlab.experiments.registry import REGISTRY, load, select

__all__ = ["PROFILES", "REGISTRY", "VERDICTS", "Figure", "Result", "Table", "judge", "load", "select"]
