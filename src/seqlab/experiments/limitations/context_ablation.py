"""How much context a trained language model uses: a context ablation (C9's full profile).

Method (after Khandelwal et al. 2018, "Sharp nearby, fuzzy far away"): pick many
positions of the held-out text; at each, predict the next token from only the last
``c`` tokens (a fresh zero state, so nothing older can leak in), for several c and for
the full window. The model's effective context is the shortest c whose mean loss is
within ``tolerance`` (1%) of the full window's: tokens further back change its
predictions by less than that. The losses are paired (the same scored tokens for every
c), so small differences are measured on the same text.

``lm_effective_context`` trains the LM (a stateful model over the corpus streams,
``seqlab.data.lm.CorpusLM``) and runs the ablation; ``context_losses`` and
``shortest_within`` are the measuring steps, usable on any token-id sequence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from seqlab.build import ModelConfig
from seqlab.experiments.core.training import fit


@dataclass(frozen=True)
class LMConfig:
    """The LM whose context is ablated, and the ablation (contexts in tokens)."""

    corpus: str = "bsb_en"
    tokenizer: str = "bpe"
    vocab_limit: int | None = 4000
    arch: str = "lstm"
    hidden: int = 512
    layers: int = 2
    embed_dim: int = 256
    seq_len: int = 256  # chunk length of truncated BPTT; the state carries across chunks
    steps: int = 4000
    batch_size: int = 64
    lr: float = 2e-3
    schedule: str = "constant"  # learning-rate schedule ("cosine": a short budget annealed to a settled end)
    contexts: tuple[int, ...] = (10, 20, 50, 100, 200, 300, 600)
    full: int = 1000  # the full context: tokens read before each scored token
    windows: int = 2000  # scored tokens (one per window) from the test split
    chunk: int = 250  # windows per forward pass
    tolerance: float = 0.01  # "within 1% of the full context's loss"
    converged: float = 0.01  # training-loss gain allowed over the last quarter, relative to the final loss
    eval_chars: int | None = 200_000


@torch.no_grad()
def context_losses(model: torch.nn.Module, ids: torch.Tensor, contexts, full: int, windows: int,
                   chunk: int = 250, max_tokens: int = 1 << 16) -> dict[int, float]:
    """Mean next-token cross-entropy with only the last c tokens visible, for each c in
    ``contexts`` and for ``full``; one scored token per window, windows evenly spaced over ``ids``.

    Window i ends at position p_i; the model reads ids[p_i - c + 1 .. p_i] (c tokens, zero
    initial state) and is scored on ids[p_i + 1]. A forward pass holds at most ``chunk``
    windows and ``max_tokens`` tokens (the model returns logits at every position).
    """
    model.eval()
    device = next(model.parameters()).device
    ids = torch.as_tensor(ids, dtype=torch.long).reshape(-1)  # (N,)
    if ids.numel() < full + 2:
        raise ValueError(f"{ids.numel()} tokens are too few for a full context of {full}")
    ends = torch.as_tensor(np.linspace(full - 1, ids.numel() - 2, windows).round().astype(np.int64))  # (W,)
    out = {}
    for c in (*contexts, full):
        offsets = torch.arange(-c + 1, 1)  # (c,)
        rows, total = max(1, min(chunk, max_tokens // c)), 0.0
        for lo in range(0, windows, rows):
            e = ends[lo: lo + rows]  # (w,)
            x = ids[e[:, None] + offsets[None, :]].to(device)  # (w, c)
            y = ids[e + 1].to(device)  # (w,)
            logits, _ = model(x)  # (w, c, V)
            total += torch.nn.functional.cross_entropy(logits[:, -1].float(), y, reduction="sum").item()
        out[c] = total / windows
    return out


def shortest_within(losses: dict[int, float], full: int, tolerance: float) -> int:
    """The shortest context whose loss is at most (1 + tolerance) x the full context's (``full`` if none)."""
    bound = (1 + tolerance) * losses[full]
    return min([c for c, v in losses.items() if c != full and v <= bound], default=full)


def block_means(values, blocks: int = 8) -> list[float]:
    """``values`` (a per-step curve) averaged over ``blocks`` equal consecutive blocks."""
    v = np.asarray(values, float)
    return [float(b.mean()) for b in np.array_split(v, blocks) if b.size]


@dataclass
class LMContext:
    losses: dict[int, float]
    effective: int
    curve: list[float]  # training loss, block means
    train_seconds: float


def lm_effective_context(cfg: LMConfig, seed: int = 0) -> LMContext:
    """Train the LM of ``cfg`` on the corpus and ablate its context on the test split."""
    from seqlab.data.corpora import load_corpus  # the corpus loaders are needed only here
    from seqlab.data.lm import CorpusLM

    task = CorpusLM(corpus=cfg.corpus, tokenizer=cfg.tokenizer, vocab_limit=cfg.vocab_limit, seq_len=cfg.seq_len,
                    eval_chars=cfg.eval_chars)
    spec = ModelConfig(arch=cfg.arch, hidden_size=cfg.hidden, num_layers=cfg.layers, embed_dim=cfg.embed_dim)
    f = fit(spec, task, cfg.steps, lr=cfg.lr, seed=seed, batch_size=cfg.batch_size, clip_norm=1.0, schedule=cfg.schedule)
    text = load_corpus(cfg.corpus).text("test")
    test_ids = torch.as_tensor(task.tokenizer_obj.encode(text[: cfg.eval_chars] if cfg.eval_chars else text))
    losses = context_losses(f.model, test_ids, cfg.contexts, cfg.full, cfg.windows, cfg.chunk)
    return LMContext(losses, shortest_within(losses, cfg.full, cfg.tolerance), block_means(f.curve.loss),
                     f.wall_time)
