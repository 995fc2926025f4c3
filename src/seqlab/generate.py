"""Sampling text from a trained language model."""

from __future__ import annotations

import torch


def sample_next(logits: torch.Tensor, temperature: float, top_k: int | None,
                generator: torch.Generator | None) -> torch.Tensor:
    """Draw one id per row from softmax(logits / temperature), keeping the top k.

    Args: logits (B, V). Returns (B,) long. temperature 0 means greedy (argmax).
    """
    if temperature <= 0:
        return logits.argmax(dim=-1)
    logits = logits / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]  # (B, 1)
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits.float(), dim=-1)  # (B, V)
    return torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(logits.device)


@torch.no_grad()
def generate(model, prompt_ids: list[int], max_new: int, temperature: float = 1.0,
             top_k: int | None = None, seed: int = 0) -> list[int]:
    """Continue ``prompt_ids`` by ``max_new`` sampled ids (see ``generate_stream``)."""
    return list(generate_stream(model, prompt_ids, max_new, temperature, top_k, seed))


def generate_stream(model, prompt_ids: list[int], max_new: int, temperature: float = 1.0,
                    top_k: int | None = None, seed: int = 0):
    """Yield ``max_new`` sampled ids continuing ``prompt_ids``, each as soon as it is drawn.

    A recurrent model carries its state, so each new id costs one step. A model that
    returns no state (attention over the whole prefix) is re-run on the full prefix.
    """
    if not prompt_ids:
        raise ValueError("the prompt must hold at least one token")
    model.eval()
    device = next(model.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    ids = list(prompt_ids)
    with torch.no_grad():
        logits, state = model(torch.tensor([ids], device=device), None)  # (1, P, V)
        for _ in range(max_new):
            nxt = sample_next(logits[:, -1], temperature, top_k, gen)  # (1,)
            ids.append(int(nxt))
            yield ids[-1]
            if state is None:
                logits, _ = model(torch.tensor([ids], device=device), None)
            else:
                logits, state = model(nxt.view(1, 1), state)
