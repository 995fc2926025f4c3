"""Masked per-step losses and metrics shared by every task."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from seqlab.data.batch import SeqBatch


def masked_loss(out: torch.Tensor, batch: SeqBatch, kind: str) -> tuple[torch.Tensor, dict]:
    """Mean loss over the scored steps, and metrics as Python floats.

    Args:
        out: (B, T, O) model outputs for the same steps as ``batch``.
        kind: "mse" (regression targets (B, T, O)) or "ce" (class ids (B, T)).
    Returns:
        (loss, {"loss", "count", and "accuracy" for "ce"}). A slice with no scored
        step gives a zero loss that still depends on ``out`` (so backward is valid).
    """
    mask = batch.mask  # (B, T)
    count = int(mask.sum())
    if count == 0:
        return out.sum() * 0.0, {"loss": 0.0, "count": 0}
    if kind == "mse":
        err = (out - batch.y).pow(2).mean(dim=-1)  # (B, T)
        loss = err[mask].mean()
        return loss, {"loss": loss.item(), "count": count}
    if kind == "ce":
        logits = out[mask].float()  # (N, O)
        target = batch.y[mask]  # (N,)
        loss = F.cross_entropy(logits, target)
        acc = (logits.argmax(dim=-1) == target).float().mean()
        return loss, {"loss": loss.item(), "accuracy": acc.item(), "count": count}
    raise ValueError(f"unknown loss kind '{kind}'; expected 'mse' or 'ce'")


def merge_metrics(parts: list[dict]) -> dict:
    """Count-weighted average of metric dicts from several windows or batches."""
    total = sum(p.get("count", 0) for p in parts)
    if total == 0:
        return {"loss": float("nan"), "count": 0}
    keys = {k for p in parts for k in p if k != "count"}
    merged = {k: sum(p.get(k, 0.0) * p.get("count", 0) for p in parts) / total for k in sorted(keys)}
    merged["count"] = total
    return merged
