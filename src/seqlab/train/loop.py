"""One trainer for every model and task.

A *task* (``seqlab.train.task.Task`` documents it with its shapes) is anything with
``sample(batch_size, generator) -> SeqBatch`` (or
``batch_at(step, batch_size)`` for streams and epochs of batches), ``loss_kind``
("mse" or "ce") and optionally ``eval_batches(batch_size)`` (a fixed validation set),
``stateful`` (carry the hidden state from one batch to the next, as a language-model
stream needs) and ``loss(model, batch) -> (loss, metrics)``, the task's own loss
(translation: label-smoothed cross-entropy of an encoder-decoder). Without ``loss`` the
model follows ``model(x, state) -> (out (B, T, O), state)`` and is scored by
``masked_loss``. A batch has ``to(device)`` and ``shard(rank, world)`` (its share under DDP).

Batches are drawn from a generator seeded by (seed, step), or asked for by step, so a
resumed run sees exactly the batches the uninterrupted run would have seen.

Callbacks may have ``on_step(trainer, step, metrics)``, ``on_eval(trainer, step,
record)`` and ``evaluate(trainer) -> dict``: extra scores (dev BLEU) computed on rank 0
and added to every evaluation record. The task's ``watch = (key, higher_is_better)``
names the score that early stopping follows (default: the evaluation loss).

Precision and speed: ``train.bf16`` (true, or "auto": on CUDA, see ``device.bf16_enabled``)
runs the forward passes of training and evaluation under bf16 autocast; ``train.compile``
trains through ``torch.compile``; evaluations and checkpoints use the uncompiled ``raw_model``.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

from seqlab.data.batch import SeqBatch
from seqlab.errors import SeqlabError, TrainingDivergedError
from seqlab.train import checkpoint as ckpt
from seqlab.train.config import TrainConfig, TrainResult
from seqlab.train.device import autocast, bf16_enabled, compile_model, pick_device, seed_everything
from seqlab.train.distributed import (
    DistInfo, all_reduce_weighted_mean, from_rank_zero, init_distributed, rank_zero_says, wrap_model,
)
from seqlab.train.losses import masked_loss, merge_metrics
from seqlab.train.metrics_log import MetricsLog
from seqlab.train.monitor import clip_gradients, gradient_health
from seqlab.train.optim import make_optimizer, make_scheduler
from seqlab.train.run_folder import RunFolder
from seqlab.train.signals import stop_on_signals
from seqlab.train.state import restore_trainer, trainer_state
from seqlab.train.tbptt import detach_state, tbptt_windows

EVAL_SEED = 1_000_000_007  # validation batches come from their own seeded stream


class Trainer:
    """Trains ``model`` on ``task`` as ``cfg`` says; see the module docstring."""

    def __init__(self, model: torch.nn.Module, task, cfg: TrainConfig, run_dir: str | Path | None = None,
                 callbacks=(), resume: bool = False, overwrite: bool = False, folder: RunFolder | None = None,
                 recipe: dict | None = None) -> None:
        """With ``run_dir``, the run takes the folder's lock until ``fit`` returns (or ``close``);
        a folder that already holds a run needs ``resume`` (continue from its newest intact
        checkpoint) or ``overwrite`` (delete its run files first). A caller that had to write
        in the folder before (translation's tokenizers) passes the ``folder`` it holds.

        ``recipe``: the settings of the run as plain data, stored in every checkpoint; a resumed
        trainer holds its checkpoint's in ``checkpoint_recipe``, so a caller can check what a
        resume changes against what the checkpoint was trained with (recipe.json may be gone)."""
        self.cfg, self.task, self.callbacks = cfg, task, list(callbacks)
        self.recipe_text = json.dumps(recipe) if recipe is not None else None
        self.checkpoint_recipe: dict | None = None
        self.stop_reason: str | None = None
        self.device = pick_device(cfg.device)
        self.dist: DistInfo = init_distributed(self.device)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.folder = folder
        if self.run_dir is not None and self.dist.is_main and folder is None:
            self.folder = RunFolder.open(self.run_dir, resume=resume, overwrite=overwrite)
        self.log = None
        try:
            seed_everything(cfg.seed, cfg.deterministic)
            self.raw_model = model.to(self.device)
            self.bf16 = bf16_enabled(self.device, cfg.bf16, self.raw_model)  # "auto" resolved once
            self.model = wrap_model(self.raw_model, self.dist, self.device)  # trains; raw_model is saved
            if cfg.compile:  # the compiled wrapper shares raw_model's parameters
                self.model = compile_model(self.model)
            self.opt = make_optimizer(self.raw_model.parameters(), cfg)
            self.sched = make_scheduler(self.opt, cfg)
            self.step = self.updates = 0
            self.carry = None  # hidden state carried between batches of a stateful task
            self.best, self.bad_evals = math.inf, 0
            self.history: list[dict] = []
            self.elapsed = self.train_seconds = 0.0  # wall-clock seconds of fit (over resumes); in batches
            self.targets = 0
            self.last_grad_norm = float("nan")
            self.last_checkpoint: Path | None = None
            self._stop_requested = False
            if resume:
                self._restore()
            self.log = MetricsLog(self.run_dir if self.dist.is_main else None,
                                  resumed_at=self.step if resume else None)
        except BaseException:
            self.close(quiet=True)
            raise

    def close(self, quiet: bool = False) -> None:
        """Close the metrics log and release the run folder (``fit`` does this when it returns).
        ``quiet``: on the way out of an error, a failure to flush the log (a full disk) is not
        raised over it."""
        try:
            if self.log is not None:
                self.log.close()
        except OSError:
            if not quiet:
                raise
        finally:
            if self.folder is not None:
                self.folder.close()
                self.folder = None

    # ----------------------------------------------------------------- batches
    def _batch(self, step: int) -> SeqBatch:
        if hasattr(self.task, "batch_at"):
            batch = self.task.batch_at(step, self.cfg.batch_size)
        else:
            g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + step)
            batch = self.task.sample(self.cfg.batch_size, g)
        if self.dist.active:
            batch = batch.shard(self.dist.rank, self.dist.world)
        return batch.to(self.device)

    def _loss(self, model, batch, state=None):
        """(loss, metrics, state): the task's ``loss(model, batch)`` if it has one, else the
        masked loss of ``model(x, state)``."""
        if hasattr(self.task, "loss"):
            with autocast(self.device, self.bf16):
                loss, metrics = self.task.loss(model, batch)
            return loss, metrics, None
        out, state = self._forward(model, batch.x, state, batch.lengths)
        return (*self._masked(out, batch), state)

    def _masked(self, out: torch.Tensor, batch: SeqBatch):
        return masked_loss(out.float(), batch, self.task.loss_kind)

    def _forward(self, model, x, state, lengths=None):
        with autocast(self.device, self.bf16):
            if lengths is None:
                return model(x, state)
            return model(x, state, lengths=lengths)

    # ----------------------------------------------------------------- training
    def train_batch(self) -> dict:
        """One batch: one update (full BPTT) or ceil(T / k1) updates (truncated)."""
        batch = self._batch(self.step)
        self.model.train()
        state = self.carry if getattr(self.task, "stateful", False) else None
        parts = []
        if self.cfg.tbptt is None:
            loss, metrics, state = self._loss(self.model, batch, state)
            self._update(loss)
            parts.append(metrics)
        else:
            k1, k2 = self.cfg.tbptt
            model = lambda x, h: self._forward(self.model, x, h)  # noqa: E731
            for loss, metrics, state in tbptt_windows(model, batch, k1, k2, self._masked, state):
                self._update(loss)
                parts.append(metrics)
        self.carry = detach_state(state) if getattr(self.task, "stateful", False) else None
        if self.cfg.schedule != "plateau":
            self.sched.step()
        return merge_metrics(parts)

    def _update(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        health = gradient_health(self.raw_model, self.cfg.monitor_low, self.cfg.monitor_high)
        if not (math.isfinite(loss.item()) and health.finite):
            self._diverged(loss.item(), health.total_norm)
        self.last_grad_norm = health.total_norm
        self._health = health
        clip_gradients(self.raw_model.parameters(), self.cfg.clip_norm, self.cfg.clip_value, self.cfg.clip_above,
                       health.total_norm)
        self.opt.step()
        self.updates += 1

    def _diverged(self, loss: float, norm: float) -> None:
        lr = self.opt.param_groups[0]["lr"]
        clip = "lower clip_norm" if self.cfg.clip_norm else "clip gradients (clip_norm = 1.0)"
        before = (f"the update before had gradient norm {self.last_grad_norm:.4g}" if math.isfinite(self.last_grad_norm)
                  else "it was the first update of the run")
        raise TrainingDivergedError(
            f"training diverged at step {self.step + 1} (update {self.updates + 1}): loss {loss}, "
            f"gradient norm {norm}; {before}. "
            f"Cures: {clip}, or lower the learning rate (lr = {lr:g} now).{ckpt.checkpoint_note(self.run_dir)}"
        )

    # ----------------------------------------------------------------- evaluation
    @torch.no_grad()
    def evaluate(self, num_batches: int | None = None, batches=None) -> dict:
        """Mean metrics over the fixed validation batches (full batches, no sharding), or
        over ``batches`` (another split, as ``seqlab evaluate`` asks for)."""
        self.raw_model.eval()
        parts, state = [], None
        for batch in batches if batches is not None else self._eval_batches(num_batches or self.cfg.eval_batches):
            _, metrics, state = self._loss(self.raw_model, batch.to(self.device), state)
            parts.append(metrics)
            if not getattr(self.task, "stateful", False):
                state = None
        return merge_metrics(parts)

    def _eval_batches(self, n: int):
        if hasattr(self.task, "eval_batches"):
            yield from self.task.eval_batches(self.cfg.batch_size)
            return
        for i in range(n):
            yield self.task.sample(self.cfg.batch_size, torch.Generator().manual_seed(EVAL_SEED + i))

    # ----------------------------------------------------------------- the loop
    def request_stop(self, reason: str = "request") -> None:
        """Finish the current batch, write a checkpoint, and return (Ctrl-C and SIGTERM call this
        with the signal's name)."""
        self._stop_requested = True
        self.stop_reason = reason

    @property
    def finished(self) -> bool:
        """Whether the budget is spent already (a resumed run that has nothing left to train)."""
        cfg = self.cfg
        return (cfg.steps is not None and self.step >= cfg.steps) or self._out_of_time()

    def _out_of_time(self) -> bool:
        return self.cfg.max_minutes is not None and self.elapsed > 60 * self.cfg.max_minutes

    def fit(self) -> TrainResult:
        """Train to ``cfg.steps`` or ``cfg.max_minutes`` (or an earlier stop); with a run
        folder, end on a checkpoint and the final weights (``model.safetensors``), and
        release the folder. A resumed run whose budget is spent trains nothing and ends
        "finished" (writing the final weights if it was cut before them)."""
        try:
            if self.finished:
                self._final_weights(only_if_missing=True)
                final = self.history[-1] if self.history else {}
                result = TrainResult(self.step, self.updates, self.elapsed, final, "finished", self.history,
                                     self.run_dir, self.train_seconds, self.targets)
            else:
                result = self._fit()
                if result.stopped != "interrupted":  # an interrupt has saved already, and is no end
                    self.save()
                    self._final_weights()
        except BaseException:
            self.close(quiet=True)
            raise
        self.close()
        return result

    def _final_weights(self, only_if_missing: bool = False) -> None:
        if self.run_dir is None or not self.dist.is_main:
            return
        if not (only_if_missing and (self.run_dir / ckpt.WEIGHTS).is_file()):
            ckpt.save_weights(self.raw_model.state_dict(), self.run_dir, step=self.step)

    def _fit(self) -> TrainResult:
        cfg, stopped = self.cfg, "completed"
        start = time.perf_counter() - self.elapsed  # the clock goes on from where a resumed run stopped
        self._next_eval = self._timed_eval_after(self.elapsed)
        with stop_on_signals(self.request_stop), self._progress() as bar:
            while cfg.steps is None or self.step < cfg.steps:
                tic = time.perf_counter()
                metrics = self.train_batch()
                self.train_seconds += time.perf_counter() - tic
                self.targets += int(metrics.get("targets", metrics.get("count", 0)))
                self.step += 1
                self.elapsed = time.perf_counter() - start
                bar.update(1)
                bar.set_postfix(loss=f"{metrics['loss']:.4g}", refresh=False)
                self._after_step(metrics)
                evaluate, stop, out_of_time = rank_zero_says(
                    (self._eval_due(), self._stop_requested, self._out_of_time()), self.dist, self.device)
                if evaluate:
                    stopped = self._after_eval() or stopped
                if stop:
                    stopped = "interrupted"
                elif out_of_time and stopped == "completed":
                    stopped = "time_limit"
                timed = evaluate and cfg.eval_every_minutes is not None  # a timed evaluation checkpoints too
                if stop or timed or (cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0):
                    self.save()
                if stopped != "completed":
                    break
        final = self._final_record(stopped)
        self.log.close()
        return TrainResult(self.step, self.updates, self.elapsed, final, stopped, self.history, self.run_dir,
                           self.train_seconds, self.targets, self.stop_reason if stopped == "interrupted" else None)

    def _final_record(self, stopped: str) -> dict:
        """The evaluation at the last step, made now if there is none (Ctrl-C waits for none)."""
        if self.history and (self.history[-1]["step"] == self.step or stopped == "interrupted"):
            return self.history[-1]
        return {} if stopped == "interrupted" else self._eval_record()

    def _eval_due(self) -> bool:
        """Every ``eval_every`` steps, or every ``eval_every_minutes``; always after the last step."""
        if self.step == self.cfg.steps:
            return True
        if self.cfg.eval_every_minutes is None:
            return self.step % self.cfg.eval_every == 0
        if self.elapsed < self._next_eval:
            return False
        self._next_eval = self._timed_eval_after(self.elapsed)
        return True

    def _timed_eval_after(self, seconds: float) -> float:
        """The next multiple of ``eval_every_minutes`` after ``seconds`` (inf when not timed)."""
        if self.cfg.eval_every_minutes is None:
            return math.inf
        every = max(60 * self.cfg.eval_every_minutes, 1.0)
        return (math.floor(seconds / every) + 1) * every

    def _after_step(self, metrics: dict) -> None:
        if self.step % self.cfg.log_every == 0 or self.step == 1:  # the same steps on every rank
            record = {"step": self.step, "split": "train", "lr": self.opt.param_groups[0]["lr"], **metrics}
            # each rank's loss is its share's; the log keeps the global batch's (count-weighted over ranks)
            record["loss"] = all_reduce_weighted_mean(metrics["loss"], metrics.get("count", 1) or 0,
                                                      self.dist, self.device)
            record.update(self._health.as_log())
            self.log.write(record)
        for cb in self.callbacks:
            if hasattr(cb, "on_step"):
                cb.on_step(self, self.step, metrics)

    def _eval_record(self) -> dict:
        """The evaluation loss, the callbacks' scores (rank 0's, on every rank) and the clock."""
        record = {"step": self.step, "split": "eval", **self.evaluate()}
        scores = {}
        if self.dist.is_main:
            for cb in self.callbacks:
                if hasattr(cb, "evaluate"):
                    scores.update(cb.evaluate(self))
        record.update(from_rank_zero(scores, self.dist))
        record["minutes"] = self.elapsed / 60
        self.history.append(record)
        self.log.write(record)
        return record

    def _after_eval(self) -> str | None:
        record = self._eval_record()
        for cb in self.callbacks:
            if hasattr(cb, "on_eval"):
                cb.on_eval(self, self.step, record)
        loss = record["loss"]
        if self.cfg.schedule == "plateau":
            self.sched.step(loss)
        if self.cfg.target_loss is not None and loss <= self.cfg.target_loss:
            return "target_reached"
        key, higher = getattr(self.task, "watch", ("loss", False))
        if key not in record:  # the callback that scores it is not there
            key, higher = "loss", False
        value = -record[key] if higher else record[key]  # smaller is better from here
        if value < self.best - 1e-12:
            self.best, self.bad_evals = value, 0
        else:
            self.bad_evals += 1
            if self.cfg.early_stop_patience and self.bad_evals >= self.cfg.early_stop_patience:
                return "early_stop"
        return None

    def _progress(self):
        from tqdm.auto import tqdm

        disable = not (self.cfg.progress and self.dist.is_main)
        return tqdm(total=self.cfg.steps, initial=self.step, disable=disable, unit="batch", leave=False)

    # ----------------------------------------------------------------- checkpoints
    def save(self) -> Path | None:
        """Write a checkpoint (rank 0 only; no-op without a run folder)."""
        if self.run_dir is None or not self.dist.is_main:
            return None
        self.last_checkpoint = ckpt.save_checkpoint(self.run_dir, self.step, self.raw_model.state_dict(),
                                                    trainer_state(self))
        return self.last_checkpoint

    def _restore(self) -> None:
        """Continue from the newest intact checkpoint (a damaged newer one is skipped with a warning)."""
        if self.run_dir is None:
            raise SeqlabError("nothing to resume: the trainer has no run folder")
        try:
            loaded = ckpt.load_checkpoint(self.run_dir, on_warning=ckpt.warn if self.dist.is_main else None,
                                          set_aside=self.dist.is_main)
        except SeqlabError as err:
            raise SeqlabError(f"cannot resume: {err}") from None
        ckpt.load_model_weights(self.raw_model, loaded.weights, loaded.path)
        self.last_checkpoint = loaded.path
        restore_trainer(self, loaded.state)
        if self.cfg.steps is not None and self.cfg.steps < self.step:
            raise SeqlabError(f"train.steps = {self.cfg.steps} is below step {self.step}, where {loaded.path} "
                              f"stands: a resumed run cannot have trained fewer steps than it has; "
                              f"give train.steps >= {self.step}")
