"""The one list of experiments, in the order ``seqlab reproduce`` runs them.

Claim id -> module in ``seqlab.experiments``. Modules are imported only when run
(they import torch), so listing the registry is instant and torch-free. C1-C20
are the claims of the ledger (SPEC.md), C21 onwards the chapter's claims added by
issue 13; D1-D3 are the chapter's hands-on drills.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from seqlab.errors import SeqlabError

REGISTRY: dict[str, str] = {
    "C1": "c01_gradient_decay",
    "C2": "c02_power_law",
    "C3": "c03_saturation",
    "C4": "c04_long_dependencies",
    "C5": "c05_clipping",
    "C6": "c06_orthogonal_init",
    "C7": "c07_forget_bias",
    "C8": "c08_truncated_bptt",
    "C9": "c09_effective_context",
    "C10": "c10_gru_vs_lstm",
    "C11": "c11_bidirectional",
    "C12": "c12_length_cliff",
    "C13": "c13_attention_alignment",
    "C14": "c14_score_functions",
    "C15": "c15_local_attention",
    "C16": "c16_parallelism",
    "C17": "c17_dilated_receptive_field",
    "C18": "c18_contextual_embeddings",
    "C19": "c19_recency",
    "C20": "c20_parallel_scan",
    "C21": "c21_attention_arithmetic",
    "C22": "c22_scaled_dot_product",
    "C23": "c23_residual_reach",
    "C24": "c24_xavier_vs_orthogonal",
    "C25": "c25_transformer_long_dependencies",
    "C26": "c26_gradient_symptoms",
    "C27": "c27_tbptt_cost",
    "C28": "c28_bidirectional_cost",
    "C29": "c29_attention_vs_dilated",
    "C30": "c30_failure_table",
    "D1": "d01_two_step_rnn",
    "D2": "d02_clipping_curves",
    "D3": "d03_tiny_bahdanau",
}


def select(only: str | list[str] | None = None) -> list[str]:
    """Claim ids to run, in registry order; ``only`` is "C1,C4" or a list of ids."""
    if only is None:
        return list(REGISTRY)
    wanted = [w.strip().upper() for w in (only.split(",") if isinstance(only, str) else only) if w.strip()]
    if not wanted:
        raise SeqlabError(f"no claim id given; known: {', '.join(REGISTRY)}")
    unknown = [w for w in wanted if w not in REGISTRY]
    if unknown:
        raise SeqlabError(f"unknown claim id '{unknown[0]}'; known: {', '.join(REGISTRY)}")
    return [c for c in REGISTRY if c in wanted]


def load(claim_id: str) -> ModuleType:
    """The experiment module of ``claim_id``."""
    if claim_id not in REGISTRY:
        raise SeqlabError(f"unknown claim id '{claim_id}'; known: {', '.join(REGISTRY)}")
    return importlib.import_module(f"seqlab.experiments.{REGISTRY[claim_id]}")
