"""Train an encoder-decoder on a parallel corpus within a wall-clock budget.

The budget counts training time only (dev evaluations pause the clock), so a model's
learning curve (dev BLEU and chrF against training minutes) compares across architectures.
A run folder holds ``model.safetensors`` (with its ``manifest.json``), ``recipe.json``,
``history.jsonl``, the two tokenizers under ``tokenizers/`` and atomic, self-verifying
checkpoints under ``checkpoints/`` (written at every dev evaluation, at the end and on
Ctrl-C; see ``seqlab.train.checkpoint``); ``resume=True`` continues from the newest intact
one exactly: same weights, optimizer moments, schedule, batch order and dropout draws as
a run that was never stopped. The folder is locked for the run and belongs to one run
(``seqlab.train.run_folder``). ``load_translator`` reads a run folder back.
"""

from __future__ import annotations

import json
import math
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seqlab.data.batching import PairBatcher
from seqlab.data.tokenize import PAD
from seqlab.errors import SeqlabError, TrainingDivergedError
from seqlab.metrics import bleu, chrf
from seqlab.nn.seq2seq import sequence_loss
from seqlab.train import checkpoint as ckpt
from seqlab.train.device import autocast, pick_device, seed_everything
from seqlab.train.run_folder import RunFolder, read_recipe, resume_changes, write_recipe
from seqlab.translation.build import build_translator
from seqlab.translation.config import RESUME_KEYS, MTRecipe, MTTrain, mt_recipe_from_dict
from seqlab.translation.data import encode_split, fit_tokenizers, load_pairs, load_tokenizers
from seqlab.translation.evaluate import translate_texts

WEIGHTS, RECIPE, HISTORY, CHECKPOINTS = "model.safetensors", "recipe.json", "history.jsonl", "checkpoints"


@dataclass
class MTResult:
    """What a training run measured (``epoch``/``batch``: where it stopped, for resuming)."""

    parameters: int
    steps: int
    train_seconds: float
    target_tokens: int
    history: list[dict] = field(default_factory=list)
    epoch: int = 0
    batch: int = 0  # batches of ``epoch`` already trained
    stopped: str = "completed"

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


def train_translator(recipe: MTRecipe, run_dir: str | Path, log=print, resume: bool = False,
                     overwrite: bool = False) -> MTResult:
    """Fit the recipe's model on its corpus; write the run folder; return the measurements.

    The run holds the folder's lock throughout. A folder that already holds a run needs
    ``resume`` (continue from the newest intact checkpoint; the recipe may change only in
    ``RESUME_KEYS``) or ``overwrite`` (delete the old run's files first).
    """
    run_dir = Path(run_dir)
    with RunFolder.open(run_dir, run_dir / CHECKPOINTS, resume=resume, overwrite=overwrite):
        changes = []
        if resume and (run_dir / RECIPE).is_file():
            saved = read_recipe(run_dir)
            saved.pop("max_positions", None)
            changes = resume_changes(mt_recipe_from_dict(saved).to_dict(), recipe.to_dict(), RESUME_KEYS)
        return _train(recipe, run_dir, log, resume, changes)


def _train(recipe: MTRecipe, run_dir: Path, log, resume: bool, changes: list[str]) -> MTResult:
    cfg = recipe.train
    seed_everything(cfg.seed)
    device = pick_device(cfg.device)
    corpus = load_pairs(recipe.data)
    if resume:
        src_tok, tgt_tok = load_tokenizers(run_dir / "tokenizers")
    else:
        src_tok, tgt_tok = _fit_tokenizers(corpus, recipe, run_dir / "tokenizers")
    train = encode_split(corpus, "train", src_tok, tgt_tok, recipe.data.max_len)
    if not train.src:
        raise SeqlabError(f"no training pairs within data.max_len={recipe.data.max_len} tokens")
    longest = max(max(map(len, train.src)), max(map(len, train.tgt))) * 4 + 16  # room for long outputs
    model = build_translator(recipe.model, src_tok.vocab_size, tgt_tok.vocab_size, longest).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg.warmup_steps))
    result = MTResult(sum(p.numel() for p in model.parameters()), 0, 0.0, 0)
    if resume:
        where = _restore(run_dir, model, opt, sched, result)
    write_recipe(run_dir, {**recipe.to_dict(), "max_positions": longest})
    log(f"{recipe.model.arch}: {result.parameters:,} parameters, {len(train.src)} training pairs, device {device}"
        + (f"; resumed at step {result.steps} from {where}" if resume else "")
        + (f"; changed: {', '.join(changes)}" if changes else ""))
    if resume and _budget_spent(result, cfg):
        if not (run_dir / WEIGHTS).is_file():  # cut after its last step: the final weights are the checkpoint's
            ckpt.save_weights(_unique_state(model), run_dir)
        budget = f"{cfg.max_steps} steps" if cfg.minutes is None else f"{cfg.minutes:g} minutes"
        log(f"the run had finished already at step {result.steps} ({result.train_seconds / 60:.1f} minutes, budget "
            f"{budget}): nothing to train (raise train.max_steps or train.minutes to go on)")
        result.stopped = "finished"
        return result

    def save() -> None:
        _save(run_dir, model, opt, sched, result)

    def evaluate(loss: float) -> None:
        _record(result, history, log, loss, *_dev_scores(model, corpus, src_tok, tgt_tok, device, cfg))
        save()

    with (run_dir / HISTORY).open("w") as history:
        history.writelines(json.dumps(row) + "\n" for row in result.history)  # earlier rows when resuming
        batcher = PairBatcher(train.src, train.tgt, cfg.max_tokens, cfg.seed)
        try:
            with _sigint_stops() as stop:
                loss = _fit(model, batcher, opt, sched, cfg, device, result, evaluate, stop)
        except TrainingDivergedError as err:
            raise TrainingDivergedError(f"{err}{ckpt.checkpoint_note(run_dir / CHECKPOINTS)}") from None
        if result.stopped == "interrupted":
            save()
            log(f"interrupted at step {result.steps}; continue with --resume")
            return result
        if not result.history or result.history[-1]["step"] != result.steps:
            evaluate(loss)
    ckpt.save_weights(_unique_state(model), run_dir)
    return result


def _fit_tokenizers(corpus, recipe: MTRecipe, directory: Path):
    """``fit_tokenizers``, with SentencePiece's refusals (a vocabulary the corpus cannot fill
    or that is too small for its characters) as one line naming the recipe's keys."""
    try:
        return fit_tokenizers(corpus, recipe.data, directory)
    except (RuntimeError, ValueError) as err:
        data = recipe.data
        raise SeqlabError(f"cannot fit the {data.tokenizer} tokenizers with data.src_vocab = {data.src_vocab} and "
                          f"data.tgt_vocab = {data.tgt_vocab} on {data.corpus}: "
                          f"{' '.join(str(err).split()) or type(err).__name__}") from None


def _budget_spent(result: MTResult, cfg: MTTrain) -> bool:
    out_of_time = cfg.minutes is not None and result.train_seconds >= cfg.minutes * 60
    return out_of_time or (cfg.max_steps is not None and result.steps >= cfg.max_steps)


def _fit(model, batcher: PairBatcher, opt, sched, cfg: MTTrain, device, result: MTResult, on_eval, stop) -> float:
    """Epochs of batches until the time budget (training time only), max_steps or Ctrl-C; returns the last loss.

    Dev evaluations come every ``eval_every_steps`` updates when set (repeatable), else
    every ``eval_every_minutes`` of training time."""
    loss = float("nan")
    every = max(cfg.eval_every_minutes * 60, 1.0)
    next_eval = (math.floor(result.train_seconds / every) + 1) * every

    def done() -> bool:
        return _budget_spent(result, cfg)

    def eval_due() -> bool:
        nonlocal next_eval
        if cfg.eval_every_steps is not None:
            return result.steps % cfg.eval_every_steps == 0
        if result.train_seconds < next_eval:
            return False
        next_eval += every
        return True

    model.train()
    while not done():
        for i, batch in enumerate(batcher.epoch(result.epoch)):
            if i < result.batch:
                continue  # trained before the run was resumed
            tic = time.perf_counter()
            loss = train_step(model, batch.to(device), opt, sched, cfg, device, result.steps + 1)
            result.train_seconds += time.perf_counter() - tic
            result.steps, result.target_tokens = result.steps + 1, result.target_tokens + batch.num_target_tokens
            result.batch = i + 1
            if eval_due():
                on_eval(loss)  # dev BLEU and a checkpoint; the clock is paused
            if stop():
                result.stopped = "interrupted"
                return loss
            if done():
                return loss
        result.epoch, result.batch = result.epoch + 1, 0
    return loss


def train_step(model, batch, opt, sched, cfg: MTTrain, device, step: int = 0) -> float:
    """One teacher-forced update; a non-finite loss stops before it can touch the weights."""
    with autocast(device, cfg.bf16):
        logits, _ = model(batch.src, batch.src_mask, batch.tgt_in)
        loss = sequence_loss(logits.float(), batch.tgt_out, PAD, cfg.label_smoothing)
    value = loss.item()
    if not math.isfinite(value):
        raise TrainingDivergedError(
            f"training diverged at step {step}: loss {value}, stopped before the update. "
            f"Cures: lower train.lr (now {cfg.lr:g}), set train.clip_norm (now {cfg.clip_norm:g}) "
            f"or add train.warmup_steps.")
    opt.zero_grad(set_to_none=True)
    loss.backward()
    if cfg.clip_norm > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_norm)
    opt.step()
    sched.step()
    return value


class _sigint_stops:
    """Inside the block Ctrl-C asks for a stop after the current batch; ``stop()`` says whether it was asked."""

    def __enter__(self):
        self.asked, self.old = False, None
        if threading.current_thread() is threading.main_thread():
            self.old = signal.signal(signal.SIGINT, self._ask)
        return lambda: self.asked

    def _ask(self, *_):
        self.asked = True

    def __exit__(self, *exc):
        if self.old is not None:
            signal.signal(signal.SIGINT, self.old)


def _save(run_dir: Path, model, opt, sched, result: MTResult) -> None:
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": ckpt.rng_state(),
             "steps": result.steps, "train_seconds": result.train_seconds, "target_tokens": result.target_tokens,
             "epoch": result.epoch, "batch": result.batch, "history": json.dumps(result.history)}
    ckpt.save_checkpoint(run_dir / CHECKPOINTS, result.steps, _unique_state(model), state)


def _restore(run_dir: Path, model, opt, sched, result: MTResult) -> Path:
    """Continue from the newest intact checkpoint (a damaged newer one is skipped with a warning)."""
    try:
        loaded = ckpt.load_checkpoint(run_dir / CHECKPOINTS, set_aside=True)
    except SeqlabError as err:
        raise SeqlabError(f"cannot resume: {err}") from None
    _load_weights(model, loaded.weights, loaded.path)
    state = loaded.state
    opt.load_state_dict(state["optimizer"])
    sched.load_state_dict(state["scheduler"])
    result.steps, result.train_seconds, result.target_tokens = state["steps"], state["train_seconds"], \
        state["target_tokens"]
    result.epoch, result.batch, result.history = state["epoch"], state["batch"], json.loads(state["history"])
    ckpt.set_rng_state(state["rng"])
    return loaded.path


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


def _load_weights(model, tensors: dict[str, torch.Tensor], where: Path) -> None:
    """Load safetensors weights; a tied weight saved once under its first name is fine."""
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    tied = {name for name in missing if _is_tied(model, name)}
    if set(missing) - tied or unexpected:
        raise SeqlabError(f"{where} does not match the recipe: missing {missing}, unexpected {unexpected}")


def _is_tied(model, name: str) -> bool:
    ptr = model.state_dict()[name].data_ptr()
    return sum(t.data_ptr() == ptr for t in model.state_dict().values()) > 1


def load_translator(run_dir: str | Path, device=None):
    """(model, src_tokenizer, tgt_tokenizer, recipe) from a run folder; weights via safetensors.

    The final ``model.safetensors`` is verified against its manifest; when it is damaged
    or missing (a cut run), the newest intact checkpoint's weights are used, with a
    one-line warning.
    """
    run_dir = Path(run_dir)
    if not (run_dir / RECIPE).is_file():
        raise SeqlabError(f"{run_dir} is not a translation run folder (needs {WEIGHTS} and {RECIPE})")
    saved = read_recipe(run_dir)
    if "data" not in saved:
        raise SeqlabError(f"{run_dir} is not a translation run folder (its recipe has no [data]): "
                          f"use seqlab generate or seqlab evaluate")
    max_positions = saved.pop("max_positions", 1024)
    recipe = mt_recipe_from_dict(saved)
    src_tok, tgt_tok = load_tokenizers(run_dir / "tokenizers")
    model = build_translator(recipe.model, src_tok.vocab_size, tgt_tok.vocab_size, max_positions)
    _load_weights(model, ckpt.load_final_weights(run_dir, run_dir / CHECKPOINTS), run_dir / WEIGHTS)
    device = pick_device(str(device)) if device is not None else pick_device(recipe.train.device)
    return model.to(device).eval(), src_tok, tgt_tok, recipe
