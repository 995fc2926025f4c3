"""Contextual word vectors: the hidden states of a bidirectional LSTM language model.

Two word-level LSTM LMs (ELMo-style, Peters et al. 2018): a forward one predicts
word t+1 from words <= t, a backward one predicts word t-1 from words >= t. The
contextual vector of word t is [h_fwd_t ; h_bwd_t]: the forward state has read the
left context and the word, the backward state the right context and the word, so the
same word gets a different vector in every verse.

Training reads the verses as one contiguous stream (verse ends marked by EOS) through
:class:`seqlab.data.batching.TokenStream`, carrying the state from chunk to chunk.
Weights are cached as safetensors under ``$SEQLAB_CACHE/embeddings/bilm-<key>/``.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import torch
from torch import nn

from seqlab.data.batching import TokenStream, pad_sequences
from seqlab.data.tokenize import EOS, cache_root, texts_hash
from seqlab.embeddings.words import WordVocab
from seqlab.nn import SequenceModel


class StreamLM:
    """A next-token task over a training stream, with held-out chunks for evaluation."""

    stateful = True
    loss_kind = "ce"
    input_dim = None

    def __init__(self, train_ids: list[int], dev_ids: list[int], vocab_size: int,
                 chunk_len: int, eval_chunks: int = 4) -> None:
        self.train = TokenStream(train_ids, chunk_len)
        self.dev = TokenStream(dev_ids, chunk_len)
        self.vocab_size = self.output_dim = vocab_size
        self.eval_chunks = eval_chunks

    @property
    def chance_loss(self) -> float:
        return math.log(self.vocab_size)

    def batch_at(self, step: int, batch_size: int):
        return self.train.batch_at(step, batch_size)

    def eval_batches(self, batch_size: int):
        for k, batch in enumerate(self.dev.chunks(batch_size)):
            if k == self.eval_chunks:
                return
            yield batch


def make_lm(vocab_size: int, embed_dim: int, hidden: int) -> SequenceModel:
    """A one-layer LSTM language model over ``vocab_size`` tokens, built by ``seqlab.build``."""
    from types import SimpleNamespace

    from seqlab.build import ModelConfig, build_model

    words = SimpleNamespace(vocab_size=vocab_size, output_dim=vocab_size, input_dim=None)  # what build reads of a task
    return build_model(ModelConfig(arch="lstm", hidden_size=hidden, embed_dim=embed_dim), words)


class BiLM(nn.Module):
    """The forward and backward LMs; ``encode`` gives contextual vectors (T, 2H)."""

    def __init__(self, vocab_size: int, embed_dim: int, hidden: int) -> None:
        super().__init__()
        self.fwd = make_lm(vocab_size, embed_dim, hidden)
        self.bwd = make_lm(vocab_size, embed_dim, hidden)

    def _states(self, lm: SequenceModel, ids: torch.Tensor, lengths: torch.Tensor):
        h, _ = lm.backbone(lm.inp(ids), None, lengths=lengths)  # (B, T, H)
        return h

    @torch.no_grad()
    def encode(self, verses: list[list[int]]) -> list[torch.Tensor]:
        """Per verse, (n_i, 2H) contextual vectors of its n_i words.

        Each verse is read from a zero state after an EOS, as a verse follows a verse
        end in training; the backward LM reads it reversed.
        """
        device = next(self.parameters()).device
        fwd_in, mask, lengths = pad_sequences([[EOS, *v] for v in verses])  # (B, T+1)
        bwd_in, _, _ = pad_sequences([[EOS, *reversed(v)] for v in verses])
        h_f = self._states(self.fwd, fwd_in.to(device), lengths)  # (B, T+1, H)
        h_b = self._states(self.bwd, bwd_in.to(device), lengths)
        out = []
        for b, v in enumerate(verses):
            n = len(v)
            left = h_f[b, 1: n + 1]  # state after reading word i (i = 0..n-1)
            right = h_b[b, 1: n + 1].flip(0)  # backward state after word i, in text order
            out.append(torch.cat([left, right], dim=-1).cpu())  # (n, 2H)
        return out


def bilm_key(train_ids: list[int], settings: dict) -> str:
    data = texts_hash([" ".join(map(str, train_ids))])
    return hashlib.sha256((data + json.dumps(settings, sort_keys=True)).encode()).hexdigest()[:16]


def train_bilm(vocab: WordVocab, train_verses: list[list[str]], dev_verses: list[list[str]],
               embed_dim: int = 64, hidden: int = 128, steps: int = 800, batch_size: int = 32,
               chunk_len: int = 35, lr: float = 3e-3, seed: int = 0, device: str = "auto",
               cache_dir: Path | None = None) -> BiLM:
    """Train (or load from the cache) the forward and backward LMs on the verses."""
    from safetensors.torch import load_file, save_file

    from seqlab.train import TrainConfig, Trainer

    train_ids, dev_ids = vocab.stream(train_verses), vocab.stream(dev_verses)
    settings = dict(vocab=len(vocab), embed_dim=embed_dim, hidden=hidden, steps=steps,
                    batch_size=batch_size, chunk_len=chunk_len, lr=lr, seed=seed, version=1)
    folder = Path(cache_dir or cache_root()) / "embeddings" / f"bilm-{bilm_key(train_ids, settings)}"
    torch.manual_seed(seed)
    model = BiLM(len(vocab), embed_dim, hidden)
    if (folder / "bilm.safetensors").is_file():
        model.load_state_dict(load_file(folder / "bilm.safetensors"))
        return model.eval()
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, schedule="cosine",
                      clip_norm=1.0, eval_every=max(steps // 4, 1), seed=seed, progress=False,
                      device=device)
    for lm, tr, dv in ((model.fwd, train_ids, dev_ids), (model.bwd, train_ids[::-1], dev_ids[::-1])):
        Trainer(lm, StreamLM(tr, dv, len(vocab), chunk_len), cfg).fit()
    model = model.cpu().eval()
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "bilm.safetensors.tmp"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp))
    tmp.replace(folder / "bilm.safetensors")
    return model
