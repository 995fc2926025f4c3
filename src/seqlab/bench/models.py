"""Model-level benchmark: LSTM seq2seq, ConvS2S and Transformer at matched size (pending)."""

from __future__ import annotations

import torch

from seqlab.bench.table import Section


def run(device: torch.device, peak_flops: float, warmup: int, repeats: int) -> Section:
    """Placeholder until the encoder-decoder models are all in ``seqlab.nn``."""
    section = Section("models", "Models: training tokens/s and model-FLOPs utilization", ["model", "status"])
    section.rows.append({"model": "all", "status": "not measured yet"})
    return section
