"""A decoder-only Transformer LM at GPU scale: one full training step and its model-FLOPs utilization.

The model is seqlab's own (``SequenceModel`` around ``TransformerLM``: token embedding,
pre-norm causal layers, a head tied to the embedding); the GPU plan builds GPT-2 small's
shape (12 layers, d = 768, 12 heads, vocabulary 32,768: ~110M parameters) and trains it on
B x T = 32 x 2048 = 65,536 random tokens per step. A step is what a trainer does: forward
under bf16 autocast (causal attention through SDPA's fused kernels), cross-entropy,
backward, AdamW (``fused=True`` on CUDA) and ``zero_grad``. It is timed eager, then (if
asked) through ``torch.compile`` of the model, whose compile time is reported apart.

Model FLOPs per token follow the usual accounting (Chowdhery et al. 2022, PaLM, App. B):

    6 N + 12 L T d      N parameters (the tied head once), L layers, context T, width d

(6 N: each weight in one multiply-add forward and two backward; 12 L T d: the Q K^T and
A V products, forward and backward, over the full T x T, as PaLM counts them). MFU is
those FLOPs per second over the bf16 GEMM peak measured in the same run.
"""

from __future__ import annotations

import time
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from seqlab.bench.measure import autocast_for, synchronize, time_call
from seqlab.nn.sequence import SequenceModel
from seqlab.nn.transformer import TransformerLM


def build_lm(vocab: int, d_model: int, heads: int, layers: int) -> nn.Module:
    """seqlab's Transformer LM, FFN width 4 d, no dropout, head tied to the embedding."""
    model = SequenceModel(TransformerLM(d_model, d_model, heads, 4 * d_model, layers, dropout=0.0),
                          d_model, vocab, vocab_size=vocab, embed_dim=d_model)
    model.head.weight = model.inp.weight  # tied (Press & Wolf 2017): one V x d matrix
    return model


def flops_per_token(params: int, layers: int, length: int, d_model: int) -> float:
    """6 N + 12 L T d (see the module docstring)."""
    return 6.0 * params + 12.0 * layers * length * d_model


def make_optimizer(model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    """AdamW, fused into one kernel on CUDA (foreach elsewhere)."""
    fused = {"fused": True} if device.type == "cuda" else {}
    return torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, **fused)


def train_step(model: nn.Module, opt: torch.optim.Optimizer, tokens: torch.Tensor, device: torch.device) -> Callable:
    """One training step on ``tokens`` (B, T + 1): predict tokens[:, 1:] from tokens[:, :-1]."""
    x, y = tokens[:, :-1], tokens[:, 1:]  # (B, T) each

    def step():
        with autocast_for(device):
            logits, _ = model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss

    return step


def run(device: torch.device, vocab: int, d_model: int, heads: int, layers: int, batch: int, length: int,
        compile_too: bool, peak_flops: float, warmup: int, repeats: int) -> tuple[list[dict], list[str]]:
    """Rows (eager, then compiled) for the models section, and notes."""
    torch.manual_seed(0)
    model = build_lm(vocab, d_model, heads, layers).to(device)
    params = sum(p.numel() for p in model.parameters())  # the tied matrix once
    tokens = torch.randint(0, vocab, (batch, length + 1), device=device)  # (B, T + 1)
    flops = flops_per_token(params, layers, length, d_model) * batch * length
    rows = []
    variants = [("transformer lm", model)]
    if compile_too:
        variants.append(("transformer lm (compiled)", torch.compile(model)))
    for name, runnable in variants:
        opt = make_optimizer(model, device)  # a fresh optimizer per variant: the same work per step
        step = train_step(runnable, opt, tokens, device)
        synchronize(device)
        start = time.perf_counter()
        step()  # the first step: lazy init, and the whole compilation for the compiled model
        synchronize(device)
        first = time.perf_counter() - start
        timing = time_call(step, device, warmup, repeats)
        rate = flops / timing.median
        rows.append({"model": name, "params": params, "T": length, "B": batch, **timing.as_dict(),
                     "ktok_s": batch * length / timing.median / 1e3, "gflop_s": rate / 1e9, "mfu": rate / peak_flops,
                     "model_flops": flops, "first_step_s": first})
        del opt
    notes = [f"transformer lm: {layers} layers, d={d_model}, {heads} heads, vocabulary {vocab}, B={batch} x "
             f"T={length} = {batch * length:,} tokens per step (forward, backward, AdamW"
             f"{' fused' if device.type == 'cuda' else ''}); FLOPs 6N + 12LTd per token (PaLM's count); "
             "first_step_s: the first step alone (the compiled row: its compilation)"]
    return rows, notes
