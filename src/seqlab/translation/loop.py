"""Train an encoder-decoder on a parallel corpus within a wall-clock budget.

The budget counts training time only (dev evaluations pause the clock), so a model's
learning curve (dev BLEU and chrF against training minutes) compares across architectures.
A run folder holds ``model.safetensors``, ``recipe.json``, ``history.jsonl`` and the
two tokenizers under ``tokenizers/``; ``load_translator`` reads it back.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from seqlab.data.batching import PairBatcher
from seqlab.data.tokenize import PAD
from seqlab.errors import SeqlabError
from seqlab.metrics import bleu, chrf
from seqlab.nn.seq2seq import sequence_loss
from seqlab.train.device import autocast, pick_device, seed_everything
from seqlab.translation.build import build_translator
from seqlab.translation.config import MTRecipe, MTTrain, mt_recipe_from_dict
from seqlab.translation.data import encode_split, fit_tokenizers, load_pairs, load_tokenizers
from seqlab.translation.evaluate import translate_texts

WEIGHTS, RECIPE, HISTORY = "model.safetensors", "recipe.json", "history.jsonl"


@dataclass
class MTResult:
    """What a training run measured."""

    parameters: int
    steps: int
    train_seconds: float
    target_tokens: int
    history: list[dict] = field(default_factory=list)

    @property
    def tokens_per_second(self) -> float:
        return self.target_tokens / self.train_seconds if self.train_seconds else 0.0


def lr_factor(step: int, warmup: int) -> float:
    """Linear warmup then inverse square-root decay (Vaswani Sec. 5.3), 1 at the peak."""
    if warmup <= 0:
        return 1.0
    step = max(step, 1)
    return min(step / warmup, math.sqrt(warmup / step))


def _dev_scores(model, corpus, src_tok, tgt_tok, device, cfg: MTTrain) -> tuple[float, float]:
    """Greedy dev BLEU and chrF on the first ``eval_sentences`` dev pairs."""
    pairs = corpus.splits["dev"][: cfg.eval_sentences]
    hyps = translate_texts(model, src_tok, tgt_tok, [p.src for p in pairs], device, beam=1,
                           max_len_ratio=cfg.max_len_ratio)
    model.train()
    refs = [p.tgt for p in pairs]
    return bleu(hyps, refs).score, chrf(hyps, refs).score


def train_translator(recipe: MTRecipe, run_dir: str | Path, log=print) -> MTResult:
    """Fit the recipe's model on its corpus; write the run folder; return the measurements."""
    cfg, run_dir = recipe.train, Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    corpus = load_pairs(recipe.data)
    src_tok, tgt_tok = fit_tokenizers(corpus, recipe.data, run_dir / "tokenizers")
    train = encode_split(corpus, "train", src_tok, tgt_tok, recipe.data.max_len)
    if not train.src:
        raise SeqlabError(f"no training pairs within data.max_len={recipe.data.max_len} tokens")
    longest = max(max(map(len, train.src)), max(map(len, train.tgt))) * 4 + 16  # room for long outputs
    model = build_translator(recipe.model, src_tok.vocab_size, tgt_tok.vocab_size, longest).to(device)
    (run_dir / RECIPE).write_text(json.dumps({**recipe.to_dict(), "max_positions": longest}, indent=2) + "\n")
    result = MTResult(sum(p.numel() for p in model.parameters()), 0, 0.0, 0)
    log(f"{recipe.model.arch}: {result.parameters:,} parameters, {len(train.src)} training pairs, device {device}")

    def dev() -> tuple[float, float]:
        return _dev_scores(model, corpus, src_tok, tgt_tok, device, cfg)

    with (run_dir / HISTORY).open("w") as history:
        loss = _fit(model, PairBatcher(train.src, train.tgt, cfg.max_tokens, cfg.seed), cfg, device, result,
                    lambda loss: _record(result, history, log, loss, *dev()))
        _record(result, history, log, loss, *dev())
    save_file({k: v.detach().cpu().contiguous() for k, v in _unique_state(model).items()}, str(run_dir / WEIGHTS))
    return result


def _fit(model, batcher: PairBatcher, cfg: MTTrain, device, result: MTResult, on_eval) -> float:
    """Epochs of batches until the time budget (training time only) or max_steps; returns the last loss."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.warmup_steps))
    budget, next_eval, epoch, loss = cfg.minutes * 60, cfg.eval_every_minutes * 60, 0, float("nan")

    def done() -> bool:
        return result.train_seconds >= budget or (cfg.max_steps is not None and result.steps >= cfg.max_steps)

    model.train()
    while not done():
        for batch in batcher.epoch(epoch):
            tic = time.perf_counter()
            loss = train_step(model, batch.to(device), opt, sched, cfg, device)
            result.train_seconds += time.perf_counter() - tic
            result.steps, result.target_tokens = result.steps + 1, result.target_tokens + batch.num_target_tokens
            if result.train_seconds >= next_eval:
                next_eval += max(cfg.eval_every_minutes * 60, 1.0)
                on_eval(loss)  # dev BLEU; the clock is paused
            if done():
                break
        epoch += 1
    return loss


def train_step(model, batch, opt, sched, cfg: MTTrain, device) -> float:
    with autocast(device, cfg.bf16):
        logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
        loss = sequence_loss(logits.float(), batch.tgt_out, PAD, cfg.label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
    opt.step()
    sched.step()
    if not math.isfinite(loss.item()):
        raise SeqlabError(f"training diverged: loss {loss.item()} (lower train.lr or set train.clip_norm)")
    return loss.item()


def _record(result: MTResult, history, log, loss: float, dev_bleu: float, dev_chrf: float) -> None:
    row = {"step": result.steps, "minutes": result.train_seconds / 60, "loss": loss, "dev_bleu": dev_bleu,
           "dev_chrf": dev_chrf, "tokens_per_s": result.tokens_per_second}
    result.history.append(row)
    history.write(json.dumps(row) + "\n")
    history.flush()
    log(f"step {row['step']:>6}  {row['minutes']:6.1f} min  loss {loss:.3f}  dev BLEU {dev_bleu:5.2f}  "
        f"chrF {dev_chrf:5.2f}  "
        f"{row['tokens_per_s']:,.0f} tgt tok/s")


def _unique_state(model) -> dict[str, torch.Tensor]:
    """state_dict without the second name of a tied weight (safetensors refuses shared storage)."""
    seen, out = set(), {}
    for name, tensor in model.state_dict().items():
        if tensor.data_ptr() in seen:
            continue
        seen.add(tensor.data_ptr())
        out[name] = tensor
    return out


def load_translator(run_dir: str | Path, device=None):
    """(model, src_tokenizer, tgt_tokenizer, recipe) from a run folder; weights via safetensors."""
    run_dir = Path(run_dir)
    if not (run_dir / WEIGHTS).is_file() or not (run_dir / RECIPE).is_file():
        raise SeqlabError(f"{run_dir} is not a translation run folder (needs {WEIGHTS} and {RECIPE})")
    saved = json.loads((run_dir / RECIPE).read_text())
    max_positions = saved.pop("max_positions", 1024)
    recipe = mt_recipe_from_dict(saved)
    src_tok, tgt_tok = load_tokenizers(run_dir / "tokenizers")
    model = build_translator(recipe.model, src_tok.vocab_size, tgt_tok.vocab_size, max_positions)
    missing, unexpected = model.load_state_dict(load_file(str(run_dir / WEIGHTS)), strict=False)
    tied = {"out.weight"} if recipe.model.tie_embeddings else set()
    if set(missing) - tied or unexpected:
        raise SeqlabError(f"{run_dir / WEIGHTS} does not match the recipe: missing {missing}, unexpected {unexpected}")
    device = device or pick_device(recipe.train.device)
    return model.to(device).eval(), src_tok, tgt_tok, recipe
