"""``seqlab bench``: the machine's ceilings and the speed of every architecture, in one run.

Modules: ``measure`` (timing, peak memory, scaling fits), ``plan`` (grid sizes),
``machine`` (GEMM peak, per-step GEMMs, bandwidth, versions), ``recurrent``,
``scan``, ``attention``, ``models`` (one section each), ``table`` (text and
JSON output) and ``suite`` (runs the chosen sections in one process).
This package module imports nothing heavy; ``suite`` and the sections import torch.
"""
