"""The one list of experiments, in the order ``seqlab reproduce`` runs them.

Claim id -> module in ``seqlab.experiments``, as ``<section package>.<module>``: the
claims live in one package per section of the chapter (:data:`SECTIONS`, in the
chapter's order), the machinery they share in ``core``. Modules are imported only
when run (they import torch), so listing the registry is instant and torch-free.
C1-C20 are the claims of the ledger (SPEC.md), C21 onwards further claims of the
chapter; D1-D3 are the chapter's hands-on drills.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from seqlab.errors import SeqlabError

# section package -> the chapter's section it holds, in the chapter's order
SECTIONS: dict[str, str] = {
    "problem": "1.1 The sequence modeling problem",
    "recurrent": "1.2 Recurrent neural networks",
    "gradients": "1.3 The vanishing and exploding gradient problem",
    "gates": "1.4 LSTMs and GRUs",
    "limitations": "1.5 Remaining limitations",
    "bottleneck": "1.6 The encoder-decoder bottleneck",
    "attention": "1.7 The path to attention",
    "transformer": "1.8 The stage is set",
    "drills": "Hands-on drills",
}

REGISTRY: dict[str, str] = {
    "C1": "gradients.c01_gradient_decay",
    "C2": "gradients.c02_power_law",
    "C3": "gradients.c03_saturation",
    "C4": "gates.c04_long_dependencies",
    "C5": "gradients.c05_clipping",
    "C6": "gradients.c06_orthogonal_init",
    "C7": "gates.c07_forget_bias",
    "C8": "gradients.c08_truncated_bptt",
    "C9": "limitations.c09_effective_context",
    "C10": "gates.c10_gru_vs_lstm",
    "C11": "limitations.c11_bidirectional",
    "C12": "bottleneck.c12_length_cliff",
    "C13": "attention.c13_attention_alignment",
    "C14": "attention.c14_score_functions",
    "C15": "attention.c15_local_attention",
    "C16": "transformer.c16_parallelism",
    "C17": "attention.c17_dilated_receptive_field",
    "C18": "problem.c18_contextual_embeddings",
    "C19": "bottleneck.c19_recency",
    "C20": "recurrent.c20_parallel_scan",
    "C21": "attention.c21_attention_arithmetic",
    "C22": "attention.c22_scaled_dot_product",
    "C23": "gradients.c23_residual_reach",
    "C24": "gradients.c24_xavier_vs_orthogonal",
    "C25": "gradients.c25_transformer_long_dependencies",
    "C26": "gradients.c26_gradient_symptoms",
    "C27": "gradients.c27_tbptt_cost",
    "C28": "limitations.c28_bidirectional_cost",
    "C29": "attention.c29_attention_vs_dilated",
    "C30": "problem.c30_failure_table",
    "C31": "gates.c31_gru_comparable",
    "C32": "bottleneck.c32_cliff_position",
    "C33": "bottleneck.c33_bleu_by_length",
    "C34": "transformer.c34_hardware",
    "C35": "transformer.c35_length_scaling",
    "C36": "transformer.c36_transformer_vs_rnn_mt",
    "C37": "problem.c37_failure_rows",
    "C38": "gradients.c38_troubleshooting_fixes",
    "C39": "gradients.c39_tbptt_context",
    "C40": "attention.c40_score_cost",
    "C41": "limitations.c41_bilstm_tagging",
    "C42": "problem.c42_fasttext_oov",
    "D1": "drills.d01_two_step_rnn",
    "D2": "drills.d02_clipping_curves",
    "D3": "drills.d03_tiny_bahdanau",
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


def section(claim_id: str) -> str:
    """The chapter's section that makes the claim, e.g. "1.3 The vanishing and exploding gradient problem"."""
    if claim_id not in REGISTRY:
        raise SeqlabError(f"unknown claim id '{claim_id}'; known: {', '.join(REGISTRY)}")
    return SECTIONS[REGISTRY[claim_id].split(".")[0]]
