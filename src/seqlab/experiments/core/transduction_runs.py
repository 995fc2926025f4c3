"""Train and score encoder-decoders on synthetic translation: the quick measuring step of C12-C14.

A model (an ``MTModel`` dict, built by the translation factory) trains on a
:class:`~seqlab.data.transduction.Transduction` task with the one trainer, for a fixed
number of updates, evaluating teacher-forced dev accuracy at eight even points (the
curve the convergence gate reads). It is then scored by greedy decoding on fixed test
sources per length bucket, and its attention read as word links against the task's
gold links.

Everything is seeded: seed ``s`` fixes the initial weights and the batch order, and
the test sources come from their own fixed seed, so paired seeds compare like with like.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch

from seqlab.data.transduction import BOS, EOS, PAD, PackedSeq2Seq, Transduction
from seqlab.decode import greedy
from seqlab.experiments.core.training import one_thread
from seqlab.metrics import alignment_error, diagonal_links
from seqlab.train import TrainConfig, Trainer
from seqlab.build import build_translator
from seqlab.translation.config import MTModel

TEST_SEED = 424_242  # test sources: a stream of their own, the same for every model and seed
EVALS = 8  # dev evaluations per training run (the convergence gate needs >= 4)


@dataclass
class Trained:
    """One trained model with its dev curve (teacher-forced token accuracy at EVALS points)."""

    model: torch.nn.Module
    parameters: int
    curve: list[float]
    train_seconds: float


def build(spec: dict, task: Transduction) -> torch.nn.Module:
    """The encoder-decoder ``spec`` names (MTModel fields), sized for ``task``'s vocabularies."""
    return build_translator(MTModel(**{"dropout": 0.0, **spec}), task.src_vocab, task.tgt_vocab)


def train(spec: dict, task: Transduction, steps: int, seed: int, lr: float = 3e-3,
          batch_size: int = 64) -> Trained:
    """Build ``spec`` (seeded) and train it ``steps`` updates on ``task`` (batches seeded by ``seed``),
    on one CPU thread (see ``one_thread``)."""
    torch.manual_seed(seed)
    model = build(spec, task)
    every = max(steps // EVALS, 1)
    cfg = TrainConfig(steps=steps, batch_size=batch_size, lr=lr, eval_every=every, eval_batches=8,
                      log_every=steps, seed=seed, progress=False, clip_norm=1.0, device="cpu")
    start = time.perf_counter()
    with one_thread():
        done = Trainer(PackedSeq2Seq(model, task.max_len), task, cfg).fit()
    if done.stopped == "interrupted":  # Ctrl-C: the trainer stopped cleanly; stop the ledger too
        raise KeyboardInterrupt
    curve = [h["accuracy"] for h in done.history if h.get("split") == "eval"]
    return Trained(model, sum(p.numel() for p in model.parameters()), curve,
                   time.perf_counter() - start)


def held_out_sources(task: Transduction, lo: int, hi: int, n: int) -> list[list[int]]:
    """``n`` fixed test sources with lengths in [lo, hi] (the same for every model)."""
    bucket = Transduction(task.vocab, lo, hi, task.fertile, task.deleted, task.modifier, task.grammar_seed)
    return bucket.sources(n, torch.Generator().manual_seed(TEST_SEED + lo))


def _padded(rows: list[list[int]]) -> torch.Tensor:
    out = torch.full((len(rows), max(len(r) for r in rows)), PAD, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r)
    return out


@torch.no_grad()
def bucket_scores(model: torch.nn.Module, task: Transduction, buckets, n: int) -> list[dict]:
    """Greedy decoding per source-length bucket: token accuracy (position by position) and exact match."""
    model.eval()
    rows = []
    for lo, hi in buckets:
        sources = held_out_sources(task, lo, hi, n)
        src = _padded(sources)
        with one_thread():
            hyps = greedy(model, src, src != PAD, BOS, EOS, max_len_ratio=2.0, max_len_offset=2)
        token = exact = 0.0
        for s, h in zip(sources, hyps):
            ref = task.translate(s)[0]
            token += sum(a == b for a, b in zip(ref, h.tokens)) / max(len(ref), len(h.tokens))
            exact += h.tokens == ref
        rows.append({"bucket": f"{lo}-{hi}", "token": token / n, "exact": exact / n})
    return rows


@torch.no_grad()
def attention_links(model: torch.nn.Module, task: Transduction, sources: list[list[int]]) -> list[set]:
    """Teacher-forced attention read as links: each target token -> its most attended source word."""
    model.eval()
    targets = [task.translate(s)[0] for s in sources]
    src = _padded(sources)
    tgt_in = _padded([[BOS, *t] for t in targets])
    with one_thread():
        _, attn = model(src, src != PAD, tgt_in)  # (B, T, S) or (B, heads, T, S)
    if attn.dim() == 4:
        attn = attn.mean(1)
    return [{(int(attn[b, j, : len(s)].argmax()), j) for j in range(len(t))}
            for b, (s, t) in enumerate(zip(sources, targets))]


def alignment_scores(model: torch.nn.Module, task: Transduction, n: int, lo: int, hi: int,
                     seed: int) -> dict:
    """AER of the model's attention links, of a diagonal aligner, and of the attention rows shuffled
    across target positions within each sentence (the same weights, the order destroyed)."""
    sources = held_out_sources(task, lo, hi, n)
    gold = [set(task.translate(s)[1]) for s in sources]
    links = attention_links(model, task, sources)
    g = torch.Generator().manual_seed(seed)
    shuffled = []
    for sent in links:
        by_target = sorted(sent, key=lambda link: link[1])
        order = torch.randperm(len(by_target), generator=g).tolist()
        shuffled.append({(by_target[order[j]][0], j) for j in range(len(by_target))})
    diag = [diagonal_links(len(s), len(task.translate(s)[0])) for s in sources]
    return {"attention": alignment_error(links, gold)["aer"], "diagonal": alignment_error(diag, gold)["aer"],
            "shuffled": alignment_error(shuffled, gold)["aer"]}
