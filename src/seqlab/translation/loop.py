"""A translation run: what it needs before the one trainer takes over, and reading it back.

``train_translator`` takes the run folder's lock, fits the two tokenizers on the training
split (rank 0 under torchrun; the other processes read them back), encodes the corpus,
builds the encoder-decoder and hands a ``TranslationTask`` and the ``DevScores``
callback to ``seqlab.train.Trainer``, which does the rest as for every task: checkpoints,
exact resume, the gradient-norm guard, Ctrl-C, ``metrics.jsonl``, early stopping, DDP.
The run ends with the final weights in ``model.safetensors``. ``load_translator`` reads a
run folder back.
"""

from __future__ import annotations

from pathlib import Path

import torch

from seqlab.errors import SeqlabError
from seqlab.recipe import (
    Recipe, check_same_data, checked_resume, is_translation, recipe_from_dict, resumed_recipe, write_data_record,
)
from seqlab.train import Trainer, TrainResult
from seqlab.train import checkpoint as ckpt
from seqlab.train.device import pick_device, seed_everything
from seqlab.train.distributed import DistInfo, init_distributed
from seqlab.train.manifest import files_under, record_run_files
from seqlab.train.run_folder import RunFolder, read_recipe, write_recipe
from seqlab.build import build_translator
from seqlab.translation.data import encode_split, fit_tokenizers, load_pairs, load_tokenizers
from seqlab.translation.task import DevScores, TranslationTask

WEIGHTS, RECIPE, TOKENIZERS = "model.safetensors", "recipe.json", "tokenizers"


def train_translator(recipe: Recipe, run_dir: str | Path, log=print, resume: bool = False,
                     overwrite: bool = False) -> TrainResult:
    """Fit the recipe's model on its corpus in ``run_dir``; return the trainer's result.

    A folder that already holds a run needs ``resume`` (continue from the newest intact
    checkpoint; the recipe may change only what ``resumed_recipe`` allows) or ``overwrite``.
    A resumed run with nothing left to train returns ``stopped == "finished"``.
    """
    run_dir, cfg = Path(run_dir), recipe.train
    info = init_distributed(pick_device(cfg.device))
    corpus = load_pairs(recipe.task)  # read and checked before anything is written
    if resume:
        check_same_data(run_dir, recipe.task, "--resume continues a run on the data it began with")
    folder = RunFolder.open(run_dir, resume=resume, overwrite=overwrite) if info.is_main else None
    try:
        has_json = resume and (run_dir / RECIPE).is_file()
        changes = resumed_recipe(_saved(run_dir), recipe)[1] if has_json else []
        src_tok, tgt_tok = _tokenizers(corpus, recipe, run_dir / TOKENIZERS, resume, info)
        task, longest = _task(corpus, recipe, src_tok, tgt_tok)
        build = lambda: build_translator(recipe.model, src_tok.vocab_size, tgt_tok.vocab_size, longest)  # noqa: E731
        _check_memory(recipe, build, tgt_tok.vocab_size, task)
        seed_everything(cfg.seed, cfg.deterministic)  # before the model draws its weights
        model = build()
        callbacks = [DevScores(corpus, src_tok, tgt_tok, recipe.task), _EvalLine(log if info.is_main else None)]
        trainer = Trainer(model, task, cfg, run_dir, callbacks, resume=resume, folder=folder, recipe=recipe.to_dict())
    except BaseException:
        if folder is not None:
            folder.close()
        raise
    if resume:
        changes = checked_resume(trainer, recipe, has_json, changes)
    if info.is_main:
        write_recipe(run_dir, {**recipe.to_dict(), "max_positions": longest})
        write_data_record(run_dir, recipe.task)
        log(f"{recipe.model.arch}: {sum(p.numel() for p in model.parameters()):,} parameters, "
            f"{len(task.train.src)} training pairs, device {trainer.device}, {info.describe()}; run folder {run_dir}"
            + (f"; resumed at step {trainer.step} from {trainer.last_checkpoint}" if resume else "")
            + (f"; changed: {', '.join(changes)}" if changes else ""))
    return trainer.fit()


def _check_memory(recipe: Recipe, build, tgt_vocab: int, task: TranslationTask) -> None:
    """Refuse, before building it, an encoder-decoder and token budget that cannot fit: a batch
    holds up to ``max_tokens`` padded tokens a side, and no more than the training split has
    (``seqlab.train.memory``)."""
    from seqlab.train.memory import check_fits, count_parameters, footprint, optimizer_slots

    corpus_tokens = sum(map(len, task.train.src)) + sum(map(len, task.train.tgt))
    cfg, tokens = recipe.train, min(recipe.task.max_tokens, corpus_tokens)
    need = footprint(count_parameters(build), optimizer_slots(cfg.optimizer, cfg.momentum), 1, tokens, tokens,
                     26, recipe.model.hidden, 2 * recipe.model.layers, tgt_vocab)  # 3 id tensors + 2 masks a token
    check_fits(need, pick_device(cfg.device), "model.hidden, model.layers, model.ff or task.max_tokens")


def _saved(run_dir: Path) -> dict:
    saved = read_recipe(run_dir)
    saved.pop("max_positions", None)
    return saved


def _tokenizers(corpus, recipe: Recipe, directory: Path, resume: bool, info: DistInfo):
    """Fitted by rank 0 on a new run (the others wait, then read them); read back on a resumed one."""
    if not resume and info.is_main:
        tokenizers = _fit_tokenizers(corpus, recipe, directory)
    if info.active:
        torch.distributed.barrier()
    if resume or not info.is_main:
        tokenizers = load_tokenizers(directory)
    return tokenizers


def _fit_tokenizers(corpus, recipe: Recipe, directory: Path):
    """``fit_tokenizers``, with SentencePiece's refusals (a vocabulary the corpus cannot fill
    or that is too small for its characters) as one line naming the recipe's keys."""
    try:
        tokenizers = fit_tokenizers(corpus, recipe.task, directory)
        record_run_files(directory.parent, files_under(directory.parent, directory))
        return tokenizers
    except (RuntimeError, ValueError, SeqlabError) as err:
        data = recipe.task
        raise SeqlabError(f"cannot fit the {data.tokenizer} tokenizers with task.src_vocab = {data.src_vocab} and "
                          f"task.tgt_vocab = {data.tgt_vocab} on {data.corpus}: "
                          f"{' '.join(str(err).split()) or type(err).__name__}") from None


def _task(corpus, recipe: Recipe, src_tok, tgt_tok) -> tuple[TranslationTask, int]:
    """The task over the encoded splits, and the positions the model must hold (room for long outputs)."""
    train = encode_split(corpus, "train", src_tok, tgt_tok, recipe.task.max_len)
    if not train.src:
        raise SeqlabError(f"no training pairs within task.max_len={recipe.task.max_len} tokens")
    dev = encode_split(corpus, "dev", src_tok, tgt_tok)
    if not dev.src:  # the dev loss and BLEU need pairs (a numbers corpus of a few one-digit numbers has none)
        raise SeqlabError(f"the {corpus.name} corpus has no dev pairs to evaluate on ({len(train.src)} training "
                          f"pairs); make it larger (numbers: task.numbers_size, task.numbers_max_digits)")
    longest = max(max(map(len, train.src)), max(map(len, train.tgt))) * 4 + 16
    return TranslationTask(recipe.task, train, dev, recipe.train.seed), longest


class _EvalLine:
    """Callback: one line per evaluation (rank 0 only)."""

    def __init__(self, log) -> None:
        self.log = log

    def on_eval(self, trainer, step: int, record: dict) -> None:
        if self.log is None:
            return
        rate = trainer.targets / trainer.train_seconds if trainer.train_seconds else 0.0
        bleu, chrf = record.get("dev_bleu", float("nan")), record.get("dev_chrf", float("nan"))
        self.log(f"step {step:>6}  {record['minutes']:6.1f} min  dev loss {record['loss']:.3f}  "
                 f"dev BLEU {bleu:5.2f}  chrF {chrf:5.2f}  {rate:,.0f} tgt tok/s")


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
    if not is_translation(saved):
        raise SeqlabError(f"{run_dir} is not a translation run folder (its recipe trains a task): "
                          f"use seqlab generate or seqlab evaluate")
    max_positions = saved.pop("max_positions", 1024)
    recipe = recipe_from_dict(saved)
    src_tok, tgt_tok = load_tokenizers(run_dir / TOKENIZERS)
    model = build_translator(recipe.model, src_tok.vocab_size, tgt_tok.vocab_size, max_positions)
    ckpt_dir = run_dir / "checkpoints" if (run_dir / "checkpoints").is_dir() else run_dir  # older runs: a subfolder
    ckpt.load_model_weights(model, ckpt.load_final_weights(run_dir, ckpt_dir), run_dir / WEIGHTS)
    device = pick_device(str(device)) if device is not None else pick_device(recipe.train.device)
    return model.to(device).eval(), src_tok, tgt_tok, recipe
